//! The adaptive policy: window TinyLFU on CLOCK queues, so that a hit only
//! bumps a per-slot counter.
//!
//! **Layout.** Each slot has one byte in [`Marks`], which the shard keeps
//! beside its slab so that readers holding the shard lock shared can reach
//! it: bits 0-3 count hits not yet seen by the policy (saturating at 15),
//! bits 4-5 are the slot's CLOCK level (0 to 3), bits 6-7 its segment
//! (vacant, window or main). A hit loads the byte and, below 15 pending
//! hits, stores it plus one: no list is relinked, nothing else is written,
//! and a key hit 15 times since the policy last looked writes nothing at
//! all. Concurrent hits on one slot may lose an increment (lossy, like the
//! other policies' read buffers); inserts and removals never are.
//!
//! **Segments.** Every new entry enters the **window**, a FIFO of slots (a
//! ring; a slot removed from its middle leaves a stale occurrence there,
//! counted per slot and skipped when it reaches the front, since it is
//! older than any live occurrence of a reused slot; the ring is compacted
//! when they pile up). **Main** is a
//! CLOCK over the slot indices themselves: a hand sweeps the marks; a main
//! slot with pending hits has them added to the frequency sketch and its
//! level raised by as many (at most 3); a slot with a level above 0 loses
//! one and is passed over; the first with level 0 and no pending hits is
//! main's victim. So an entry survives a sweep for each of its last hits,
//! up to three (S3-FIFO's main queue), with no list at all: the policy
//! costs a byte per slot, the sketch and the ghosts.
//!
//! **Admission.** When the cache is over budget and the window holds more
//! than its share, the window's oldest entry (the *candidate*) competes
//! with main's victim: a count-min sketch of 4-bit counters (16 per entry
//! of capacity, Caffeine's density, aged by halving every `20 × capacity`
//! counted requests) estimates how often each was requested lately, and
//! the candidate takes the victim's place only if its estimate, less the
//! request that brought it in, beats the victim's; otherwise the candidate
//! goes. Scans and one-off keys thus never displace the working set, and a
//! loop larger than the cache keeps a stable subset. A warm losing
//! candidate is still admitted once in 1024 times, so hash collisions
//! cannot pin a victim. The bar is lowered as the window grows (below):
//! a large window means the workload rewards recency, where a victim's
//! lead in the sketch is mostly stale history (a hot set that slid on),
//! so up to 6 counts of it are forgiven at the window's largest share.
//!
//! **Adaptation.** The window's share (0 to 80% of the capacity) follows
//! two ghost lists of about 5% of the capacity each, as in ARC: the hashes
//! of the last candidates the window lost and of the last victims main
//! lost. A miss on a window ghost means a larger window would have hit,
//! and moves one entry of capacity to the window; a miss on a main ghost
//! moves one back. Recency-heavy workloads grow the window and relax
//! admission; frequency-heavy ones and loops shrink it towards a strictly
//! admission-filtered CLOCK.
//!
//! **Cost.** Every operation is O(1) amortised: a sweep step is paid for
//! by the hit that raised a level, or by the insert that put a window or
//! vacant slot in its way. Hits are counted in the sketch when the policy
//! looks at the slot (a sweep, the window's exit, a removal), reading the
//! key's hash from the shard's entry.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use super::tinylfu::{Ghost, Sketch, ghost_len, key_hash};
use crate::sync::AtomicU8;

const PENDING: u8 = 0x0f;
const LEVEL_SHIFT: u8 = 4;
const LEVEL: u8 = 0x30;
const MAX_LEVEL: u8 = 3;
const SEG: u8 = 0xc0;
const VACANT: u8 = 0;
const WINDOW: u8 = 0x40;
const MAIN: u8 = 0x80;

/// The largest share of the capacity the window may take.
const MAX_WINDOW: f64 = 0.8;
/// The window's share when the cache first fills.
const INITIAL_WINDOW: f64 = 0.01;
/// Below this capacity the window always keeps one entry.
const WINDOW_FLOOR_BELOW: usize = 128;
/// Sketch half-words (8 counters each) per entry of capacity.
const SKETCH_HALF_WORDS: usize = 2;
/// The sketch is allocated for at most this many entries up front.
const INITIAL_SKETCH: usize = 1 << 12;
/// How many counts of the victim's lead a candidate is forgiven when the
/// window has grown to its largest share (proportionally less below).
const MAX_LENIENCY: u8 = 6;
/// A losing candidate at least this warm is admitted once in 1024 times.
const WARM: u8 = 6;

/// One byte per slot: pending hits, CLOCK level and segment (see the
/// module documentation). Kept by the shard, written by readers under its
/// shared lock and by the policy under its exclusive one.
#[derive(Default)]
pub(crate) struct Marks {
    cells: Vec<AtomicU8>,
}

impl Marks {
    /// Counts a hit on a live slot (shared lock): a load, and a store
    /// unless 15 hits are already pending.
    #[inline]
    pub(crate) fn hit(&self, idx: u32) {
        let cell = &self.cells[idx as usize];
        let v = cell.load(Ordering::Relaxed);
        if v & PENDING != PENDING {
            cell.store(v + 1, Ordering::Relaxed);
        }
    }

    #[inline]
    fn get(&mut self, idx: u32) -> u8 {
        *self.cells[idx as usize].get_mut()
    }

    #[inline]
    fn set(&mut self, idx: u32, v: u8) {
        *self.cells[idx as usize].get_mut() = v;
    }

    fn ensure(&mut self, idx: u32) {
        let need = idx as usize + 1;
        if self.cells.len() < need {
            self.cells.resize_with(need, || AtomicU8::new(VACANT));
        }
    }

    fn len(&self) -> usize {
        self.cells.len()
    }

    /// The byte of a slot, for readers of `&self` (tests and snapshots).
    fn peek(&self, idx: u32) -> u8 {
        self.cells[idx as usize].load(Ordering::Relaxed)
    }
}

/// The adaptive policy: see the module documentation.
pub(crate) struct Adaptive {
    /// Window slots, oldest first, stale occurrences included.
    window: VecDeque<u32>,
    /// How many stale occurrences of each slot the ring holds (they are
    /// in front of the slot's live one, if it has one).
    stale: std::collections::HashMap<u32, u32>,
    /// The window slot [`Self::victim`] just took off the ring, which the
    /// shard removes next.
    popped: Option<u32>,
    window_len: usize,
    main_len: usize,
    /// The main CLOCK's hand: the next slot index it looks at.
    hand: usize,
    sketch: Sketch,
    max_items: Option<usize>,
    /// The capacity the window's share is computed from.
    cap: usize,
    /// Whether an eviction has happened (the cache has filled once).
    full: bool,
    window_share: f64,
    window_max: usize,
    /// The hash of the last miss recorded, so the insert that follows it
    /// is not counted twice.
    pending_miss: Option<u32>,
    window_ghost: Ghost,
    main_ghost: Ghost,
    rng: fastrand::Rng,
    /// Tests freeze the window's share, so a model need not follow it.
    #[cfg(test)]
    frozen: bool,
}

/// The policy's form of a key's hash: as the shard's entry keeps it.
#[inline]
fn policy_hash(hash: u64) -> u32 {
    key_hash(hash | 1)
}

impl Adaptive {
    pub(crate) fn new(max_items: Option<usize>, seed: u64) -> Self {
        let cap = max_items.unwrap_or(0);
        let mut p = Self {
            window: VecDeque::new(),
            stale: std::collections::HashMap::new(),
            popped: None,
            window_len: 0,
            main_len: 0,
            hand: 0,
            sketch: Sketch::with_words(cap.clamp(16, INITIAL_SKETCH), SKETCH_HALF_WORDS),
            max_items,
            cap,
            full: false,
            window_share: INITIAL_WINDOW,
            window_max: 0,
            pending_miss: None,
            window_ghost: Ghost::new(1),
            main_ghost: Ghost::new(1),
            rng: fastrand::Rng::with_seed(seed),
            #[cfg(test)]
            frozen: false,
        };
        p.resize();
        p
    }

    fn len(&self) -> usize {
        self.window_len + self.main_len
    }

    fn resize(&mut self) {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let w = (self.cap as f64 * self.window_share).round() as usize;
        self.window_max = w.max(usize::from(self.cap < WINDOW_FLOOR_BELOW));
    }

    /// The window's oldest live slot, dropping stale occurrences before it.
    fn window_head(&mut self, marks: &mut Marks) -> Option<u32> {
        while let Some(&s) = self.window.front() {
            if self.stale.is_empty() || !self.drop_stale(s) {
                debug_assert_eq!(marks.get(s) & SEG, WINDOW);
                return Some(s);
            }
            self.window.pop_front();
        }
        None
    }

    /// Whether the front-most remaining occurrence of `s` is stale (then
    /// counted off).
    fn drop_stale(&mut self, s: u32) -> bool {
        match self.stale.get_mut(&s) {
            Some(n) if *n > 1 => {
                *n -= 1;
                true
            }
            Some(_) => {
                self.stale.remove(&s);
                true
            }
            None => false,
        }
    }

    /// Moves window slots to main while the window is over its share.
    fn rebalance(&mut self, marks: &mut Marks, hash_of: &impl Fn(u32) -> u64) {
        while self.window_len > self.window_max {
            let Some(s) = self.window_head(marks) else {
                break;
            };
            self.window.pop_front();
            self.promote(marks, s, hash_of);
        }
    }

    /// A window slot joins main, its window hits counted.
    fn promote(&mut self, marks: &mut Marks, s: u32, hash_of: &impl Fn(u32) -> u64) {
        let v = marks.get(s);
        let pending = v & PENDING;
        if pending > 0 {
            self.sketch.add(policy_hash(hash_of(s)), u32::from(pending));
        }
        // One sweep's grace: the hand may be just before it.
        marks.set(s, MAIN | (1 << LEVEL_SHIFT));
        self.window_len -= 1;
        self.main_len += 1;
    }

    /// Drops stale occurrences from the window ring once they outnumber
    /// the live ones (amortised O(1) per insert).
    fn compact(&mut self) {
        if self.window.len() <= 2 * self.window_len + 64 {
            return;
        }
        let mut ring = std::mem::take(&mut self.window);
        ring.retain(|&s| !self.drop_stale(s));
        debug_assert!(self.stale.is_empty());
        debug_assert_eq!(ring.len(), self.window_len);
        self.window = ring;
    }

    /// Main's next victim: sweeps the hand, counting pending hits into the
    /// sketch and levels, until a main slot with level 0 and no pending
    /// hits. The hand stays on it, so a victim that survives (its
    /// candidate lost) is the next one offered. Main must not be empty.
    fn main_victim(&mut self, marks: &mut Marks, hash_of: &impl Fn(u32) -> u64) -> u32 {
        debug_assert!(self.main_len > 0);
        let n = marks.len();
        loop {
            if self.hand >= n {
                self.hand = 0;
            }
            #[allow(clippy::cast_possible_truncation)]
            let s = self.hand as u32;
            let v = marks.get(s);
            if v & SEG == MAIN {
                let pending = v & PENDING;
                let mut level = (v & LEVEL) >> LEVEL_SHIFT;
                if pending > 0 {
                    self.sketch.add(policy_hash(hash_of(s)), u32::from(pending));
                    level = (level + pending).min(MAX_LEVEL + 1);
                }
                if level == 0 {
                    return s;
                }
                marks.set(s, MAIN | ((level - 1) << LEVEL_SHIFT));
            }
            self.hand += 1;
        }
    }

    /// Whether `candidate` should take `victim`'s place in main.
    fn admit(&mut self, candidate: u32, victim: u32, hash_of: &impl Fn(u32) -> u64) -> bool {
        let c = self.sketch.frequency(policy_hash(hash_of(candidate)));
        let v = self.sketch.frequency(policy_hash(hash_of(victim)));
        // The larger the window has grown, the more the workload rewards
        // recency, and the less a newcomer must prove: up to
        // `MAX_LENIENCY` counts of the victim's (perhaps stale) lead are
        // forgiven.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let leniency = (self.window_share / MAX_WINDOW * f64::from(MAX_LENIENCY)) as u8;
        c.saturating_add(leniency) > v.saturating_add(1)
            || (c >= WARM && self.rng.u16(..) & 1023 == 0)
    }

    /// Notes that the cache is full at `cap` entries: the first time, and
    /// whenever that drifts (a byte budget, or no item bound).
    fn observe_capacity(&mut self, cap: usize) {
        let was_full = std::mem::replace(&mut self.full, true);
        if was_full && cap.abs_diff(self.cap) <= self.cap / 32 {
            return;
        }
        self.cap = cap;
        if self.cap > self.sketch.entries {
            self.sketch = Sketch::with_words(self.cap, SKETCH_HALF_WORDS);
        }
        let g = ghost_len(self.cap);
        if !was_full || g.abs_diff(self.window_ghost.capacity()) > g / 4 {
            self.window_ghost = Ghost::new(g);
            self.main_ghost = Ghost::new(g);
        }
        self.resize();
    }

    /// Moves one entry of capacity to (`grow`) or from the window.
    #[allow(clippy::cast_precision_loss)]
    fn nudge(&mut self, grow: bool) {
        let step = 1.0 / self.cap.max(1) as f64;
        let share = if grow {
            self.window_share + step
        } else {
            self.window_share - step
        }
        .clamp(0.0, MAX_WINDOW);
        if share != self.window_share {
            self.window_share = share;
            self.resize();
        }
    }

    fn on_miss(&mut self, h: u32) {
        self.sketch.increment(h);
        #[cfg(test)]
        if self.frozen {
            return;
        }
        if self.full {
            if self.window_ghost.contains(h) {
                self.nudge(true);
            } else if self.main_ghost.contains(h) {
                self.nudge(false);
            }
        }
    }

    pub(crate) fn record_miss(&mut self, hash: u64) {
        let h = policy_hash(hash);
        self.pending_miss = Some(h);
        self.on_miss(h);
    }

    pub(crate) fn on_insert(
        &mut self,
        marks: &mut Marks,
        idx: u32,
        hash: u64,
        hash_of: &impl Fn(u32) -> u64,
    ) {
        let h = policy_hash(hash);
        if self.pending_miss == Some(h) {
            self.pending_miss = None;
        } else {
            self.on_miss(h);
        }
        if !self.full {
            let len = self.len() + 1;
            let sized = self.sketch.entries;
            let limit = self.max_items.unwrap_or(usize::MAX);
            if len > sized && sized < limit {
                self.sketch =
                    Sketch::with_words((2 * sized).max(len).min(limit), SKETCH_HALF_WORDS);
            }
            if self.max_items.is_none() {
                self.cap = len;
                self.resize();
            }
        }
        // The window's overflow moves on to main before the newcomer
        // joins; the shard then asks for victims if it is over budget.
        self.rebalance(marks, hash_of);
        marks.ensure(idx);
        marks.set(idx, WINDOW);
        self.window.push_back(idx);
        self.window_len += 1;
        self.compact();
    }

    /// A read (or replacement) seen by an exclusive holder.
    pub(crate) fn on_access(marks: &mut Marks, idx: u32) {
        let v = marks.get(idx);
        if v & PENDING != PENDING {
            marks.set(idx, v + 1);
        }
    }

    pub(crate) fn on_remove(&mut self, marks: &mut Marks, idx: u32, hash_of: &impl Fn(u32) -> u64) {
        let v = marks.get(idx);
        match v & SEG {
            WINDOW => {
                self.window_len -= 1;
                // Unless `victim` just took it off the ring, its occurrence
                // there goes stale.
                if self.popped.take() != Some(idx) {
                    *self.stale.entry(idx).or_insert(0) += 1;
                }
            }
            MAIN => self.main_len -= 1,
            _ => debug_assert!(false, "removing a vacant slot"),
        }
        // The key's history outlives the entry.
        let pending = v & PENDING;
        if pending > 0 {
            self.sketch
                .add(policy_hash(hash_of(idx)), u32::from(pending));
        }
        marks.set(idx, VACANT);
    }

    pub(crate) fn victim(
        &mut self,
        marks: &mut Marks,
        hash_of: &impl Fn(u32) -> u64,
    ) -> Option<u32> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        // Called over budget, with the newcomer in: the budget holds one less.
        self.observe_capacity((len - 1).max(1));
        if self.main_len == 0 {
            let s = self.window_head(marks)?;
            self.window.pop_front();
            self.popped = Some(s);
            self.window_ghost.push(policy_hash(hash_of(s)));
            return Some(s);
        }
        if self.window_len > self.window_max {
            let candidate = self.window_head(marks)?;
            let v = marks.get(candidate);
            let pending = v & PENDING;
            if pending > 0 {
                self.sketch
                    .add(policy_hash(hash_of(candidate)), u32::from(pending));
                marks.set(candidate, v & !PENDING);
            }
            let victim = self.main_victim(marks, hash_of);
            self.window.pop_front();
            if self.admit(candidate, victim, hash_of) {
                self.promote(marks, candidate, hash_of);
                self.main_ghost.push(policy_hash(hash_of(victim)));
                return Some(victim);
            }
            self.popped = Some(candidate);
            self.window_ghost.push(policy_hash(hash_of(candidate)));
            return Some(candidate);
        }
        let victim = self.main_victim(marks, hash_of);
        self.main_ghost.push(policy_hash(hash_of(victim)));
        Some(victim)
    }

    pub(crate) fn clear(&mut self, marks: &mut Marks) {
        marks.cells.clear();
        self.window.clear();
        self.stale.clear();
        self.popped = None;
        self.window_len = 0;
        self.main_len = 0;
        self.hand = 0;
        self.pending_miss = None;
    }

    /// Main from the hand round, then the window oldest first: each live
    /// slot once.
    pub(crate) fn eviction_order(&self, marks: &Marks) -> Vec<u32> {
        let n = marks.len();
        let mut out = Vec::with_capacity(self.len());
        for i in 0..n {
            #[allow(clippy::cast_possible_truncation)]
            let s = ((self.hand + i) % n) as u32;
            if marks.peek(s) & SEG == MAIN {
                out.push(s);
            }
        }
        let mut stale = self.stale.clone();
        for &s in &self.window {
            match stale.get_mut(&s) {
                Some(n) if *n > 0 => *n -= 1,
                _ => out.push(s),
            }
        }
        out
    }

    /// The sketch's estimate for a live slot's key, pending hits included.
    pub(crate) fn frequency(&self, marks: &Marks, idx: u32, hash: u64) -> u64 {
        let pending = marks.peek(idx) & PENDING;
        u64::from(
            self.sketch
                .frequency(policy_hash(hash))
                .saturating_add(pending)
                .min(15),
        )
    }

    /// Raises the sketch's estimate for a live slot's key to at least
    /// `freq` (at most 15), so a restored entry keeps its standing.
    pub(crate) fn set_frequency(&mut self, hash: u64, freq: u64) {
        let h = policy_hash(hash);
        let want = u8::try_from(freq.min(15)).unwrap_or(15);
        for _ in 0..15 {
            if self.sketch.frequency(h) >= want {
                break;
            }
            self.sketch.increment(h);
        }
    }
}

#[cfg(test)]
mod tests {
    //! A reference model with plain structures (the window as a `Vec` in
    //! FIFO order, main as a map from slot to level and pending hits),
    //! written from the module documentation, driven beside the policy by
    //! random operations: every victim must be the model's, and the whole
    //! eviction order must match after every step.
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap};

    fn hash(k: u32) -> u64 {
        u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
    }

    struct Model {
        window: Vec<u32>,
        /// slot -> (level, pending hits); window slots have level 0.
        main: BTreeMap<u32, (u8, u8)>,
        pending: HashMap<u32, u8>,
        slots: usize,
        hand: usize,
        p: Adaptive,
    }

    impl Model {
        fn new(cap: usize) -> Self {
            let mut p = Adaptive::new(Some(cap), 3);
            p.frozen = true;
            Self {
                window: Vec::new(),
                main: BTreeMap::new(),
                pending: HashMap::new(),
                slots: 0,
                hand: 0,
                p,
            }
        }

        fn add(&mut self, h: u64, n: u8) {
            if n > 0 {
                self.p.sketch.add(policy_hash(h), u32::from(n));
            }
        }

        fn insert(&mut self, idx: u32, h: u64, key_of: &impl Fn(u32) -> u64) {
            let ph = policy_hash(h);
            if self.p.pending_miss == Some(ph) {
                self.p.pending_miss = None;
            } else {
                self.p.sketch.increment(ph);
            }
            while self.window.len() > self.p.window_max {
                let s = self.window.remove(0);
                let n = self.pending.remove(&s).unwrap_or(0);
                self.add(key_of(s), n);
                self.main.insert(s, (1, 0));
            }
            self.slots = self.slots.max(idx as usize + 1);
            self.window.push(idx);
            self.pending.insert(idx, 0);
        }

        fn hit(&mut self, idx: u32) {
            let c = match self.main.get_mut(&idx) {
                Some((_, c)) => c,
                None => self.pending.get_mut(&idx).expect("live"),
            };
            *c = (*c + 1).min(15);
        }

        fn main_victim(&mut self, key_of: &impl Fn(u32) -> u64) -> u32 {
            loop {
                if self.hand >= self.slots {
                    self.hand = 0;
                }
                #[allow(clippy::cast_possible_truncation)]
                let s = self.hand as u32;
                if let Some(&(level, pending)) = self.main.get(&s) {
                    self.add(key_of(s), pending);
                    let level = (level + pending).min(4);
                    if level == 0 {
                        self.main.insert(s, (0, 0));
                        return s;
                    }
                    self.main.insert(s, (level - 1, 0));
                }
                self.hand += 1;
            }
        }

        fn victim(&mut self, key_of: &impl Fn(u32) -> u64) -> u32 {
            let len = self.window.len() + self.main.len();
            self.p.observe_capacity((len - 1).max(1));
            if self.main.is_empty() {
                return self.window[0];
            }
            if self.window.len() > self.p.window_max {
                let c = self.window[0];
                let n = self.pending.insert(c, 0).unwrap_or(0);
                self.add(key_of(c), n);
                let v = self.main_victim(key_of);
                let cf = self.p.sketch.frequency(policy_hash(key_of(c)));
                let vf = self.p.sketch.frequency(policy_hash(key_of(v)));
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let leniency = (self.p.window_share / MAX_WINDOW * 6.0) as u8;
                // The policy's draw for warm losers, from an identical generator.
                if cf + leniency > vf + 1 || (cf >= WARM && self.p.rng.u16(..) & 1023 == 0) {
                    self.window.remove(0);
                    self.pending.remove(&c);
                    self.main.insert(c, (1, 0));
                    return v;
                }
                return c;
            }
            self.main_victim(key_of)
        }

        fn remove(&mut self, idx: u32, key_of: &impl Fn(u32) -> u64) {
            let n = if let Some((_, n)) = self.main.remove(&idx) {
                n
            } else {
                self.window.retain(|&s| s != idx);
                self.pending.remove(&idx).expect("live")
            };
            self.add(key_of(idx), n);
        }

        fn order(&self) -> Vec<u32> {
            let mut out: Vec<u32> = (0..self.slots)
                .map(|i| (self.hand + i) % self.slots)
                .filter_map(|i| u32::try_from(i).ok())
                .filter(|s| self.main.contains_key(s))
                .collect();
            out.extend(&self.window);
            out
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Request(u8),
        Remove(u8),
        Clear,
    }

    fn run(cap: usize, ops: &[Op]) {
        let mut p = Adaptive::new(Some(cap), 3);
        p.frozen = true;
        let mut marks = Marks::default();
        let mut m = Model::new(cap);
        let mut slot_of: HashMap<u8, u32> = HashMap::new();
        let mut key_at: HashMap<u32, u8> = HashMap::new();
        let mut free: Vec<u32> = Vec::new();
        let mut next = 0u32;
        for op in ops {
            let snapshot = key_at.clone();
            let key_of = move |s: u32| hash(u32::from(snapshot[&s]));
            match *op {
                Op::Request(k) => {
                    if let Some(&idx) = slot_of.get(&k) {
                        marks.hit(idx);
                        m.hit(idx);
                    } else {
                        p.record_miss(hash(u32::from(k)));
                        m.p.record_miss(hash(u32::from(k)));
                        let idx = free.pop().unwrap_or_else(|| {
                            next += 1;
                            next - 1
                        });
                        slot_of.insert(k, idx);
                        key_at.insert(idx, k);
                        let key_of = |s: u32| hash(u32::from(key_at[&s]));
                        p.on_insert(&mut marks, idx, hash(u32::from(k)), &key_of);
                        m.insert(idx, hash(u32::from(k)), &key_of);
                        if slot_of.len() > cap {
                            let v = p.victim(&mut marks, &key_of).expect("a victim");
                            assert_eq!(v, m.victim(&key_of), "victim after {op:?}");
                            p.on_remove(&mut marks, v, &key_of);
                            m.remove(v, &key_of);
                            let gone = key_at.remove(&v).expect("live");
                            slot_of.remove(&gone);
                            free.push(v);
                        }
                    }
                }
                Op::Remove(k) => {
                    if let Some(idx) = slot_of.remove(&k) {
                        p.on_remove(&mut marks, idx, &key_of);
                        m.remove(idx, &key_of);
                        key_at.remove(&idx);
                        free.push(idx);
                    }
                }
                Op::Clear => {
                    p.clear(&mut marks);
                    m.window.clear();
                    m.main.clear();
                    m.pending.clear();
                    m.slots = 0;
                    m.hand = 0;
                    m.p.pending_miss = None;
                    slot_of.clear();
                    key_at.clear();
                    free.clear();
                    next = 0;
                }
            }
            assert_eq!(p.eviction_order(&marks), m.order(), "order after {op:?}");
            assert_eq!(p.len(), slot_of.len());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 400,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn victims_and_order_match_a_reference_model(
            cap in 1usize..12,
            ops in prop::collection::vec(prop_oneof![
                12 => prop_oneof![3 => 0u8..4, 2 => 0u8..16, 1 => 0u8..60].prop_map(Op::Request),
                2 => (0u8..16).prop_map(Op::Remove),
                1 => Just(Op::Clear),
            ], 1..300),
        ) {
            run(cap, &ops);
        }
    }

    #[test]
    fn a_hit_saturates_at_fifteen_pending_and_keeps_the_segment() {
        let mut marks = Marks::default();
        marks.ensure(0);
        marks.set(0, MAIN | (2 << LEVEL_SHIFT));
        for _ in 0..40 {
            marks.hit(0);
        }
        assert_eq!(marks.get(0), MAIN | (2 << LEVEL_SHIFT) | PENDING);
    }
}
