//! One shard: hash index + entry slab + policy + TTL index + tag index.
//!
//! The concurrent [`Cache`](crate::Cache) keeps each shard behind a
//! read-mostly lock. Writes (insert, remove, evict, invalidate) take it
//! exclusively. A hit takes it shared and never touches the policy
//! directly: it records the access in its thread's stripe of a small ring
//! buffer, and whoever fills a ring's worth applies the recorded accesses
//! to the policy if its lock is free. If it is not, they wait for the next
//! application, and a ring that laps before one loses its oldest (lossy
//! under contention; inserts and removals are never buffered). Every
//! exclusive operation applies the buffered accesses before anything
//! else, so with one thread each policy sees every access in order, and
//! names exactly the victim its definition names. Buffered slots are
//! always live: they are written under the shared lock, and every holder
//! of the exclusive lock applies and empties them before changing the
//! slab.
//!
//! A policy whose hits need no reordering (the adaptive policy) skips the
//! rings: a hit loads its slot's byte in the shard's `Marks` and stores it
//! plus one, under the shared lock; the policy reads and rewrites those
//! bytes only under the exclusive lock, so single-threaded replays are
//! exact, and concurrent hits on one slot may lose a count, never an
//! insert or a removal.
//!
//! Nothing here allocates on a hit or runs user code other than `Clone` of
//! a returned key or value; removed entries are dropped (and listeners
//! told) by the cache after releasing the lock.

use std::borrow::Borrow;
use std::hash::Hash;
use std::num::NonZeroU64;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use hashbrown::HashTable;

use crate::events::RemovalCause;
use crate::expiry::{NEVER, TtlIndex};
use crate::policy::{AnyPolicy, Marks, Policy, PolicyMut, Reads};
use crate::singleflight::{Flight, Flights, Joined, thread_token};
use crate::slab::{NIL, Slab};
use crate::stats::Stats;
use crate::sync::{AtomicU32, AtomicU64, Mutex, Padded};
use crate::tags::TagIndex;

pub(crate) use crate::tags::Tag;

/// One slot's entry. Five words beside the key and value for a plain
/// entry: what only some entries need (tags, a weight past `u32`) is out
/// of line, allocated only for those.
pub(crate) struct Entry<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    /// The key's hash in the index's form (see [`index_hash`]): never
    /// zero, which gives `Option<Entry>` a niche, so a slab slot costs no
    /// discriminant.
    hash: NonZeroU64,
    /// Clock nanoseconds at which the entry stops being fresh, or `NEVER`.
    pub(crate) expires_at: u64,
    /// Where this slot sits in the shard's [`TtlIndex`], or `NIL`.
    ttl_pos: u32,
    /// The weight, or `u32::MAX` when it is too large and kept in `extra`.
    small_weight: u32,
    extra: Option<Box<Extra>>,
}

/// The rarely needed part of an entry.
struct Extra {
    weight: u64,
    tags: Box<[Tag]>,
}

/// The hash the index files a key under: its lowest bit set, so it is
/// never zero. hashbrown starts probing at the low bits (a fixed bit only
/// moves the start within a probe group) and filters on the top seven.
#[inline]
fn index_hash(hash: u64) -> NonZeroU64 {
    NonZeroU64::new(hash | 1).expect("not zero")
}

impl<K, V> Entry<K, V> {
    fn new(hash: u64, key: K, value: V, weight: u64, tags: Option<Box<[Tag]>>) -> Self {
        let (small_weight, extra) = pack(weight, tags);
        Self {
            key,
            value,
            hash: index_hash(hash),
            expires_at: NEVER,
            ttl_pos: NIL,
            small_weight,
            extra,
        }
    }

    pub(crate) fn weight(&self) -> u64 {
        match &self.extra {
            Some(x) if self.small_weight == u32::MAX => x.weight,
            _ => u64::from(self.small_weight),
        }
    }

    /// The tags it carries (empty for most entries).
    pub(crate) fn tags(&self) -> &[Tag] {
        self.extra.as_deref().map_or(&[], |x| &x.tags)
    }

    /// Replaces weight and tags; returns the old ones.
    fn replace_weight_and_tags(
        &mut self,
        weight: u64,
        tags: Option<Box<[Tag]>>,
    ) -> (u64, Box<[Tag]>) {
        let old_weight = self.weight();
        let (small, extra) = pack(weight, tags);
        self.small_weight = small;
        let old = std::mem::replace(&mut self.extra, extra);
        (old_weight, old.map(|x| x.tags).unwrap_or_default())
    }
}

/// Splits a weight and tags into the inline weight and the out-of-line
/// part, allocated only when there are tags or the weight needs 64 bits.
fn pack(weight: u64, tags: Option<Box<[Tag]>>) -> (u32, Option<Box<Extra>>) {
    let tags = tags.filter(|t| !t.is_empty());
    let small = u32::try_from(weight).unwrap_or(u32::MAX);
    let extra = (tags.is_some() || small == u32::MAX).then(|| {
        Box::new(Extra {
            weight,
            tags: tags.unwrap_or_default(),
        })
    });
    (small, extra)
}

/// An entry taken out under the lock, to be reported and dropped after it.
pub(crate) struct Removed<K, V> {
    pub(crate) key: K,
    pub(crate) value: V,
    pub(crate) cause: RemovalCause,
}

/// Removals collected during one locked operation. Most operations remove
/// zero or one entry, so the first lives inline and costs no allocation.
pub(crate) struct Evicted<K, V> {
    first: Option<Removed<K, V>>,
    rest: Vec<Removed<K, V>>,
}

impl<K, V> Evicted<K, V> {
    pub(crate) fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, r: Removed<K, V>) {
        if self.first.is_none() {
            self.first = Some(r);
        } else {
            self.rest.push(r);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Removed<K, V>> {
        self.first.iter().chain(&self.rest)
    }

    pub(crate) fn into_iter(self) -> impl Iterator<Item = Removed<K, V>> {
        self.first.into_iter().chain(self.rest)
    }
}

/// An entry to store, as [`Shard::store`] takes it.
pub(crate) struct Item<K, V> {
    pub(crate) hash: u64,
    pub(crate) key: K,
    pub(crate) value: V,
    /// Clock nanoseconds, or `NEVER`.
    pub(crate) expires_at: u64,
    pub(crate) weight: u64,
    pub(crate) tags: Option<Box<[Tag]>>,
}

/// Where [`Shard::store`] puts a key that is already present.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// The new value takes the old one's place, as an access (inserts).
    InPlace,
    /// The old entry goes first (as a replacement), so the new one lands
    /// where a new key would (snapshot restores keep the saved order).
    AsNew,
}

/// How fresh a found entry is.
pub(crate) enum Found {
    Fresh(u32),
    /// Past its TTL but inside the stale-while-revalidate window.
    Stale(u32),
    Absent,
}

/// Whether `e` has not reached its deadline (stale entries are not fresh).
#[inline]
fn is_fresh<K, V>(e: &Entry<K, V>, now: u64) -> bool {
    e.expires_at == NEVER || now < e.expires_at
}

pub(crate) struct Limits {
    pub(crate) max_items: Option<usize>,
    pub(crate) max_weight: Option<u64>,
    /// How long past `expires_at` an entry is kept to be served stale.
    pub(crate) stale_nanos: u64,
}

/// Accesses a stripe holds before they are applied to the policy. Test
/// builds use a small buffer, so that the model-checked tests reach full
/// stripes and their drains in a few operations.
#[cfg(not(test))]
const READ_BUFFER: usize = 16;
#[cfg(test)]
const READ_BUFFER: usize = 3;

/// One thread-stripe of a shard's read bookkeeping: a ring of accesses
/// not yet applied to the policy, and the reads counted here. A hit costs
/// one atomic add and one store to it; threads share a stripe only when
/// there are more of them than stripes.
struct ReadStripe {
    /// Hits recorded here since the counters were reset; also the ring
    /// position of the next access.
    tail: AtomicU64,
    /// The first position not yet applied. Written only by whoever
    /// applies: a reader holding the policy lock, or an exclusive holder.
    head: AtomicU64,
    /// Slot + 1 of each recorded access; 0 once applied.
    cells: [AtomicU32; READ_BUFFER],
    /// `tail` when an exclusive holder last emptied the cells: every
    /// cell written since is at a position from here on.
    clean: u64,
    /// Hits counted here without an access to record (joined waiters).
    other_hits: AtomicU64,
    misses: AtomicU64,
}

impl ReadStripe {
    fn new() -> Self {
        Self {
            tail: AtomicU64::new(0),
            head: AtomicU64::new(0),
            clean: 0,
            cells: std::array::from_fn(|_| AtomicU32::new(0)),
            other_hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Applies the accesses recorded since the last application, oldest
    /// first (at most a ring's worth: older ones were overwritten). A cell
    /// whose writer has not stored yet reads 0 and is skipped; its access
    /// is applied with the next lap, or dropped.
    fn apply(&self, policy: &mut AnyPolicy) {
        let tail = self.tail.load(Ordering::Acquire);
        let head = self
            .head
            .load(Ordering::Relaxed)
            .max(tail.saturating_sub(READ_BUFFER as u64));
        let mut batch = [0u32; READ_BUFFER];
        let mut n = 0;
        for pos in head..tail {
            let cell = self.cells[ring(pos)].swap(0, Ordering::Acquire);
            if cell != 0 {
                batch[n] = cell - 1;
                n += 1;
            }
        }
        policy.on_accesses(&batch[..n]);
        self.head.store(tail, Ordering::Relaxed);
    }

    /// [`Self::apply`] for an exclusive holder, which also empties every
    /// cell written since it last did (a writer that stored after a
    /// reader's application left one behind): afterwards no cell names a
    /// slot that the holder may remove.
    fn apply_all(&mut self, policy: &mut AnyPolicy) {
        let tail = *self.tail.get_mut();
        if tail == self.clean {
            return; // no cell written since they were last emptied
        }
        let lap = tail.saturating_sub(READ_BUFFER as u64);
        for pos in (*self.head.get_mut()).max(lap)..tail {
            let cell = *self.cells[ring(pos)].get_mut();
            if cell != 0 {
                policy.on_accesses(&[cell - 1]);
            }
        }
        for pos in self.clean.max(lap)..tail {
            *self.cells[ring(pos)].get_mut() = 0;
        }
        *self.head.get_mut() = tail;
        self.clean = tail;
    }
}

/// A ring position's cell.
#[inline]
#[allow(clippy::cast_possible_truncation)]
fn ring(pos: u64) -> usize {
    (pos % READ_BUFFER as u64) as usize
}

pub(crate) struct Shard<K, V> {
    table: HashTable<u32>,
    slab: Slab<Entry<K, V>>,
    /// Locked only by readers draining the read buffer; exclusive holders
    /// of the shard reach it without locking.
    policy: Mutex<AnyPolicy>,
    /// A power-of-two number of stripes, each on its own cache lines.
    reads: Box<[Padded<ReadStripe>]>,
    /// How a hit reaches the policy: not at all (FIFO, Random), through
    /// the read stripes, or by marking its slot in `marks` (adaptive).
    read_kind: Reads,
    /// Per-slot hit counters for policies that mark reads in place (empty
    /// for the others).
    marks: Marks,
    /// Slots that carry a deadline, for the sweeper's random sampling.
    ttl: TtlIndex,
    tags: TagIndex,
    weight: u64,
    limits: Limits,
    rng: fastrand::Rng,
    /// What exclusive holders count; hits and misses counted under the
    /// shared lock are in the stripes.
    counters: Stats,
    /// Computations in flight for keys of this shard.
    flights: Flights<K, V>,
}

impl<K, V> Shard<K, V> {
    pub(crate) fn new(policy: Policy, limits: Limits, seed: u64) -> Self {
        Self::with_stripes(policy, limits, seed, read_stripes())
    }

    pub(crate) fn with_stripes(policy: Policy, limits: Limits, seed: u64, stripes: usize) -> Self {
        debug_assert!(stripes.is_power_of_two());
        let policy = AnyPolicy::new(policy, seed, limits.max_items);
        Self {
            read_kind: policy.reads(),
            marks: Marks::default(),
            table: HashTable::new(),
            slab: Slab::default(),
            policy: Mutex::new(policy),
            reads: (0..stripes).map(|_| Padded(ReadStripe::new())).collect(),
            ttl: TtlIndex::default(),
            tags: TagIndex::default(),
            weight: 0,
            limits,
            rng: fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15),
            counters: Stats::default(),
            flights: Flights::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    #[cfg(test)]
    pub(crate) fn entry(&self, idx: u32) -> &Entry<K, V> {
        self.slab.get(idx)
    }

    /// Slots from the first the policy would evict to the last.
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn eviction_order(&mut self) -> Vec<u32> {
        self.policy().eviction_order()
    }

    /// A slot's access count, where the policy keeps one (LFU).
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn frequency(&mut self, idx: u32) -> Option<u64> {
        self.policy().frequency(idx)
    }

    /// Sets a slot's access count where the policy keeps one (LFU), making
    /// it the newest entry at that count; a no-op for other policies.
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn set_frequency(&mut self, idx: u32, freq: u64) {
        self.policy().set_frequency(idx, freq);
    }

    /// The policy, with every buffered access applied first: the only way
    /// an exclusive holder reaches it, so no decision misses an access.
    #[inline]
    fn policy(&mut self) -> PolicyMut<'_, impl Fn(u32) -> u64 + '_> {
        let policy = self.policy.get_mut();
        for stripe in &mut self.reads {
            stripe.0.apply_all(policy);
        }
        let slab = &self.slab;
        PolicyMut {
            policy,
            marks: &mut self.marks,
            hash_of: move |idx| slab.get(idx).hash.get(),
        }
    }

    /// Marks a read for the policy (exclusive holders).
    #[inline]
    fn touch(&mut self, idx: u32) {
        self.policy().on_access(idx);
    }

    /// Counts a hit on slot `idx` found under the shared lock, and records
    /// the access for the policy in this thread's stripe. Whoever fills a
    /// ring's worth applies every stripe to the policy if its lock is
    /// free; if another thread holds it, the accesses wait for the next
    /// application, and a ring that laps before one is overwritten (lossy
    /// under contention only: with one thread every ring is applied as it
    /// fills, and every exclusive operation applies them all first).
    #[inline]
    fn record_hit(&self, idx: u32) {
        let s = self.my_stripe();
        let t = s.tail.fetch_add(1, Ordering::Relaxed);
        match self.read_kind {
            Reads::Marked => self.marks.hit(idx),
            Reads::Buffered => {
                s.cells[ring(t)].store(idx + 1, Ordering::Release);
                if ring(t + 1) == 0 {
                    self.apply_reads();
                }
            }
            Reads::Ignored => {}
        }
    }

    #[cold]
    fn apply_reads(&self) {
        if let Some(mut policy) = self.policy.try_lock() {
            for stripe in &*self.reads {
                stripe.0.apply(&mut policy);
            }
        }
    }

    /// This thread's stripe.
    #[inline]
    fn my_stripe(&self) -> &ReadStripe {
        #[allow(clippy::cast_possible_truncation)]
        let mine = thread_token() as usize & (self.reads.len() - 1);
        &self.reads[mine].0
    }

    /// Counts a hit (exclusive holders).
    fn count_hit(&mut self) {
        self.counters.hits += 1;
    }

    /// Counts a miss (exclusive holders).
    fn count_miss(&mut self) {
        self.counters.misses += 1;
    }

    /// Counts a hit under the shared lock, in this thread's stripe.
    pub(crate) fn count_hit_shared(&self) {
        self.my_stripe().other_hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a miss under the shared lock, in this thread's stripe.
    pub(crate) fn count_miss_shared(&self) {
        self.my_stripe().misses.fetch_add(1, Ordering::Relaxed);
    }

    /// Every counter, the stripes' summed in, and the shard's sizes.
    pub(crate) fn stats(&self) -> Stats {
        let mut c = self.counters;
        c.len = self.slab.len();
        c.bytes = self.weight;
        for stripe in &*self.reads {
            let s = &stripe.0;
            c.hits += s.tail.load(Ordering::Relaxed) + s.other_hits.load(Ordering::Relaxed);
            c.misses += s.misses.load(Ordering::Relaxed);
        }
        c
    }

    /// Zeroes every counter, the stripes' included (their rings restart
    /// empty, after being applied).
    pub(crate) fn reset_counters(&mut self) {
        self.policy();
        self.counters = Stats::default();
        for stripe in &mut self.reads {
            let s = &mut stripe.0;
            for a in [&mut s.tail, &mut s.head, &mut s.other_hits, &mut s.misses] {
                *a.get_mut() = 0;
            }
            s.clean = 0;
        }
    }

    /// Tells the policy that a read of the key with `hash` missed (found
    /// nothing fresh), for policies that count requests (TinyLFU).
    #[inline]
    fn record_miss(&mut self, hash: u64) {
        self.policy().record_miss(hash);
    }

    #[inline]
    fn is_dead(&self, e: &Entry<K, V>, now: u64) -> bool {
        e.expires_at != NEVER && now >= e.expires_at.saturating_add(self.limits.stale_nanos)
    }

    /// Removes a slot on any path, keeping every index consistent.
    fn remove_idx(&mut self, idx: u32, cause: RemovalCause) -> Removed<K, V> {
        self.policy().on_remove(idx);
        let e = self.slab.remove(idx);
        if let Ok(found) = self.table.find_entry(e.hash.get(), |&i| i == idx) {
            found.remove();
        }
        if e.ttl_pos != NIL {
            self.ttl_unlink(e.ttl_pos);
        }
        if !e.tags().is_empty() {
            self.untag(idx, e.tags());
        }
        self.weight -= e.weight();
        match cause {
            RemovalCause::Size => self.counters.evictions += 1,
            RemovalCause::Expired => self.counters.expirations += 1,
            RemovalCause::Explicit => self.counters.invalidations += 1,
            RemovalCause::Replaced => {}
        }
        Removed {
            key: e.key,
            value: e.value,
            cause,
        }
    }

    fn ttl_unlink(&mut self, pos: u32) {
        if let Some(moved) = self.ttl.unlink(pos) {
            self.slab.get_mut(moved).ttl_pos = pos;
        }
    }

    fn ttl_link(&mut self, idx: u32) {
        let pos = self.ttl.link(idx);
        self.slab.get_mut(idx).ttl_pos = pos;
    }

    fn set_deadline(&mut self, idx: u32, expires_at: u64) {
        let e = self.slab.get_mut(idx);
        let had = e.ttl_pos;
        e.expires_at = expires_at;
        match (had != NIL, expires_at != NEVER) {
            (false, true) => self.ttl_link(idx),
            (true, false) => {
                self.slab.get_mut(idx).ttl_pos = NIL;
                self.ttl_unlink(had);
            }
            _ => {}
        }
    }

    fn untag(&mut self, idx: u32, tags: &[Tag]) {
        self.tags.remove(idx, tags);
    }

    /// Indexes the tags slot `idx` carries (no allocation when it has none).
    fn tag(&mut self, idx: u32) {
        self.tags.add(idx, self.slab.get(idx).tags());
    }

    /// Evicts policy victims until `extra_items` more entries of
    /// `extra_weight` would fit. Returns whether `keep` (a slot, or `NIL`)
    /// survived.
    fn make_room(
        &mut self,
        extra_items: usize,
        extra_weight: u64,
        keep: u32,
        out: &mut Evicted<K, V>,
    ) -> bool {
        let mut kept = true;
        loop {
            let over_items = self
                .limits
                .max_items
                .is_some_and(|m| self.slab.len() + extra_items > m);
            let over_weight = self
                .limits
                .max_weight
                .is_some_and(|m| self.weight + extra_weight > m);
            if !(over_items || over_weight) {
                return kept;
            }
            let Some(victim) = self.policy().victim() else {
                return kept;
            };
            kept &= victim != keep;
            out.push(self.remove_idx(victim, RemovalCause::Size));
        }
    }

    /// Whether one entry of `weight` can ever fit in this shard.
    pub(crate) fn fits(&self, weight: u64) -> bool {
        self.limits.max_weight.is_none_or(|m| weight <= m)
            && self.limits.max_items.is_none_or(|m| m > 0)
    }
}

impl<K: Eq + Hash, V> Shard<K, V> {
    #[inline]
    pub(crate) fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.table
            .find(index_hash(hash).get(), |&i| {
                self.slab.get(i).key.borrow() == key
            })
            .copied()
    }

    /// A read under the shared lock: the entry for `key` if it is present
    /// and fresh, counted as a hit and its access recorded for the policy.
    /// Anything else (absent, stale, expired) is left to the exclusive
    /// path, which counts it and removes what is dead.
    #[inline(always)]
    pub(crate) fn hit<Q>(
        &self,
        hash: u64,
        key: &Q,
        now: impl FnOnce(u64) -> u64,
    ) -> Option<&Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let idx = self.find_fresh(hash, key, now)?;
        self.record_hit(idx);
        Some(self.slab.get(idx))
    }

    /// The slot of `key` if it is present and fresh (not stale), under the
    /// shared lock: nothing is removed, counted or touched.
    #[inline(always)]
    fn find_fresh<Q>(&self, hash: u64, key: &Q, now: impl FnOnce(u64) -> u64) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let idx = self.find(hash, key)?;
        let expires_at = self.slab.get(idx).expires_at;
        (expires_at == NEVER || now(expires_at) < expires_at).then_some(idx)
    }

    /// Finds `key` and classifies it; a dead entry is removed on the spot
    /// (lazy expiry). `now(deadline)` is called only for entries that carry
    /// a deadline, and must be exact near it (it may be coarse far from it).
    #[inline]
    fn lookup<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: impl FnOnce(u64) -> u64,
        out: &mut Evicted<K, V>,
    ) -> Found
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Some(idx) = self.find(hash, key) else {
            return Found::Absent;
        };
        let expires_at = self.slab.get(idx).expires_at;
        if expires_at == NEVER {
            return Found::Fresh(idx);
        }
        let now = now(expires_at);
        if now < expires_at {
            Found::Fresh(idx)
        } else if now < expires_at.saturating_add(self.limits.stale_nanos) {
            Found::Stale(idx)
        } else {
            out.push(self.remove_idx(idx, RemovalCause::Expired));
            Found::Absent
        }
    }

    /// Stores an item: the one path for inserts, singleflight results and
    /// snapshot restores. An entry for the key past its deadline (and
    /// stale window) is removed first as expired, whether or not a read
    /// has noticed yet, so the new value is a fresh insert rather than a
    /// replacement inheriting its policy rank. `now(deadline)` is called
    /// only for an old entry that carries a deadline.
    ///
    /// Returns the entry's slot (`None` if the policy declined it at once,
    /// see [`Self::insert`]), or gives the pair back when it alone
    /// outweighs the shard's budget: it is then counted as a rejection and
    /// any old value for the key is dropped too, so no stale value
    /// survives.
    pub(crate) fn store(
        &mut self,
        item: Item<K, V>,
        place: Place,
        now: impl FnOnce(u64) -> u64,
        out: &mut Evicted<K, V>,
    ) -> Result<Option<u32>, (K, V)> {
        let Item {
            hash,
            key,
            value,
            expires_at,
            weight,
            tags,
        } = item;
        let live = match self.lookup(hash, &key, now, out) {
            Found::Fresh(idx) | Found::Stale(idx) => Some(idx),
            Found::Absent => None,
        };
        let fits = self.fits(weight);
        if let Some(idx) = live
            && (place == Place::AsNew || !fits)
        {
            out.push(self.remove_idx(idx, RemovalCause::Replaced));
        }
        if !fits {
            self.counters.rejections += 1;
            return Err((key, value));
        }
        Ok(self.insert(hash, key, value, expires_at, weight, tags, out))
    }

    /// Stores `key -> value`. The caller has checked [`Self::fits`].
    /// Replacing keeps the entry's place in the policy (as an access).
    ///
    /// Returns the entry's slot, or `None` if the policy evicted the new
    /// entry at once (TinyLFU declining to admit it: the eviction is in
    /// `out`, cause [`RemovalCause::Size`]). Other policies evict before
    /// inserting, so a new key is never its own victim there.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        expires_at: u64,
        weight: u64,
        tags: Option<Box<[Tag]>>,
        out: &mut Evicted<K, V>,
    ) -> Option<u32> {
        self.counters.inserts += 1;
        if let Some(idx) = self.find(hash, &key) {
            let e = self.slab.get_mut(idx);
            let old_value = std::mem::replace(&mut e.value, value);
            let (old_weight, old_tags) = e.replace_weight_and_tags(weight, tags);
            self.weight = self.weight - old_weight + weight;
            if !old_tags.is_empty() {
                self.untag(idx, &old_tags);
            }
            self.tag(idx);
            self.set_deadline(idx, expires_at);
            self.policy().on_access(idx);
            out.push(Removed {
                key,
                value: old_value,
                cause: RemovalCause::Replaced,
            });
            // A heavier value may push others (or, if the policy ranks it
            // lowest, itself) out.
            return self.make_room(0, 0, idx, out).then_some(idx);
        }
        let after = self.policy().evicts_after_insert();
        if !after {
            self.make_room(1, weight, NIL, out);
        }
        let idx = self.slab.insert(Entry::new(hash, key, value, weight, tags));
        let slab = &self.slab;
        self.table
            .insert_unique(index_hash(hash).get(), idx, |&i| slab.get(i).hash.get());
        self.weight += weight;
        if expires_at != NEVER {
            self.set_deadline(idx, expires_at);
        }
        self.tag(idx);
        self.policy().on_insert(idx, hash);
        if after && !self.make_room(0, 0, idx, out) {
            return None;
        }
        Some(idx)
    }

    /// Removes `key` on request, and keeps the result of a computation in
    /// flight for it out of the cache. An entry already past its TTL goes
    /// as expired, as a read would have found it gone.
    pub(crate) fn remove<Q>(&mut self, hash: u64, key: &Q, now: u64) -> Option<Removed<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.flights.doom_key(hash, key);
        let idx = self.find(hash, key)?;
        let cause = if is_fresh(self.slab.get(idx), now) {
            RemovalCause::Explicit
        } else {
            RemovalCause::Expired
        };
        Some(self.remove_idx(idx, cause))
    }

    /// Removes the deadline of a fresh entry; whether it had one.
    pub(crate) fn persist<Q>(&mut self, hash: u64, key: &Q, now: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let has_ttl = self
            .find(hash, key)
            .is_some_and(|idx| self.slab.get(idx).expires_at != NEVER);
        has_ttl && self.set_expiry(hash, key, now, NEVER)
    }

    /// Sets (or with `NEVER`, clears) the deadline of a live entry.
    pub(crate) fn set_expiry<Q>(&mut self, hash: u64, key: &Q, now: u64, expires_at: u64) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.find(hash, key) {
            // Not a stale one either: reviving it would resurrect a value
            // that plain reads already treat as gone.
            Some(idx) if is_fresh(self.slab.get(idx), now) => {
                self.set_deadline(idx, expires_at);
                true
            }
            _ => false,
        }
    }

    /// Tells the policy about reads that missed (found nothing fresh), for
    /// policies that count requests (TinyLFU): a batch's misses at once.
    pub(crate) fn record_misses(&mut self, hashes: &[u64]) {
        for &h in hashes {
            self.record_miss(h);
        }
    }

    /// Registers a refresh of `key` as its computation in flight, unless
    /// one runs already (`None`): callers that miss meanwhile wait for it,
    /// and an invalidation meanwhile keeps its result out.
    pub(crate) fn start_refresh(&mut self, hash: u64, key: &K, me: Option<u64>) -> Option<u64>
    where
        K: Clone,
    {
        (!self.flights.is_running(hash, key)).then(|| self.flights.start(hash, key.clone(), me))
    }

    /// Replaces the value of a fresh entry with what `update` makes of the
    /// old one, keeping its deadline, tags and weight: an access and an
    /// insert. A stale entry is removed as expired (a counter's window is
    /// over once its TTL is). `None` when no fresh entry was there; else
    /// the old value, or `update`'s error with the entry left as it was.
    pub(crate) fn update_fresh<Q, E>(
        &mut self,
        hash: u64,
        key: &Q,
        now: impl FnOnce(u64) -> u64,
        update: impl FnOnce(&V) -> Result<V, E>,
        out: &mut Evicted<K, V>,
    ) -> Option<Result<V, E>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let idx = match self.lookup(hash, key, now, out) {
            Found::Fresh(idx) => idx,
            Found::Stale(idx) => {
                out.push(self.remove_idx(idx, RemovalCause::Expired));
                return None;
            }
            Found::Absent => return None,
        };
        let e = self.slab.get_mut(idx);
        let new = match update(&e.value) {
            Ok(v) => v,
            Err(err) => return Some(Err(err)),
        };
        let old = std::mem::replace(&mut e.value, new);
        self.counters.inserts += 1;
        self.policy().on_access(idx);
        Some(Ok(old))
    }

    /// Marks a fresh entry as just used, for the policy, and with
    /// `expires_at` gives it that deadline (`NEVER`: none). Whether there
    /// was one.
    pub(crate) fn touch_key<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: u64,
        expires_at: Option<u64>,
    ) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.find(hash, key) {
            Some(idx) if is_fresh(self.slab.get(idx), now) => {
                self.policy().on_access(idx);
                if let Some(at) = expires_at {
                    self.set_deadline(idx, at);
                }
                true
            }
            _ => false,
        }
    }

    /// Adds `tags` to a fresh entry (those it carries already are not
    /// repeated). Whether there was one.
    pub(crate) fn add_tags<Q>(&mut self, hash: u64, key: &Q, now: u64, tags: &[Tag]) -> bool
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let Some(idx) = self
            .find(hash, key)
            .filter(|&i| is_fresh(self.slab.get(i), now))
        else {
            return false;
        };
        let e = self.slab.get(idx);
        let mut merged: Vec<Tag> = e.tags().to_vec();
        let before = merged.len();
        for t in tags {
            if !merged.contains(t) {
                merged.push(t.clone());
            }
        }
        if merged.len() > before {
            let weight = e.weight();
            let new = merged[before..].to_vec();
            self.slab
                .get_mut(idx)
                .replace_weight_and_tags(weight, Some(merged.into_boxed_slice()));
            self.tags.add(idx, &new);
        }
        true
    }

    /// Removes every entry carrying `tag`; returns how many were fresh.
    fn invalidate_tag(&mut self, tag: &str, now: u64, out: &mut Evicted<K, V>) -> usize {
        let Some(slots) = self.tags.take(tag) else {
            return 0;
        };
        slots
            .into_iter()
            .filter(|&idx| self.invalidate_idx(idx, now, out))
            .count()
    }

    /// Removes every entry whose key satisfies `pred`, and keeps the
    /// results of computations in flight for such keys out; returns how
    /// many entries were fresh.
    pub(crate) fn invalidate_where(
        &mut self,
        mut pred: impl FnMut(&K) -> bool,
        now: u64,
        out: &mut Evicted<K, V>,
    ) -> usize {
        self.flights.doom_where(&mut pred);
        let doomed: Vec<u32> = self
            .slab
            .iter()
            .filter(|(_, e)| pred(&e.key))
            .map(|(i, _)| i)
            .collect();
        doomed
            .into_iter()
            .filter(|&idx| self.invalidate_idx(idx, now, out))
            .count()
    }

    /// Removes one slot on request. An entry already past its TTL is
    /// reported as expired and not counted, as a read would have found it
    /// gone: lazy expiry must not change what invalidation reports.
    fn invalidate_idx(&mut self, idx: u32, now: u64, out: &mut Evicted<K, V>) -> bool {
        let fresh = is_fresh(self.slab.get(idx), now);
        let cause = if fresh {
            RemovalCause::Explicit
        } else {
            RemovalCause::Expired
        };
        out.push(self.remove_idx(idx, cause));
        fresh
    }

    /// Empties the shard. Computations in flight finish, but their
    /// results are not stored.
    pub(crate) fn clear(&mut self, out: &mut Evicted<K, V>) {
        self.flights.doom_where(|_| true);
        let n = self.slab.len() as u64;
        self.table.clear();
        self.policy().clear();
        self.ttl.clear();
        self.tags.clear();
        self.weight = 0;
        self.counters.invalidations += n;
        for e in self.slab.drain() {
            out.push(Removed {
                key: e.key,
                value: e.value,
                cause: RemovalCause::Explicit,
            });
        }
    }

    /// One Redis-style sampling round: look at up to `samples` random
    /// entries that carry a deadline and remove the dead ones.
    /// Returns `(sampled, removed)`.
    pub(crate) fn sweep(
        &mut self,
        now: u64,
        samples: usize,
        out: &mut Evicted<K, V>,
    ) -> (usize, usize) {
        let n = samples.min(self.ttl.len());
        let mut removed = 0;
        for _ in 0..n {
            let Some(idx) = self.ttl.sample(&mut self.rng) else {
                break;
            };
            if self.is_dead(self.slab.get(idx), now) {
                out.push(self.remove_idx(idx, RemovalCause::Expired));
                removed += 1;
            }
        }
        (n, removed)
    }

    /// Asserts that every index agrees with the slab (tests only).
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        assert_eq!(self.table.len(), self.slab.len());
        let mut weight = 0;
        let mut with_ttl = 0;
        for (idx, e) in self.slab.iter() {
            assert_eq!(self.find_idx_by_hash(e.hash.get(), idx), Some(idx));
            weight += e.weight();
            if e.expires_at != NEVER {
                with_ttl += 1;
                assert_eq!(self.ttl.at(e.ttl_pos), idx);
            } else {
                assert_eq!(e.ttl_pos, NIL);
            }
            for t in e.tags() {
                assert!(self.tags.contains(t, idx));
            }
        }
        assert_eq!(weight, self.weight);
        assert_eq!(with_ttl, self.ttl.len());
        for (t, i) in self.tags.pairs() {
            assert!(self.slab.get(i).tags().iter().any(|x| x == t));
        }
        let mut order = crate::policy::eviction_order(&self.policy.lock(), &self.marks);
        assert_eq!(order.len(), self.slab.len());
        order.sort_unstable();
        order.dedup();
        assert_eq!(order.len(), self.slab.len());
        if let Some(m) = self.limits.max_items {
            assert!(self.slab.len() <= m);
        }
        if let Some(m) = self.limits.max_weight {
            assert!(self.weight <= m);
        }
    }

    #[cfg(test)]
    fn find_idx_by_hash(&self, hash: u64, idx: u32) -> Option<u32> {
        self.table.find(hash, |&i| i == idx).copied()
    }
}

/// What [`Shard::begin`] decided for a caller of the read-through whose
/// shared-lock read found nothing fresh.
pub(crate) enum Begun<'a, K, V> {
    /// A fresh entry, or a stale one that another caller is refreshing:
    /// counted as a hit.
    Hit(&'a Entry<K, V>),
    /// Wait on the computation in flight (its id names it in the
    /// wait-for table); counted when the wait ends.
    Wait(Arc<Flight<V>>, u64),
    /// The caller's own thread computes this key: counted as a miss.
    Recursive,
    /// The caller leads a new computation with this id: counted as a miss.
    Lead(u64),
    /// A stale entry nobody refreshes: served (counted as a hit) while the
    /// caller starts computation `id` to refresh it off its own path.
    Revalidate(&'a Entry<K, V>, u64),
}

/// The operations the cache calls under the exclusive lock, each counting
/// and telling the policy what it did.
impl<K: Eq + Hash, V> Shard<K, V> {
    /// A read under the exclusive lock, after the shared path found nothing
    /// fresh: looks again (the key may have arrived meanwhile), removes a
    /// dead entry, and counts a hit (an access for the policy) or a miss
    /// (a request for the policies that count them).
    pub(crate) fn get<Q>(
        &mut self,
        hash: u64,
        key: &Q,
        now: impl FnOnce(u64) -> u64,
        out: &mut Evicted<K, V>,
    ) -> Option<&Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        match self.lookup(hash, key, now, out) {
            Found::Fresh(idx) => {
                self.count_hit();
                self.touch(idx);
                Some(self.slab.get(idx))
            }
            Found::Stale(_) | Found::Absent => {
                self.count_miss();
                self.record_miss(hash);
                None
            }
        }
    }

    /// [`Self::get`] for the read-through: on a miss, joins the
    /// computation in flight for `key` or registers a new one. A stale
    /// entry is served while another caller refreshes it; otherwise its
    /// caller refreshes (inline, or, with `revalidate`, in the background
    /// while it gets the stale value). `me` is a sync caller's thread
    /// token, to catch recursion on a key its own thread computes.
    pub(crate) fn begin(
        &mut self,
        hash: u64,
        key: &K,
        now: impl FnOnce(u64) -> u64,
        me: Option<u64>,
        revalidate: bool,
        out: &mut Evicted<K, V>,
    ) -> Begun<'_, K, V>
    where
        K: Clone,
    {
        match self.lookup(hash, key, now, out) {
            Found::Fresh(idx) => {
                self.count_hit();
                self.touch(idx);
                Begun::Hit(self.slab.get(idx))
            }
            Found::Stale(idx) if self.flights.is_running(hash, key) => {
                self.count_hit();
                Begun::Hit(self.slab.get(idx))
            }
            Found::Stale(idx) if revalidate => {
                self.count_hit();
                // No thread token: the refresh runs elsewhere, so a later
                // call from this thread is no recursion.
                let id = self.flights.start(hash, key.clone(), None);
                Begun::Revalidate(self.slab.get(idx), id)
            }
            Found::Stale(_) | Found::Absent => {
                self.record_miss(hash);
                match self.flights.join(hash, key, me) {
                    Some(Joined::Wait(flight, id)) => Begun::Wait(flight, id),
                    Some(Joined::Recursive) => {
                        self.count_miss();
                        Begun::Recursive
                    }
                    None => {
                        self.count_miss();
                        Begun::Lead(self.flights.start(hash, key.clone(), me))
                    }
                }
            }
        }
    }

    /// Ends computation `id` with its result: stored as [`Self::store`]
    /// does, unless its key, or one of its tags, was invalidated while it
    /// ran; then the pair comes back, uncounted. Also returns the flight
    /// its waiters joined with a clone of the value for them, if any did.
    #[allow(clippy::type_complexity)]
    pub(crate) fn land(
        &mut self,
        id: u64,
        item: Item<K, V>,
        now: impl FnOnce(u64) -> u64,
        out: &mut Evicted<K, V>,
    ) -> (Option<(Arc<Flight<V>>, V)>, Result<Option<u32>, (K, V)>)
    where
        V: Clone,
    {
        let landing = self.flights.land(item.hash, id);
        let doomed = landing.doomed(item.tags.as_deref().unwrap_or_default());
        // Only clone for waiters when there are some.
        let shared = landing.flight.map(|f| (f, item.value.clone()));
        let result = if doomed {
            Err((item.key, item.value))
        } else {
            self.store(item, Place::InPlace, now, out)
        };
        (shared, result)
    }

    /// Removes every entry carrying any of `tags`, and keeps out the
    /// results of computations in flight that will carry one; returns how
    /// many entries were fresh.
    pub(crate) fn invalidate_tags<T: AsRef<str>>(
        &mut self,
        tags: &[T],
        now: u64,
        out: &mut Evicted<K, V>,
    ) -> usize {
        // An in-flight result's tags are known only when it lands.
        self.flights.doom_tags(tags);
        tags.iter()
            .map(|t| self.invalidate_tag(t.as_ref(), now, out))
            .sum()
    }

    /// The entry for `key` if it is present and fresh, under the shared
    /// lock: nothing is counted or touched.
    #[inline]
    pub(crate) fn peek<Q>(
        &self,
        hash: u64,
        key: &Q,
        now: impl FnOnce(u64) -> u64,
    ) -> Option<&Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.find_fresh(hash, key, now)
            .map(|idx| self.slab.get(idx))
    }

    /// Nanoseconds `key` has left to live; `None` if it is missing,
    /// expired, or has no deadline.
    pub(crate) fn ttl_left<Q>(&self, hash: u64, key: &Q, now: u64) -> Option<u64>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let expires_at = self.slab.get(self.find(hash, key)?).expires_at;
        (expires_at != NEVER && now < expires_at).then(|| expires_at - now)
    }
}

impl<K, V> Shard<K, V> {
    /// Ends computation `id` without a result (its leader failed, panicked
    /// or was dropped); returns the flight its waiters joined, if any did,
    /// so that they are told to retry.
    pub(crate) fn abandon(&mut self, hash: u64, id: u64) -> Option<Arc<Flight<V>>> {
        self.flights.land(hash, id).flight
    }

    /// The fresh entries from the first the policy would evict to the
    /// last, each with the nanoseconds it has left to live (`None`: no
    /// deadline) and its access count where the policy keeps one: what a
    /// snapshot saves.
    #[cfg(feature = "serde")]
    #[allow(clippy::type_complexity)]
    pub(crate) fn fresh_in_eviction_order(
        &mut self,
        now: u64,
    ) -> Vec<(&Entry<K, V>, Option<u64>, Option<u64>)> {
        let order = self.eviction_order();
        let freqs: Vec<Option<u64>> = order.iter().map(|&i| self.frequency(i)).collect();
        order
            .into_iter()
            .zip(freqs)
            .filter_map(|(idx, freq)| {
                let e = self.slab.get(idx);
                let ttl = match e.expires_at {
                    NEVER => None,
                    at if now < at => Some(at - now),
                    _ => return None,
                };
                Some((e, ttl, freq))
            })
            .collect()
    }

    /// The fresh entries, in no particular order.
    pub(crate) fn fresh(&self, now: u64) -> impl Iterator<Item = &Entry<K, V>> {
        self.slab
            .iter()
            .map(|(_, e)| e)
            .filter(move |e| is_fresh(e, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(policy: Policy, max_items: usize, max_weight: Option<u64>) -> Shard<u32, u32> {
        Shard::new(
            policy,
            Limits {
                max_items: Some(max_items),
                max_weight,
                stale_nanos: 5,
            },
            1,
        )
    }

    #[test]
    fn random_operations_keep_every_index_consistent() {
        for &policy in Policy::ALL {
            let mut s = shard(policy, 16, Some(200));
            let mut rng = fastrand::Rng::with_seed(99);
            let mut now = 0u64;
            for _ in 0..20_000 {
                let key = rng.u32(..40);
                let hash = u64::from(key).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                let mut out = Evicted::new();
                match rng.u8(..8) {
                    0..=2 => {
                        let expires = if rng.bool() {
                            now + rng.u64(1..50)
                        } else {
                            NEVER
                        };
                        let tags: Option<Box<[Tag]>> = rng
                            .bool()
                            .then(|| vec![Tag::from(format!("t{}", key % 3))].into_boxed_slice());
                        let w = rng.u64(1..30);
                        s.insert(hash, key, key, expires, w, tags, &mut out);
                    }
                    3 => {
                        if let Found::Fresh(i) | Found::Stale(i) =
                            s.lookup(hash, &key, |_| now, &mut out)
                        {
                            s.touch(i);
                        }
                    }
                    4 => {
                        if let Some(i) = s.find(hash, &key) {
                            out.push(s.remove_idx(i, RemovalCause::Explicit));
                        }
                    }
                    5 => {
                        s.invalidate_tag(&format!("t{}", key % 3), now, &mut out);
                    }
                    6 => {
                        s.sweep(now, 20, &mut out);
                    }
                    _ => now += rng.u64(..10),
                }
                s.check_invariants();
            }
        }
    }

    #[test]
    fn a_slab_slot_costs_no_more_than_its_entry() {
        use std::mem::size_of;
        assert_eq!(
            size_of::<Option<Entry<u64, u64>>>(),
            size_of::<Entry<u64, u64>>()
        );
        assert_eq!(
            size_of::<Entry<u64, u64>>(),
            48,
            "key, value and four words"
        );
    }

    #[test]
    fn weights_and_tags_round_trip_through_the_packed_layout() {
        let t: Box<[Tag]> = vec![Tag::from("a")].into_boxed_slice();
        for (weight, tags) in [
            (0, None),
            (7, None),
            (u64::from(u32::MAX) - 1, None),
            (u64::from(u32::MAX), None),
            (u64::MAX, Some(t.clone())),
            (3, Some(t.clone())),
        ] {
            let mut e = Entry::new(1, 1u8, 1u8, weight, tags.clone());
            assert_eq!(e.weight(), weight);
            assert_eq!(e.tags(), tags.as_deref().unwrap_or_default());
            let needs_extra = tags.is_some() || weight >= u64::from(u32::MAX);
            assert_eq!(e.extra.is_some(), needs_extra, "{weight}");
            let (w, old) = e.replace_weight_and_tags(5, None);
            assert_eq!((w, &*old), (weight, tags.as_deref().unwrap_or_default()));
            assert!(e.extra.is_none() && e.weight() == 5);
        }
    }

    #[test]
    fn a_new_key_never_evicts_itself() {
        let mut s = shard(Policy::Lfu, 2, None);
        let mut out = Evicted::new();
        for k in 0..2 {
            s.insert(u64::from(k), k, k, NEVER, 0, None, &mut out);
        }
        let i = s.find(0, &0).unwrap();
        s.touch(i);
        s.touch(s.find(1, &1).unwrap());
        s.insert(2, 2, 2, NEVER, 0, None, &mut out);
        assert!(s.find(2, &2).is_some(), "the newcomer stays");
        assert_eq!(out.into_iter().map(|r| r.key).collect::<Vec<_>>(), [0]);
    }
}

#[cfg(test)]
mod eviction_order_tests {
    //! Random operations straight on a shard: after each one every index
    //! agrees (`check_invariants`), each size victim is the one a plain
    //! model names, and the policy's whole eviction order, not just its
    //! head, is the model's.
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm};

    #[derive(Clone, Debug)]
    enum Op {
        Insert {
            key: u8,
            weight: u64,
            ttl: Option<u64>,
            tagged: bool,
        },
        Get(u8),
        Remove(u8),
        Expire(u8, Option<u64>),
        InvalidateTag,
        InvalidateWhere(u8),
        Sweep,
        Clear,
        Advance(u64),
    }

    struct Ranked {
        key: u8,
        last_use: u64,
        freq: u64,
        freq_since: u64,
        inserted: u64,
    }

    fn hash(k: u8) -> u64 {
        u64::from(k).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// Whether the model predicts this policy's order; for the others
    /// (Random, TinyLFU) it checks the set of entries only.
    fn ordered(policy: Policy) -> bool {
        matches!(policy, Policy::Lru | Policy::Lfu | Policy::Fifo)
    }

    /// The model's eviction order: first victim first (by key when unordered).
    fn order(policy: Policy, model: &[Ranked]) -> Vec<u8> {
        let mut m: Vec<&Ranked> = model.iter().collect();
        match policy {
            Policy::Lru => m.sort_by_key(|r| r.last_use),
            Policy::Lfu => m.sort_by_key(|r| (r.freq, r.freq_since)),
            Policy::Fifo => m.sort_by_key(|r| r.inserted),
            _ => m.sort_by_key(|r| r.key),
        }
        m.into_iter().map(|r| r.key).collect()
    }

    fn run(policy: Policy, max_items: usize, max_weight: Option<u64>, ops: &[Op]) {
        let limits = Limits {
            max_items: Some(max_items),
            max_weight,
            stale_nanos: 2,
        };
        let mut s: Shard<u8, u32> = Shard::new(policy, limits, 7);
        let mut model: Vec<Ranked> = Vec::new();
        let (mut now, mut tick) = (0u64, 0u64);
        for op in ops {
            let mut out = Evicted::new();
            let mut accessed = None;
            let mut inserted = None;
            match *op {
                Op::Insert {
                    key,
                    weight,
                    ttl,
                    tagged,
                } => {
                    if !s.fits(weight) {
                        continue; // the cache rejects these before the shard sees them
                    }
                    let tags = tagged.then(|| vec![Tag::from("t")].into_boxed_slice());
                    let expires = ttl.map_or(NEVER, |t| now + t);
                    s.insert(hash(key), key, 0, expires, weight, tags, &mut out);
                    if model.iter().any(|r| r.key == key) {
                        accessed = Some(key);
                    } else {
                        inserted = Some(key);
                    }
                }
                Op::Get(key) => {
                    if let Found::Fresh(i) = s.lookup(hash(key), &key, |_| now, &mut out) {
                        s.touch(i);
                        accessed = Some(key);
                    }
                }
                Op::Remove(key) => {
                    if let Some(i) = s.find(hash(key), &key) {
                        out.push(s.remove_idx(i, RemovalCause::Explicit));
                    }
                }
                Op::Expire(key, ttl) => {
                    s.set_expiry(hash(key), &key, now, ttl.map_or(NEVER, |t| now + t));
                }
                Op::InvalidateTag => {
                    s.invalidate_tag("t", now, &mut out);
                }
                Op::InvalidateWhere(m) => {
                    s.invalidate_where(|k| k % 3 == m, now, &mut out);
                }
                Op::Sweep => {
                    s.sweep(now, 5, &mut out);
                }
                Op::Clear => s.clear(&mut out),
                Op::Advance(d) => now += d,
            }
            if let Some(key) = accessed {
                tick += 1;
                let r = model.iter_mut().find(|r| r.key == key).unwrap();
                r.last_use = tick;
                r.freq += 1;
                r.freq_since = tick;
            }
            for r in out.into_iter() {
                match r.cause {
                    RemovalCause::Replaced => continue,
                    RemovalCause::Size if ordered(policy) => {
                        assert_eq!(Some(&r.key), order(policy, &model).first(), "{op:?}");
                    }
                    _ => {}
                }
                let before = model.len();
                model.retain(|m| m.key != r.key);
                assert_eq!(model.len() + 1, before, "{op:?} removed an absent key");
            }
            if let Some(key) = inserted {
                tick += 1;
                model.push(Ranked {
                    key,
                    last_use: tick,
                    freq: 1,
                    freq_since: tick,
                    inserted: tick,
                });
            }
            s.check_invariants();
            let mut got: Vec<u8> = s
                .eviction_order()
                .into_iter()
                .map(|i| s.entry(i).key)
                .collect();
            if !ordered(policy) {
                got.sort_unstable();
            }
            assert_eq!(got, order(policy, &model), "after {op:?}");
        }
    }

    fn op() -> impl Strategy<Value = Op> {
        let ttl = || prop::option::weighted(0.4, 0u64..6);
        prop_oneof![
            6 => (0u8..12, 0u64..10, ttl(), any::<bool>()).prop_map(|(key, weight, ttl, tagged)| {
                Op::Insert { key, weight, ttl, tagged }
            }),
            5 => (0u8..12).prop_map(Op::Get),
            1 => (0u8..12).prop_map(Op::Remove),
            1 => (0u8..12, ttl()).prop_map(|(k, t)| Op::Expire(k, t)),
            1 => Just(Op::InvalidateTag),
            1 => (0u8..3).prop_map(Op::InvalidateWhere),
            1 => Just(Op::Sweep),
            1 => (0u64..4).prop_map(Op::Advance),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #![proptest_config(Config {
            cases: 500,
            failure_persistence: None,
            rng_algorithm: RngAlgorithm::XorShift,
            ..Config::default()
        })]

        #[test]
        fn every_index_and_the_eviction_order_match_a_model(
            policy in prop::sample::select(Policy::ALL),
            max_items in 1usize..7,
            max_weight in prop::option::of(1u64..30),
            ops in prop::collection::vec(op(), 1..80),
        ) {
            run(policy, max_items, max_weight, &ops);
        }
    }
}

/// How many read stripes each shard has: the machine's parallelism rounded
/// up to a power of two, at most 16.
fn read_stripes() -> usize {
    static STRIPES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *STRIPES.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(4, std::num::NonZeroUsize::get)
            .next_power_of_two()
            .min(16)
    })
}
