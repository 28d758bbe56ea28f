//! Window TinyLFU with a ghost-driven adaptive window.
//!
//! Entries live in three LRU segments threaded through one node array: a
//! **window** that every new entry enters, and a **main** space split into
//! **probation** and **protected** (segmented LRU: a hit in probation
//! promotes to protected, whose overflow is demoted back to probation's
//! most recent end).
//!
//! **Admission.** When the cache is over budget and the window holds more
//! than its share, the window's least recent entry (the *candidate*; with an
//! empty window share, the newcomer itself) competes with probation's least
//! recent (the *victim*) for a place in main. A count-min sketch of 4-bit
//! counters estimates how often each key was requested lately; the
//! candidate is admitted only if its estimate, less the request that just
//! brought it in, still beats the victim's, so the loser of a tie is
//! always the candidate. One-off keys (scans) therefore never displace the
//! working set, and a loop larger than the cache keeps a stable subset
//! resident instead of churning. A candidate that loses but is warm (count
//! ≥ 6) is still admitted once in 1024 times, so colliding keys cannot pin
//! a victim forever (Caffeine's defence against hash flooding, made rarer
//! so it costs loops nothing measurable).
//!
//! **Counting.** Every request is counted once: a hit by
//! [`EvictionPolicy::on_access`], a miss by [`EvictionPolicy::record_miss`]
//! (the insert that follows it is then not counted again) or, for an insert
//! without a recorded miss, by [`EvictionPolicy::on_insert`]. Once the
//! sketch has counted `20 × capacity` requests, every counter is halved, so
//! the history ages. Keys are hashed by the cache's `BuildHasher`; the
//! policy keeps 32 remixed bits, independent of the bits that pick the
//! shard and the hash-table bucket.
//!
//! **Adaptation.** The window's share of the capacity (0 to 80%) follows the
//! marginal value of space on either side of the window/main boundary, in
//! the manner of ARC: two ghost lists remember the hashes of the last `G`
//! keys evicted from the window (rejected candidates) and from main
//! (victims), with `G` about 5% of the capacity. A miss on a window ghost
//! means a larger window would have hit, and so does a hit among the
//! window's `G` least recent entries (a smaller one would have missed); each
//! moves one entry of capacity to the window. A miss on a main ghost, or a
//! hit among probation's `G` least recent entries, moves one back.
//! Recency-heavy workloads (OLTP, shifting hot sets, zig-zag scans) thus
//! grow the window towards LRU within a few hundred requests, while
//! frequency-heavy ones and loops shrink it towards an admission-filtered
//! LFU.
//!
//! **Cost.** Every operation is O(1). A hit counts itself in its node and
//! moves the node in its list; every 16th hit of a slot (and its removal,
//! and each admission comparison) adds the slot's pending hits to one
//! 64-byte sketch block. Ageing halves the whole sketch once per
//! `20 × capacity` counted requests (amortised O(1)). Memory per entry of
//! capacity: a 16-byte node, the sketch (4 words per entry, rounded up to a
//! power of two: 32 to 64 bytes) and about 1.5 bytes of ghosts.
//!
//! The capacity the shares are computed from is the shard's item bound;
//! when the shard evicts below it (a byte budget binds first, or there is
//! no item bound) it is the number of entries held when evictions start,
//! followed as it drifts.

use super::EvictionPolicy;
use crate::slab::NIL;

const WINDOW: u32 = 0;
const PROBATION: u32 = 1;
const PROTECTED: u32 = 2;
/// The slot holds no entry.
const VACANT: u32 = 3;

/// Main's share given to protected (Caffeine's 80%).
const PROTECTED_SHARE: f64 = 0.8;
/// The largest share of the capacity the window may take.
const MAX_WINDOW: f64 = 0.8;
/// Below this capacity the window always keeps one entry, so a tiny cache
/// still takes in what was just inserted.
const WINDOW_FLOOR_BELOW: usize = 128;
/// The sketch halves its counters after this many counted requests per
/// entry of capacity.
const AGEING_PERIOD: usize = 20;
/// Sketch words (16 counters each) per entry of capacity.
const SKETCH_WORDS: usize = 4;
/// A losing candidate at least this warm is admitted once in 1024 times.
const WARM: u8 = 6;
/// The sketch is allocated for at most this many entries up front and
/// grows (by doubling) as the shard fills past it.
const INITIAL_SKETCH: usize = 1 << 12;

/// Per-slot links, the key's hash, and a tag: the segment (bits 0-1), hits
/// not yet added to the sketch (bits 2-5), and the slot's sequence number
/// in its segment (bits 6-31).
#[derive(Clone, Copy)]
struct Node {
    prev: u32,
    next: u32,
    hash: u32,
    tag: u32,
}

const SEG_BITS: u32 = 3;
const PENDING_SHIFT: u32 = 2;
const PENDING_BITS: u32 = 15 << PENDING_SHIFT;
/// Hits are added to the sketch in batches of this many (or sooner, when
/// the slot is compared, removed or snapshotted), so most hits touch only
/// the slot's node and its neighbours, not a sketch block.
const PENDING_BATCH: u32 = 16;
const SEQ_SHIFT: u32 = 6;
const SEQ_MASK: u32 = (1 << (32 - SEQ_SHIFT)) - 1;

impl Node {
    #[inline]
    fn seg(self) -> u32 {
        self.tag & SEG_BITS
    }

    #[inline]
    fn pending(self) -> u32 {
        (self.tag & PENDING_BITS) >> PENDING_SHIFT
    }

    #[inline]
    fn seq(self) -> u32 {
        self.tag >> SEQ_SHIFT
    }
}

const EMPTY_NODE: Node = Node {
    prev: NIL,
    next: NIL,
    hash: 0,
    tag: VACANT,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Seg {
    head: u32,
    tail: u32,
    len: usize,
    /// Slots pushed so far (mod 2^26): the next one's sequence number.
    pushed: u32,
    /// The head's sequence number (kept here so hits need not read the head).
    head_seq: u32,
}

const EMPTY_SEG: Seg = Seg {
    head: NIL,
    tail: NIL,
    len: 0,
    pushed: 0,
    head_seq: 0,
};

/// A count-min sketch of 4-bit counters in Caffeine's cache-friendly layout:
/// a key's four counters all lie in one 64-byte block (eight `u64`s), one in
/// each pair of words. Its frequency is the least of the four.
pub(crate) struct Sketch {
    /// The number of keys it was sized for.
    pub(super) entries: usize,
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
    /// A sketch for about `entries` keys, ageing every
    /// `AGEING_PERIOD × entries` counted increments.
    pub(crate) fn new(entries: usize) -> Self {
        Self::with_words(entries, SKETCH_WORDS * 2)
    }

    /// A sketch for about `entries` keys with `half_words` half-words (8
    /// counters each) per key, rounded up to a power of two words.
    pub(crate) fn with_words(entries: usize, half_words: usize) -> Self {
        let entries = entries.max(1);
        let len = (entries * half_words)
            .div_ceil(2)
            .next_power_of_two()
            .max(8);
        Self {
            entries,
            table: vec![0; len],
            block_mask: (len >> 3) - 1,
            additions: 0,
            period: AGEING_PERIOD * entries,
        }
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

    /// Counts one request for `hash` (saturating at 15); halves every
    /// counter once `period` increments have been counted.
    #[inline]
    pub(crate) fn increment(&mut self, hash: u32) {
        let mut added = 0;
        for (word, shift) in self.positions(hash) {
            let w = &mut self.table[word];
            let inc = u64::from((*w >> shift) & 15 != 15);
            *w += inc << shift;
            added |= inc;
        }
        if added != 0 {
            self.additions += 1;
            if self.additions >= self.period {
                self.age();
            }
        }
    }

    /// Counts `k` requests for `hash` at once: like `k` increments, except
    /// that ageing, if due, happens after all of them.
    #[inline]
    pub(crate) fn add(&mut self, hash: u32, k: u32) {
        let positions = self.positions(hash);
        let mut min = 15;
        for &(word, shift) in &positions {
            min = min.min((self.table[word] >> shift) & 15);
        }
        // Each of the k steps counts while some counter is below 15.
        let counted = u64::from(k).min(15 - min);
        if counted == 0 {
            return;
        }
        for (word, shift) in positions {
            let w = &mut self.table[word];
            let c = (*w >> shift) & 15;
            *w += (u64::from(k).min(15 - c)) << shift;
        }
        #[allow(clippy::cast_possible_truncation)]
        {
            self.additions += counted as usize;
        }
        if self.additions >= self.period {
            self.age();
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

/// A FIFO of the last `capacity` evicted keys' hashes, with O(1) membership.
pub(super) struct Ghost {
    ring: Vec<u32>,
    head: usize,
    len: usize,
    /// Hash -> how many times it is in `ring`.
    members: hashbrown::HashTable<(u32, u32)>,
}

#[inline]
fn ghost_hash(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

impl Ghost {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            ring: vec![0; capacity.max(1)],
            head: 0,
            len: 0,
            members: hashbrown::HashTable::with_capacity(capacity.max(1)),
        }
    }

    pub(super) fn capacity(&self) -> usize {
        self.ring.len()
    }

    pub(super) fn contains(&self, h: u32) -> bool {
        self.members.find(ghost_hash(h), |e| e.0 == h).is_some()
    }

    pub(super) fn push(&mut self, h: u32) {
        if self.len == self.ring.len() {
            let old = std::mem::replace(&mut self.ring[self.head], h);
            self.head = (self.head + 1) % self.ring.len();
            if let Ok(mut e) = self.members.find_entry(ghost_hash(old), |e| e.0 == old) {
                if e.get().1 > 1 {
                    e.get_mut().1 -= 1;
                } else {
                    e.remove();
                }
            }
        } else {
            let at = (self.head + self.len) % self.ring.len();
            self.ring[at] = h;
            self.len += 1;
        }
        match self.members.find_mut(ghost_hash(h), |e| e.0 == h) {
            Some(e) => e.1 += 1,
            None => {
                self.members
                    .insert_unique(ghost_hash(h), (h, 1), |e| ghost_hash(e.0));
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

/// The 32 bits the policy keeps of a key's hash, remixed so they do not
/// depend on the bits the shard selector and the hash table use.
#[inline]
pub(super) fn key_hash(hash: u64) -> u32 {
    #[allow(clippy::cast_possible_truncation)]
    let h = (splitmix(hash ^ 0x5851_f42d_4c95_7f2d) >> 32) as u32;
    h
}

/// The ghost lists' length for a capacity: about 5% of it, at least 24
/// entries (or a quarter of a tiny cache).
pub(super) fn ghost_len(cap: usize) -> usize {
    (cap / 20).max((cap / 4).min(24)).max(1)
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
    /// The window's share of `cap`.
    window_share: f64,
    window_max: usize,
    protected_max: usize,
    /// The hash of the last miss recorded, so the insert that follows it
    /// is not counted twice.
    pending_miss: Option<u32>,
    window_ghost: Ghost,
    main_ghost: Ghost,
    rng: fastrand::Rng,
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
            window_share: 0.0,
            window_max: 0,
            protected_max: 0,
            pending_miss: None,
            window_ghost: Ghost::new(1),
            main_ghost: Ghost::new(1),
            rng: fastrand::Rng::with_seed(seed),
        };
        p.resize_segments();
        p
    }

    fn len(&self) -> usize {
        self.segs.iter().map(|s| s.len).sum()
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
                .max(usize::from(self.cap < WINDOW_FLOOR_BELOW));
            let main = self.cap.saturating_sub(self.window_max) as f64;
            self.protected_max = (main * PROTECTED_SHARE) as usize;
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

    /// Notes that the cache is full at `cap` entries: the first time, and
    /// whenever that drifts (a byte budget, or no item bound).
    fn observe_capacity(&mut self, cap: usize) {
        let was_full = std::mem::replace(&mut self.full, true);
        let drift = cap.abs_diff(self.cap);
        if was_full && drift <= self.cap / 32 {
            return;
        }
        self.cap = cap;
        if self.cap > self.sketch.entries {
            self.sketch = Sketch::new(self.cap);
        }
        let g = ghost_len(self.cap);
        if !was_full || g.abs_diff(self.window_ghost.capacity()) > g / 4 {
            self.window_ghost = Ghost::new(g);
            self.main_ghost = Ghost::new(g);
        }
        // The segments catch up on the next insert or access: moving
        // entries now could carry the newcomer past its admission check.
        self.resize_segments();
    }

    #[inline]
    fn push_back(&mut self, idx: u32, seg: u32) {
        let s = &mut self.segs[seg as usize];
        let n = &mut self.nodes[idx as usize];
        n.tag = (s.pushed << SEQ_SHIFT) | (n.tag & PENDING_BITS) | seg;
        n.prev = s.tail;
        n.next = NIL;
        if s.tail == NIL {
            s.head = idx;
            s.head_seq = s.pushed;
        } else {
            self.nodes[s.tail as usize].next = idx;
        }
        s.pushed = (s.pushed + 1) & SEQ_MASK;
        s.tail = idx;
        s.len += 1;
    }

    #[inline]
    fn unlink(&mut self, idx: u32) {
        let n = self.nodes[idx as usize];
        let s = &mut self.segs[n.seg() as usize];
        if n.prev == NIL {
            s.head = n.next;
        } else {
            self.nodes[n.prev as usize].next = n.next;
        }
        if n.next == NIL {
            s.tail = n.prev;
        } else {
            let next = &mut self.nodes[n.next as usize];
            next.prev = n.prev;
            if n.prev == NIL {
                s.head_seq = next.seq();
            }
        }
        s.len -= 1;
        self.nodes[idx as usize] = Node {
            hash: n.hash,
            tag: (n.tag & PENDING_BITS) | VACANT,
            ..EMPTY_NODE
        };
    }

    /// Moves `idx` (in `seg`) to `seg`'s most recent end: the hit path.
    /// Protected keeps no sequence numbers (nothing measures depth there).
    #[inline(always)]
    fn move_to_tail(&mut self, idx: u32, seg: u32) {
        let Self { nodes, segs, .. } = self;
        let s = &mut segs[seg as usize];
        if s.tail == idx {
            return;
        }
        let Node { prev, next, .. } = nodes[idx as usize];
        // Not the tail, so `next` is a slot.
        let n_next = &mut nodes[next as usize];
        n_next.prev = prev;
        if prev == NIL {
            s.head = next;
            if seg != PROTECTED {
                s.head_seq = n_next.seq();
            }
        } else {
            nodes[prev as usize].next = next;
        }
        nodes[s.tail as usize].next = idx;
        let n = &mut nodes[idx as usize];
        n.prev = s.tail;
        n.next = NIL;
        if seg != PROTECTED {
            n.tag = (s.pushed << SEQ_SHIFT) | (n.tag & (PENDING_BITS | SEG_BITS));
            s.pushed = (s.pushed + 1) & SEQ_MASK;
        }
        s.tail = idx;
    }

    #[inline]
    fn move_to(&mut self, idx: u32, seg: u32) {
        self.unlink(idx);
        self.push_back(idx, seg);
    }

    /// Whether `candidate` should take `victim`'s place in main: its count
    /// without the request that brought it in must beat the victim's.
    fn admit(&mut self, candidate: u32, victim: u32) -> bool {
        let c = self.estimate(candidate);
        let v = self.estimate(victim);
        c > v.saturating_add(1) || (c >= WARM && self.rng.u16(..) & 1023 == 0)
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
            self.resize_segments();
            self.rebalance();
        }
    }

    /// A miss: if the key was evicted lately from the window (or from
    /// main), a larger window (or main) would have hit.
    fn on_miss(&mut self, h: u32) {
        self.sketch.increment(h);
        if self.full {
            if self.window_ghost.contains(h) {
                self.nudge(true);
            } else if self.main_ghost.contains(h) {
                self.nudge(false);
            }
        }
    }

    /// A live slot's estimated count: the sketch's, plus its hits not yet
    /// added to it (at most 15).
    #[inline]
    fn estimate(&self, idx: u32) -> u8 {
        let n = self.nodes[idx as usize];
        #[allow(clippy::cast_possible_truncation)]
        let pending = n.pending() as u8;
        self.sketch
            .frequency(n.hash)
            .saturating_add(pending)
            .min(15)
    }

    /// Adds a slot's pending hits to the sketch.
    fn flush(&mut self, idx: u32) {
        let n = &mut self.nodes[idx as usize];
        let pending = n.pending();
        n.tag &= !PENDING_BITS;
        let hash = n.hash;
        if pending > 0 {
            self.sketch.add(hash, pending);
        }
    }

    /// The sketch's estimate for a live slot's key (for snapshots).
    pub(crate) fn frequency(&self, idx: u32) -> u64 {
        u64::from(self.estimate(idx))
    }

    /// Raises the sketch's estimate for a live slot's key to at least
    /// `freq` (at most 15), so a restored entry keeps its standing.
    pub(crate) fn set_frequency(&mut self, idx: u32, freq: u64) {
        self.flush(idx);
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
        self.nodes[i] = Node {
            hash: h,
            ..EMPTY_NODE
        };
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
                self.sketch = Sketch::new((2 * sized).max(len).min(limit));
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
        let i = idx as usize;
        let Node { hash, tag, .. } = self.nodes[i];
        let seg = tag & SEG_BITS;
        // Count the hit in the node; every PENDING_BATCH hits go to the
        // sketch at once.
        if (tag & PENDING_BITS) >> PENDING_SHIFT == PENDING_BATCH - 1 {
            self.nodes[i].tag = tag & !PENDING_BITS;
            self.sketch.add(hash, PENDING_BATCH);
        } else {
            self.nodes[i].tag = tag + (1 << PENDING_SHIFT);
        }
        if seg == PROTECTED {
            self.move_to_tail(idx, PROTECTED);
            return;
        }
        if self.full {
            // A hit among the window's (probation's) least recent entries
            // would have been lost with a smaller window (main).
            let depth =
                (tag >> SEQ_SHIFT).wrapping_sub(self.segs[seg as usize].head_seq) & SEQ_MASK;
            if (depth as usize) < self.window_ghost.capacity() {
                self.nudge(seg == WINDOW);
            }
        }
        // Resizing may have moved it from the window to probation.
        if self.nodes[i].seg() == PROBATION {
            self.move_to(idx, PROTECTED);
            if self.segs[PROTECTED as usize].len > self.protected_max {
                let h = self.segs[PROTECTED as usize].head;
                self.move_to(h, PROBATION);
            }
        } else {
            self.move_to_tail(idx, WINDOW);
        }
    }

    fn record_miss(&mut self, hash: u64) {
        let h = key_hash(hash);
        self.pending_miss = Some(h);
        self.on_miss(h);
    }

    fn on_remove(&mut self, idx: u32) {
        self.unlink(idx);
        // The key's history outlives the entry.
        self.flush(idx);
    }

    fn victim(&mut self) -> Option<u32> {
        let len = self.len();
        if len == 0 {
            return None;
        }
        // Called over budget, with the newcomer in: the budget holds one less.
        self.observe_capacity((len - 1).max(1));
        let main = match self.segs[PROBATION as usize].head {
            NIL => self.segs[PROTECTED as usize].head,
            h => h,
        };
        let window = self.segs[WINDOW as usize];
        let (evict, ghost) = if main == NIL {
            (window.head, WINDOW)
        } else if window.len <= self.window_max {
            // The window is within its share: main gives up its least recent.
            (main, PROBATION)
        } else {
            // The window is over its share: its least recent entry leaves
            // it, into probation in place of main's victim, or out.
            let candidate = window.head;
            if self.admit(candidate, main) {
                self.move_to(candidate, PROBATION);
                (main, PROBATION)
            } else {
                (candidate, WINDOW)
            }
        };
        let h = self.nodes[evict as usize].hash;
        if ghost == WINDOW {
            self.window_ghost.push(h);
        } else {
            self.main_ghost.push(h);
        }
        Some(evict)
    }

    fn clear(&mut self) {
        self.nodes.clear();
        self.segs = [EMPTY_SEG; 3];
        self.pending_miss = None;
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
                assert_eq!(node.seg(), seg);
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
            assert_eq!(node.seg() == VACANT, !live.contains(&i));
        }
        assert!(p.segs[PROTECTED as usize].len <= p.protected_max);
        assert!(p.segs[WINDOW as usize].len <= p.window_max + 1);
    }

    /// Drives the policy like a shard with an item bound: a new slot goes in,
    /// then victims are asked for while over the bound; each must be live
    /// (the newcomer may be one: admission).
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
    fn sketch_ages_on_its_own_after_its_period() {
        let mut s = Sketch::new(16);
        for _ in 0..15 {
            s.increment(1);
        }
        assert_eq!(s.frequency(1), 15);
        // Distinct keys push the addition count to the period.
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum SketchOp {
            Increment(u32),
            Add(u32, u32),
            Age,
        }

        proptest! {
            #![proptest_config(ProptestConfig {
                cases: 200,
                failure_persistence: None,
                ..ProptestConfig::default()
            })]

            /// The sketch against a plain array of counters: every counter
            /// saturates at 15 without touching its neighbours, the
            /// estimate is the least of the key's four, ageing halves every
            /// counter, and it happens by itself once the period's worth of
            /// increments has been counted.
            #[test]
            fn sketch_matches_a_reference_model(
                entries in 1usize..40,
                ops in prop::collection::vec(
                    prop_oneof![
                        20 => (0u32..50).prop_map(SketchOp::Increment),
                        4 => (0u32..50, 1u32..9).prop_map(|(k, n)| SketchOp::Add(k, n)),
                        1 => Just(SketchOp::Age),
                    ],
                    1..600,
                ),
            ) {
                let mut s = Sketch::new(entries);
                let mut model = vec![0u8; s.table.len() * 16];
                let mut additions = 0usize;
                let halve = |model: &mut Vec<u8>, additions: &mut usize| {
                    let odd = model.iter().filter(|&&c| c & 1 == 1).count();
                    for c in model.iter_mut() {
                        *c /= 2;
                    }
                    *additions = additions.saturating_sub(odd / 4) / 2;
                };
                for op in &ops {
                    match *op {
                        SketchOp::Increment(k) => {
                            let mut added = false;
                            for (word, shift) in s.positions(k) {
                                let c = &mut model[word * 16 + shift as usize / 4];
                                if *c < 15 {
                                    *c += 1;
                                    added = true;
                                }
                            }
                            if added {
                                additions += 1;
                                if additions >= s.period {
                                    halve(&mut model, &mut additions);
                                }
                            }
                            s.increment(k);
                        }
                        SketchOp::Add(k, n) => {
                            // n steps, each counted while a counter is
                            // below 15; ageing (if due) after the last.
                            let mut counted = 0;
                            for _ in 0..n {
                                let mut added = false;
                                for (word, shift) in s.positions(k) {
                                    let c = &mut model[word * 16 + shift as usize / 4];
                                    if *c < 15 {
                                        *c += 1;
                                        added = true;
                                    }
                                }
                                counted += usize::from(added);
                            }
                            additions += counted;
                            if counted > 0 && additions >= s.period {
                                halve(&mut model, &mut additions);
                            }
                            s.add(k, n);
                        }
                        SketchOp::Age => {
                            halve(&mut model, &mut additions);
                            s.age();
                        }
                    }
                    prop_assert_eq!(s.counters().collect::<Vec<_>>(), model.clone());
                    prop_assert_eq!(s.additions, additions);
                    for k in 0..50 {
                        let min = s.positions(k).iter().map(|&(w, sh)| model[w * 16 + sh as usize / 4]).min().unwrap();
                        prop_assert_eq!(s.frequency(k), min);
                    }
                }
            }

            /// Random requests and removals under an item bound: after
            /// every step each live slot is in exactly one segment, the
            /// segments' links and lengths agree, the window and protected
            /// respect their maxima, the size respects the bound, and every
            /// victim named is a live slot (the driver asserts it).
            #[test]
            fn segments_hold_every_live_slot_exactly_once(
                cap in 1usize..24,
                ops in prop::collection::vec((0u32..60, 0u8..10), 1..400),
            ) {
                let mut d = Driver::new(cap);
                for &(k, what) in &ops {
                    if what == 0 {
                        d.remove(k);
                    } else {
                        // Skewed: half the requests go to a few keys.
                        d.request(if what < 5 { k % 6 } else { k });
                    }
                    prop_assert!(d.slot_of.len() <= cap);
                    check(&d.p, &d.live());
                    let order = d.p.eviction_order();
                    prop_assert_eq!(order.len(), d.slot_of.len());
                }
            }
        }
    }
}
