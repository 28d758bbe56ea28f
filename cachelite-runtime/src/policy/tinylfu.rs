//! Window TinyLFU with an adaptive window (after Caffeine).
//!
//! The cache is split into three LRU segments threaded through one node
//! array: a small **window** that every new entry enters, and a **main**
//! space of **probation** and **protected** (segmented LRU). When the window
//! is full, its least recent entry (the *candidate*) competes with main's
//! least recent (the *victim*) for main's place: a count-min sketch of
//! 4-bit counters estimates how often each key was requested lately, and the
//! rarer one is evicted, ties going against the candidate. One-off keys
//! (scans) thus pass through the window without displacing the working set,
//! and loops keep a stable subset resident, while the window keeps recency
//! working for bursts.
//!
//! Every request is counted once: a hit by [`EvictionPolicy::on_access`], a
//! miss by [`EvictionPolicy::record_miss`] (the insert that follows it is
//! not counted again) or, for an insert without a recorded miss, by
//! [`EvictionPolicy::on_insert`]. Counters are halved after `10 × capacity`
//! counted requests, so the history ages.
//!
//! The window's share adapts by hill climbing on the hit ratio: every
//! `10 × capacity` requests the window moves by a step in the direction that
//! last improved the hit ratio, the step decaying as the ratio settles and
//! restarting when it jumps (a workload shift). Recency-heavy workloads grow
//! the window towards LRU; frequency-heavy ones shrink it towards LFU.
//!
//! Every operation is O(1) (amortised: ageing halves the whole sketch once
//! per `10 × capacity` requests, and resizing segments moves at most the
//! step's entries once per sample). Memory: a 16-byte node per slot plus a
//! sketch of about 8 bytes per entry of capacity (rounded up to a power of
//! two).
//!
//! The capacity the shares are computed from is the shard's item bound; when
//! the shard evicts below it (a byte budget binds first, or there is no item
//! bound) it is the number of entries held when evictions start, followed as
//! it drifts.

use super::EvictionPolicy;
use crate::slab::NIL;

const WINDOW: u8 = 0;
const PROBATION: u8 = 1;
const PROTECTED: u8 = 2;
/// The slot holds no entry.
const VACANT: u8 = 3;

/// Main's share given to protected (Caffeine's 80%).
const PROTECTED_SHARE: f64 = 0.8;
/// The window's starting share of the capacity.
const INITIAL_WINDOW: f64 = 0.01;
/// The largest share the climber may give the window.
const MAX_WINDOW: f64 = 0.8;
/// Hill climber: first step and restart step, as a share of the capacity.
const STEP: f64 = 0.0625;
/// Hill climber: a hit-ratio change this large restarts the step.
const RESTART_THRESHOLD: f64 = 0.05;
/// Hill climber: how the step shrinks while the hit ratio is stable.
const STEP_DECAY: f64 = 0.98;
/// Requests per ageing period and per climber sample, per entry of capacity.
const SAMPLE_FACTOR: usize = 10;
/// A candidate at least this warm is admitted at random 1 time in 128 even
/// when it loses, so hot victims cannot be pinned by colliding keys.
const WARM: u8 = 6;
/// The sketch is allocated for at most this many entries up front and grows
/// (by doubling) as the shard fills past it.
const INITIAL_SKETCH: usize = 1 << 12;

// TEMP-KNOBS-BEGIN
#[derive(Clone, Copy, Debug)]
pub(crate) struct Knobs { pub margin: u8, pub sample: f64, pub step: f64, pub init: f64, pub maxw: f64, pub period: usize, pub climb: bool, pub warm: u8, pub decay: f64, pub restart: f64, pub prot: f64, pub cu: bool, pub width: usize, pub ghost_adapt: bool, pub ghost: f64, pub delta: f64, pub floor_cap: usize, pub bottom: bool }
pub(crate) fn knobs() -> Knobs {
    static K: std::sync::OnceLock<Knobs> = std::sync::OnceLock::new();
    *K.get_or_init(|| {
        let g = |n: &str, d: f64| std::env::var(n).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
        Knobs { margin: g("TLFU_MARGIN", 0.0) as u8, sample: g("TLFU_SAMPLE", 10.0), step: g("TLFU_STEP", STEP), init: g("TLFU_INIT", INITIAL_WINDOW), maxw: g("TLFU_MAXW", MAX_WINDOW), period: g("TLFU_PERIOD", 10.0) as usize, climb: g("TLFU_CLIMB", 1.0) > 0.0, warm: g("TLFU_WARM", 6.0) as u8, decay: g("TLFU_DECAY", STEP_DECAY), restart: g("TLFU_RESTART", RESTART_THRESHOLD), prot: g("TLFU_PROT", PROTECTED_SHARE), cu: g("TLFU_CU", 0.0) > 0.0, width: g("TLFU_WIDTH", 1.0) as usize, ghost_adapt: g("TLFU_ADAPT", 0.0) > 0.0, ghost: g("TLFU_GHOST", 0.1), delta: g("TLFU_DELTA", 1.0), floor_cap: g("TLFU_FLOOR", 128.0) as usize, bottom: g("TLFU_BOTTOM", 0.0) > 0.0 }
    })
}
// TEMP-KNOBS-END

/// Per-slot links, the key's hash and its segment.
#[derive(Clone, Copy)]
struct Node {
    prev: u32,
    next: u32,
    hash: u32,
    seq: u32,
    seg: u8,
}

const EMPTY_NODE: Node = Node {
    seq: 0,
    prev: NIL,
    next: NIL,
    hash: 0,
    seg: VACANT,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seg {
    head: u32,
    tail: u32,
    len: usize,
    pushed: u32,
}

const EMPTY_SEG: Seg = Seg {
    pushed: 0,
    head: NIL,
    tail: NIL,
    len: 0,
};

/// A count-min sketch of 4-bit counters in Caffeine's cache-friendly layout:
/// a key's four counters all lie in one 64-byte block (eight `u64`s), one in
/// each pair of words. Its frequency is the least of the four.
pub(crate) struct Sketch {
    table: Vec<u64>,
    block_mask: usize,
    /// Counted increments since the last halving.
    additions: usize,
    /// Halve after this many increments.
    period: usize,
}

/// The low bit of every nibble.
const ONE_MASK: u64 = 0x1111_1111_1111_1111;
/// Every nibble's three low bits (after a right shift by one).
const RESET_MASK: u64 = 0x7777_7777_7777_7777;

impl Sketch {
    /// A sketch for about `entries` keys, ageing every `10 × entries` increments.
    pub(crate) fn new(entries: usize) -> Self {
        let entries = entries.max(1);
        let len = (entries * knobs().width).next_power_of_two().max(8);
        Self {
            table: vec![0; len],
            block_mask: (len >> 3) - 1,
            additions: 0,
            period: knobs().period * entries,
        }
    }

    /// How many keys this sketch was sized for (a power of two).
    fn sized_for(&self) -> usize {
        self.table.len()
    }

    /// The four (word, shift) positions of a key's counters.
    #[inline]
    fn positions(&self, hash: u32) -> [(usize, u32); 4] {
        let spread = splitmix(u64::from(hash));
        #[allow(clippy::cast_possible_truncation)]
        let block = ((spread as usize) & self.block_mask) << 3;
        #[allow(clippy::cast_possible_truncation)]
        let counter_hash = (spread >> 32) as u32;
        let mut out = [(0, 0); 4];
        for (i, slot) in out.iter_mut().enumerate() {
            let h = counter_hash >> (i << 3);
            let index = (h >> 1) & 15;
            let offset = (h & 1) as usize;
            *slot = (block + offset + (i << 1), index << 2);
        }
        out
    }

    /// The estimated count of `hash` (0 to 15).
    #[inline]
    pub(crate) fn frequency(&self, hash: u32) -> u8 {
        let mut min = 15;
        for (word, shift) in self.positions(hash) {
            #[allow(clippy::cast_possible_truncation)]
            let c = ((self.table[word] >> shift) & 15) as u8;
            min = min.min(c);
        }
        min
    }

    /// Counts one request for `hash`; halves every counter once `period`
    /// increments have been counted.
    #[inline]
    pub(crate) fn increment(&mut self, hash: u32) {
        let mut added = false;
        let min = if knobs().cu { self.frequency(hash) } else { 0 };
        for (word, shift) in self.positions(hash) {
            let c = (self.table[word] >> shift) & 15;
            if c < 15 && (!knobs().cu || c == u64::from(min)) {
                self.table[word] += 1 << shift;
                added = true;
            }
        }
        if added {
            self.additions += 1;
            if self.additions >= self.period {
                self.age();
            }
        }
    }

    /// Halves every counter (the ageing step).
    pub(crate) fn age(&mut self) {
        let mut odd = 0usize;
        for w in &mut self.table {
            odd += (*w & ONE_MASK).count_ones() as usize;
            *w = (*w >> 1) & RESET_MASK;
        }
        self.additions = self.additions.saturating_sub(odd / 4) / 2;
    }

    #[cfg(test)]
    fn counters(&self) -> impl Iterator<Item = u8> + '_ {
        #[allow(clippy::cast_possible_truncation)]
        self.table
            .iter()
            .flat_map(|&w| (0..16).map(move |i| ((w >> (i * 4)) & 15) as u8))
    }
}

/// A FIFO of recently evicted keys' hashes with O(1) membership.
pub(crate) struct Ghost {
    ring: Vec<u32>,
    head: usize,
    len: usize,
    members: hashbrown::HashTable<(u32, u32)>,
}

#[inline]
fn ghost_hash(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Ghost {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { ring: vec![0; capacity.max(1)], head: 0, len: 0, members: hashbrown::HashTable::new() }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn contains(&self, h: u32) -> bool {
        self.members.find(ghost_hash(h), |e| e.0 == h).is_some()
    }

    pub(crate) fn push(&mut self, h: u32) {
        if self.len == self.ring.len() {
            let old = self.ring[self.head];
            if let Ok(mut e) = self.members.find_entry(ghost_hash(old), |e| e.0 == old) {
                if e.get().1 > 1 {
                    e.get_mut().1 -= 1;
                } else {
                    e.remove();
                }
            }
            self.ring[self.head] = h;
            self.head = (self.head + 1) % self.ring.len();
        } else {
            let at = (self.head + self.len) % self.ring.len();
            self.ring[at] = h;
            self.len += 1;
        }
        match self.members.find_mut(ghost_hash(h), |e| e.0 == h) {
            Some(e) => e.1 += 1,
            None => {
                self.members.insert_unique(ghost_hash(h), (h, 1), |e| ghost_hash(e.0));
            }
        }
    }
}

/// SplitMix64's finaliser: every output bit depends on every input bit.
#[inline]
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The 32 bits the sketch works from, remixed so they are independent of
/// the bits the shard selector and the hash table use.
#[inline]
fn key_hash(hash: u64) -> u32 {
    #[allow(clippy::cast_possible_truncation)]
    let h = (splitmix(hash ^ 0x5851_f42d_4c95_7f2d) >> 32) as u32;
    h
}

/// Window TinyLFU: see the module documentation.
pub(crate) struct TinyLfu {
    nodes: Vec<Node>,
    segs: [Seg; 3],
    sketch: Sketch,
    /// The shard's item bound, if any.
    max_items: Option<usize>,
    /// The capacity the segment shares are computed from.
    cap: usize,
    /// Whether an eviction has happened (the cache has filled once).
    full: bool,
    /// The window's share of `cap`, moved by the climber.
    window_share: f64,
    window_max: usize,
    protected_max: usize,
    /// The hash of the last miss recorded, so the insert that follows it
    /// is not counted twice.
    pending_miss: Option<u32>,
    hits: usize,
    misses: usize,
    prev_hit_ratio: f64,
    /// The climber's next move, in entries (negative shrinks the window).
    step: f64,
    rng: fastrand::Rng,
    window_ghost: Ghost,
    main_ghost: Ghost,
}

impl TinyLfu {
    /// A policy for a shard holding at most `max_items` entries (if bounded).
    pub(crate) fn new(max_items: Option<usize>, seed: u64) -> Self {
        let cap = max_items.unwrap_or(0);
        let mut p = Self {
            nodes: Vec::new(),
            segs: [EMPTY_SEG; 3],
            sketch: Sketch::new(cap.clamp(16, INITIAL_SKETCH)),
            max_items,
            cap,
            full: false,
            window_share: knobs().init,
            window_max: 1,
            protected_max: 0,
            pending_miss: None,
            hits: 0,
            misses: 0,
            prev_hit_ratio: 0.0,
            step: 0.0,
            rng: fastrand::Rng::with_seed(seed),
            window_ghost: Ghost::new(1),
            main_ghost: Ghost::new(1),
        };
        p.resize_segments();
        p.reset_climber();
        p
    }

    fn len(&self) -> usize {
        self.segs.iter().map(|s| s.len).sum()
    }

    fn reset_climber(&mut self) {
        #[allow(clippy::cast_precision_loss)]
        let cap = self.cap.max(1) as f64;
        self.step = -knobs().step * cap;
        self.hits = 0;
        self.misses = 0;
        self.prev_hit_ratio = 0.0;
    }

    /// Recomputes the segments' maxima from `cap` and the window's share.
    fn resize_segments(&mut self) {
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        {
            let cap = self.cap as f64;
            self.window_max = ((cap * self.window_share).round() as usize)
                .max(usize::from(self.cap < knobs().floor_cap));
            let main = self.cap.saturating_sub(self.window_max) as f64;
            self.protected_max = (main * knobs().prot) as usize;
            let g = ((cap * knobs().ghost) as usize).max(1);
            if knobs().ghost_adapt && g != self.window_ghost.capacity() && (g > self.window_ghost.capacity() * 2 || g * 2 < self.window_ghost.capacity() || self.full) {
                self.window_ghost = Ghost::new(g);
                self.main_ghost = Ghost::new(g);
            }
        }
    }

    /// Moves entries out of the window and protected into probation until
    /// both are within their maxima.
    fn rebalance(&mut self) {
        while self.segs[WINDOW as usize].len > self.window_max {
            let h = self.segs[WINDOW as usize].head;
            self.move_to(h, PROBATION);
        }
        while self.segs[PROTECTED as usize].len > self.protected_max {
            let h = self.segs[PROTECTED as usize].head;
            self.move_to(h, PROBATION);
        }
    }

    /// Follows the capacity when evictions happen below the item bound
    /// (a byte budget) or without one.
    fn observe_capacity(&mut self, len: usize) {
        let was_full = self.full;
        self.full = true;
        let drift = len.abs_diff(self.cap);
        if drift == 0 || (was_full && drift <= self.cap / 32) {
            return;
        }
        self.cap = len;
        if self.cap > self.sketch.sized_for() {
            self.sketch = Sketch::new(self.cap);
        }
        self.resize_segments();
        self.rebalance();
        if !was_full {
            self.reset_climber();
        }
    }

    fn push_back(&mut self, idx: u32, seg: u8) {
        let s = &mut self.segs[seg as usize];
        let n = &mut self.nodes[idx as usize];
        n.seg = seg;
        n.seq = s.pushed;
        s.pushed = s.pushed.wrapping_add(1);
        n.prev = s.tail;
        n.next = NIL;
        if s.tail == NIL {
            s.head = idx;
        } else {
            self.nodes[s.tail as usize].next = idx;
        }
        s.tail = idx;
        s.len += 1;
    }

    fn unlink(&mut self, idx: u32) {
        let Node {
            prev, next, seg, ..
        } = self.nodes[idx as usize];
        let s = &mut self.segs[seg as usize];
        if prev == NIL {
            s.head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            s.tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
        s.len -= 1;
        let n = &mut self.nodes[idx as usize];
        n.prev = NIL;
        n.next = NIL;
        n.seg = VACANT;
    }

    #[inline]
    fn move_to(&mut self, idx: u32, seg: u8) {
        self.unlink(idx);
        self.push_back(idx, seg);
    }

    /// Whether `candidate` should take `victim`'s place in main.
    fn admit(&mut self, candidate: u32, victim: u32) -> bool {
        let c = self.sketch.frequency(self.nodes[candidate as usize].hash);
        let v = self.sketch.frequency(self.nodes[victim as usize].hash);
        let k = knobs();
        c > v.saturating_add(k.margin) || (c >= k.warm && self.rng.u8(..) & 127 == 0)
    }

    /// On a miss: a key evicted lately from the window (or from main) would
    /// have hit with a larger window (or main): move the boundary that way.
    #[allow(clippy::cast_precision_loss)]
    fn ghost_check(&mut self, h: u32) {
        if !knobs().ghost_adapt || !self.full {
            return;
        }
        if self.window_ghost.contains(h) {
            self.nudge(true);
        } else if self.main_ghost.contains(h) {
            self.nudge(false);
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn nudge(&mut self, grow: bool) {
        let d = knobs().delta / self.cap.max(1) as f64;
        let share = if grow { self.window_share + d } else { self.window_share - d };
        let share = share.clamp(0.0, knobs().maxw);
        if share != self.window_share {
            self.window_share = share;
            self.resize_segments();
            self.rebalance();
        }
    }

    /// Counts a request for the hill climber and adjusts the window once a
    /// sample is complete.
    #[inline]
    fn count_request(&mut self, hit: bool) {
        if !self.full {
            return;
        }
        if hit {
            self.hits += 1;
        } else {
            self.misses += 1;
        }
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        if knobs().climb && self.hits + self.misses >= (knobs().sample * self.cap.max(1) as f64) as usize {
            self.climb();
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn climb(&mut self) {
        let requests = (self.hits + self.misses) as f64;
        let hit_ratio = self.hits as f64 / requests;
        let change = hit_ratio - self.prev_hit_ratio;
        let amount = if change >= 0.0 { self.step } else { -self.step };
        let cap = self.cap.max(1) as f64;
        let k = knobs();
        self.step = if change.abs() >= k.restart {
            k.step * cap * amount.signum()
        } else {
            k.decay * amount
        };
        self.prev_hit_ratio = hit_ratio;
        self.hits = 0;
        self.misses = 0;
        let share = (self.window_share + amount / cap).clamp(0.0, knobs().maxw);
        if share != self.window_share {
            self.window_share = share;
            self.resize_segments();
            self.rebalance();
        }
    }

    /// The sketch's estimate for a live slot's key (for snapshots).
    pub(crate) fn frequency(&self, idx: u32) -> u64 {
        u64::from(self.sketch.frequency(self.nodes[idx as usize].hash))
    }

    /// Raises the sketch's estimate for a live slot's key to at least
    /// `freq` (at most 15), so a restored entry keeps its standing.
    pub(crate) fn set_frequency(&mut self, idx: u32, freq: u64) {
        let hash = self.nodes[idx as usize].hash;
        let want = u8::try_from(freq.min(15)).unwrap_or(15);
        for _ in 0..15 {
            if self.sketch.frequency(hash) >= want {
                break;
            }
            self.sketch.increment(hash);
        }
    }
}

impl EvictionPolicy for TinyLfu {
    fn on_insert(&mut self, idx: u32, hash: u64) {
        let h = key_hash(hash);
        let i = idx as usize;
        if self.nodes.len() <= i {
            self.nodes.resize(i + 1, EMPTY_NODE);
        }
        self.nodes[i].hash = h;
        if self.pending_miss == Some(h) {
            self.pending_miss = None;
        } else {
            self.sketch.increment(h);
            self.count_request(false);
            self.ghost_check(h);
        }
        if !self.full {
            let len = self.len() + 1;
            if len > self.sketch.sized_for() && self.max_items.is_none_or(|m| len <= m) {
                self.sketch = Sketch::new(len);
            }
            if self.max_items.is_none() {
                self.cap = len;
                self.resize_segments();
            }
        }
        // The window's overflow (left by the last insert while the cache had
        // room) moves on to probation before the newcomer joins; the shard
        // then asks for victims if it is over budget, and the newcomer may
        // be the candidate that loses.
        self.rebalance();
        self.push_back(idx, WINDOW);
    }

    #[inline]
    fn on_access(&mut self, idx: u32) {
        let n = self.nodes[idx as usize];
        self.sketch.increment(n.hash);
        self.count_request(true);
        if knobs().bottom && self.full && knobs().ghost_adapt && (n.seg == WINDOW || n.seg == PROBATION) {
            let s = &self.segs[n.seg as usize];
            let head_seq = self.nodes[s.head as usize].seq;
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
            let g = self.window_ghost.capacity() as u32;
            if n.seq.wrapping_sub(head_seq) < g {
                self.nudge(n.seg == WINDOW);
            }
        }
        match n.seg {
            PROBATION => {
                self.move_to(idx, PROTECTED);
                if self.segs[PROTECTED as usize].len > self.protected_max {
                    let h = self.segs[PROTECTED as usize].head;
                    self.move_to(h, PROBATION);
                }
            }
            seg => {
                let s = &self.segs[seg as usize];
                if s.tail != idx {
                    self.move_to(idx, seg);
                }
            }
        }
    }

    fn record_miss(&mut self, hash: u64) {
        let h = key_hash(hash);
        self.sketch.increment(h);
        self.pending_miss = Some(h);
        self.count_request(false);
        self.ghost_check(h);
    }

    fn on_remove(&mut self, idx: u32) {
        self.unlink(idx);
    }

    fn victim(&mut self) -> Option<u32> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        self.observe_capacity(len);
        let main = match self.segs[PROBATION as usize].head {
            NIL => self.segs[PROTECTED as usize].head,
            h => h,
        };
        let window = &self.segs[WINDOW as usize];
        if main == NIL {
            let w = window.head;
            self.window_ghost.push(self.nodes[w as usize].hash);
            return Some(w);
        }
        if window.len <= self.window_max {
            // The window is within its share: main gives up its least recent.
            self.main_ghost.push(self.nodes[main as usize].hash);
            return Some(main);
        }
        // The window is full: its least recent entry leaves it, either into
        // probation in place of main's victim, or out of the cache.
        let candidate = window.head;
        if self.admit(candidate, main) {
            self.move_to(candidate, PROBATION);
            self.main_ghost.push(self.nodes[main as usize].hash);
            Some(main)
        } else {
            self.window_ghost.push(self.nodes[candidate as usize].hash);
            Some(candidate)
        }
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.segs = [EMPTY_SEG; 3];
        self.pending_miss = None;
        self.rebalance();
    }

    /// Probation, then the window, then protected, each least recent first:
    /// main's victims go first, protected's proven entries last.
    fn eviction_order(&self) -> Vec<u32> {
        let mut out = Vec::with_capacity(self.len());
        for seg in [PROBATION, WINDOW, PROTECTED] {
            let mut cur = self.segs[seg as usize].head;
            while cur != NIL {
                out.push(cur);
                cur = self.nodes[cur as usize].next;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(k: u32) -> u64 {
        u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// Walks every segment both ways and checks lengths, back links,
    /// segment tags and that no live slot is in two places.
    fn check(p: &TinyLfu, live: &std::collections::BTreeSet<u32>) {
        let mut seen = std::collections::BTreeSet::new();
        for seg in [WINDOW, PROBATION, PROTECTED] {
            let s = p.segs[seg as usize];
            let (mut cur, mut prev, mut n) = (s.head, NIL, 0);
            while cur != NIL {
                let node = p.nodes[cur as usize];
                assert_eq!(node.seg, seg);
                assert_eq!(node.prev, prev);
                assert!(seen.insert(cur), "slot {cur} is in two segments");
                prev = cur;
                cur = node.next;
                n += 1;
            }
            assert_eq!(s.tail, prev);
            assert_eq!(s.len, n);
        }
        assert_eq!(&seen, live, "every live slot is in exactly one segment");
        for (i, node) in p.nodes.iter().enumerate() {
            #[allow(clippy::cast_possible_truncation)]
            let i = i as u32;
            assert_eq!(node.seg == VACANT, !live.contains(&i));
        }
        assert!(p.segs[PROTECTED as usize].len <= p.protected_max);
        assert!(p.segs[WINDOW as usize].len <= p.window_max + 1);
    }

    /// Drives the policy like a shard with an item bound: victims are asked
    /// for before a new slot goes in, and must be live and not the newcomer.
    struct Driver {
        p: TinyLfu,
        cap: usize,
        slot_of: std::collections::HashMap<u32, u32>,
        key_of: std::collections::HashMap<u32, u32>,
        free: Vec<u32>,
        next: u32,
        hits: usize,
    }

    impl Driver {
        fn new(cap: usize) -> Self {
            Self {
                p: TinyLfu::new(Some(cap), 7),
                cap,
                slot_of: Default::default(),
                key_of: Default::default(),
                free: Vec::new(),
                next: 0,
                hits: 0,
            }
        }

        fn live(&self) -> std::collections::BTreeSet<u32> {
            self.key_of.keys().copied().collect()
        }

        fn request(&mut self, key: u32) {
            if let Some(&idx) = self.slot_of.get(&key) {
                self.hits += 1;
                self.p.on_access(idx);
                return;
            }
            self.p.record_miss(hash(key));
            let idx = self.free.pop().unwrap_or_else(|| {
                self.next += 1;
                self.next - 1
            });
            self.slot_of.insert(key, idx);
            self.key_of.insert(idx, key);
            self.p.on_insert(idx, hash(key));
            while self.slot_of.len() > self.cap {
                let v = self.p.victim().expect("a full cache has a victim");
                let k = self.key_of.remove(&v).expect("the victim is a live slot");
                self.slot_of.remove(&k);
                self.p.on_remove(v);
                self.free.push(v);
            }
        }

        fn remove(&mut self, key: u32) {
            if let Some(idx) = self.slot_of.remove(&key) {
                self.key_of.remove(&idx);
                self.p.on_remove(idx);
                self.free.push(idx);
            }
        }
    }

    #[test]
    fn sketch_counts_saturate_at_15_and_age_by_halving() {
        let mut s = Sketch::new(64);
        for _ in 0..100 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 15);
        assert!(s.counters().all(|c| c <= 15));
        s.increment(7);
        let before: Vec<u8> = s.counters().collect();
        s.age();
        let after: Vec<u8> = s.counters().collect();
        for (b, a) in before.iter().zip(&after) {
            assert_eq!(*a, b / 2);
        }
        assert_eq!(s.frequency(42), 7);
    }

    #[test]
    fn sketch_ages_on_its_own_after_ten_times_capacity() {
        let mut s = Sketch::new(16);
        for _ in 0..15 {
            s.increment(1);
        }
        assert_eq!(s.frequency(1), 15);
        // Distinct keys push the addition count to the period (160).
        let mut k = 1000;
        while s.additions != 0 && s.frequency(1) == 15 {
            s.increment(k);
            k += 1;
        }
        assert!(s.frequency(1) <= 7 + 1, "halved: {}", s.frequency(1));
    }

    #[test]
    fn scans_do_not_flush_a_frequent_set() {
        let mut d = Driver::new(100);
        for _ in 0..20 {
            for k in 0..80 {
                d.request(k);
            }
        }
        for k in 10_000..12_000 {
            d.request(k);
        }
        let resident = (0..80).filter(|k| d.slot_of.contains_key(k)).count();
        assert!(resident >= 75, "only {resident} of the hot keys survived");
        check(&d.p, &d.live());
    }

    #[test]
    fn loops_larger_than_the_cache_still_hit() {
        let mut d = Driver::new(90);
        for _ in 0..50 {
            for k in 0..100 {
                d.request(k);
            }
        }
        // LRU would hit 0 times.
        assert!(d.hits > 50 * 100 / 2, "{} hits", d.hits);
    }

    #[test]
    fn random_operations_keep_segments_consistent() {
        for cap in [1, 2, 3, 10, 64] {
            let mut d = Driver::new(cap);
            let mut rng = fastrand::Rng::with_seed(cap as u64);
            for step in 0..20_000 {
                let k = if rng.bool() {
                    rng.u32(..cap as u32 * 2)
                } else {
                    rng.u32(..cap as u32 * 20)
                };
                if rng.u8(..10) == 0 {
                    d.remove(k);
                } else {
                    d.request(k);
                }
                assert!(d.slot_of.len() <= cap);
                if step % 97 == 0 {
                    check(&d.p, &d.live());
                    assert_eq!(d.p.eviction_order().len(), d.slot_of.len());
                }
            }
            check(&d.p, &d.live());
        }
    }

    #[test]
    fn the_window_grows_on_recency_and_shrinks_on_frequency() {
        // Recency: each key is requested a few times close together, then
        // never again; a large window (LRU) is best.
        let mut d = Driver::new(200);
        let mut rng = fastrand::Rng::with_seed(3);
        for i in 0..200_000u32 {
            let base = i / 8;
            d.request(base * 4 + rng.u32(..4) + rng.u32(..60));
        }
        let recency_window = d.p.window_share;
        // Frequency: a fixed Zipf-ish hot set.
        let mut d = Driver::new(200);
        for _ in 0..200_000 {
            let r = rng.f64();
            d.request((1.0 / (r * 0.999 + 0.001)) as u32);
        }
        assert!(
            recency_window > d.p.window_share,
            "recency {recency_window} vs frequency {}",
            d.p.window_share
        );
    }

    #[test]
    fn restored_frequencies_raise_the_estimate() {
        let mut p = TinyLfu::new(Some(10), 1);
        p.on_insert(0, hash(0));
        assert_eq!(p.frequency(0), 1);
        p.set_frequency(0, 9);
        assert_eq!(p.frequency(0), 9);
        p.set_frequency(0, 1_000);
        assert_eq!(p.frequency(0), 15);
    }
}
