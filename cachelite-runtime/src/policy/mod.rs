//! Eviction policies: one trait, one file per policy, every operation O(1).
//!
//! A policy sees only slot indices. The shard tells it when a slot is
//! inserted, read or removed, and asks it for the next victim; the shard
//! then removes that slot and reports the removal back.

use std::fmt;
use std::str::FromStr;

mod adaptive;
mod fifo;
mod lfu;
mod lru;
mod random;
mod tinylfu;

pub(crate) use adaptive::{Adaptive, Marks};
pub(crate) use fifo::Fifo;
pub(crate) use lfu::Lfu;
pub(crate) use lru::Lru;
pub(crate) use random::RandomPolicy;
pub(crate) use tinylfu::TinyLfu;

/// What every eviction policy implements. All methods are O(1) (amortised
/// where they grow an array).
pub(crate) trait EvictionPolicy {
    /// A new slot entered the cache; `hash` is its key's hash (from the
    /// cache's `BuildHasher`).
    fn on_insert(&mut self, idx: u32, hash: u64);
    /// A slot was read (or its value replaced).
    fn on_access(&mut self, idx: u32);
    /// A read found no entry for the key with this hash. Policies that
    /// keep a request history (TinyLFU) count it; the insert that may
    /// follow is then not counted again. The default ignores it.
    fn record_miss(&mut self, hash: u64) {
        let _ = hash;
    }
    /// A slot left the cache, whatever the reason.
    fn on_remove(&mut self, idx: u32);
    /// The slot to evict next. The shard asks only when it must evict (over
    /// its item or weight budget: before a new key goes in, or just after it
    /// with [`PolicyMut::evicts_after_insert`]), then removes
    /// that slot and reports it with [`Self::on_remove`]. Policies may
    /// rearrange themselves here (TinyLFU decides admissions here), so
    /// callers must not ask without evicting.
    fn victim(&mut self) -> Option<u32>;
    /// Forget every slot.
    fn clear(&mut self);
    /// Every slot, from the first to be evicted to the last (O(n); snapshots only).
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    fn eviction_order(&self) -> Vec<u32>;
}

/// The eviction policy of a cache.
///
/// ```
/// use cachelite_runtime::Policy;
///
/// assert_eq!("lfu".parse::<Policy>(), Ok(Policy::Lfu));
/// assert_eq!(Policy::default(), Policy::Lru);
/// let err = "arc".parse::<Policy>().unwrap_err();
/// assert!(err.to_string().contains("lru, lfu, fifo, random, tinylfu, adaptive"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Policy {
    /// Least recently used: evicts the entry read or written longest ago.
    #[default]
    Lru,
    /// Least frequently used: evicts the entry with the fewest accesses;
    /// among equals, the one that has held that count longest.
    Lfu,
    /// First in, first out: evicts the oldest insertion; reads never reorder.
    Fifo,
    /// Evicts a uniformly random entry.
    Random,
    /// Window TinyLFU with an adaptive window: new entries enter a small
    /// LRU window; an entry leaving the window replaces the main space's
    /// least recent entry only if a frequency sketch (4-bit count-min,
    /// periodically halved) says it was requested more often lately. Resists
    /// scans and loops, and hill-climbs the window's size towards LRU on
    /// recency-heavy workloads and towards LFU on frequency-heavy ones.
    ///
    /// A new entry always enters the window, so `insert` stores it; it may
    /// be evicted soon after (as [`RemovalCause::Size`]) if it is never
    /// requested again while the window turns over.
    ///
    /// [`RemovalCause::Size`]: crate::RemovalCause::Size
    TinyLfu,
    /// Window TinyLFU on CLOCK queues: a hit only bumps a per-entry
    /// counter (no list is reordered, so it costs about what a lookup
    /// costs, and readers on different threads write nothing shared but
    /// that counter); new entries enter a small FIFO window, and one
    /// leaving it replaces main's next CLOCK victim only if a frequency
    /// sketch says it was requested more often lately. The window's size
    /// follows ghost lists of recently evicted keys, as in ARC. Resists
    /// scans and loops like [`Policy::TinyLfu`] and costs about a byte per
    /// entry plus the sketch.
    ///
    /// Hits racing on one entry may lose a count (never an insert or a
    /// removal). As with TinyLFU, a new entry may be evicted soon after
    /// insertion if it is never requested again while the window turns
    /// over.
    Adaptive,
}

impl Policy {
    /// Every policy, in the order they are documented.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::Policy::ALL.len(), 6);
    /// ```
    pub const ALL: &'static [Policy] = &[
        Policy::Lru,
        Policy::Lfu,
        Policy::Fifo,
        Policy::Random,
        Policy::TinyLfu,
        Policy::Adaptive,
    ];

    /// The lowercase name accepted by [`FromStr`] and `#[memoize(policy = "...")]`.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::Policy::Fifo.name(), "fifo");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Policy::Lru => "lru",
            Policy::Lfu => "lfu",
            Policy::Fifo => "fifo",
            Policy::Random => "random",
            Policy::TinyLfu => "tinylfu",
            Policy::Adaptive => "adaptive",
        }
    }

    /// The valid names, comma separated, for error messages.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::Policy::valid_names(), "lru, lfu, fifo, random, tinylfu, adaptive");
    /// ```
    #[must_use]
    pub fn valid_names() -> String {
        Policy::ALL
            .iter()
            .map(|p| p.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error from parsing an unknown policy name.
///
/// ```
/// let err = "mru".parse::<cachelite_runtime::Policy>().unwrap_err();
/// assert_eq!(err.to_string(), "unknown eviction policy `mru`; valid policies: lru, lfu, fifo, random, tinylfu, adaptive");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsePolicyError {
    name: String,
}

impl fmt::Display for ParsePolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown eviction policy `{}`; valid policies: {}",
            self.name,
            Policy::valid_names()
        )
    }
}

impl std::error::Error for ParsePolicyError {}

impl FromStr for Policy {
    type Err = ParsePolicyError;

    /// Parses a policy name, ignoring ASCII case and surrounding whitespace.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        Policy::ALL
            .iter()
            .copied()
            .find(|p| p.name().eq_ignore_ascii_case(t))
            .ok_or_else(|| ParsePolicyError { name: s.to_owned() })
    }
}

/// Static dispatch over the built-in policies.
#[allow(
    clippy::large_enum_variant,
    reason = "one per shard, chosen once; inline keeps every hit free of a pointer chase"
)]
pub(crate) enum AnyPolicy {
    Lru(Lru),
    Lfu(Lfu),
    Fifo(Fifo),
    Random(RandomPolicy),
    TinyLfu(TinyLfu),
    Adaptive(Adaptive),
}

impl AnyPolicy {
    /// The policy for a shard bounded to `max_items` entries (if it is).
    pub(crate) fn new(policy: Policy, seed: u64, max_items: Option<usize>) -> Self {
        match policy {
            Policy::Lru => AnyPolicy::Lru(Lru::default()),
            Policy::Lfu => AnyPolicy::Lfu(Lfu::default()),
            Policy::Fifo => AnyPolicy::Fifo(Fifo::default()),
            Policy::Random => AnyPolicy::Random(RandomPolicy::with_seed(seed)),
            Policy::TinyLfu => AnyPolicy::TinyLfu(TinyLfu::new(max_items, seed)),
            Policy::Adaptive => AnyPolicy::Adaptive(Adaptive::new(max_items, seed)),
        }
    }
}

macro_rules! dispatch {
    ($self:expr, $p:ident => $e:expr, $a:ident => $ae:expr) => {
        match $self {
            AnyPolicy::Lru($p) => $e,
            AnyPolicy::Lfu($p) => $e,
            AnyPolicy::Fifo($p) => $e,
            AnyPolicy::Random($p) => $e,
            AnyPolicy::TinyLfu($p) => $e,
            AnyPolicy::Adaptive($a) => $ae,
        }
    };
}

impl AnyPolicy {
    /// Applies a batch of buffered reads, in order, dispatching once.
    /// (The adaptive policy's reads are never buffered: they mark the
    /// slot instead.)
    #[inline]
    pub(crate) fn on_accesses(&mut self, slots: &[u32]) {
        dispatch!(self, p => for &idx in slots {
            p.on_access(idx);
        }, _a => debug_assert!(slots.is_empty(), "adaptive reads are not buffered"));
    }

    /// How a hit reaches this policy.
    pub(crate) fn reads(&self) -> Reads {
        match self {
            AnyPolicy::Fifo(_) | AnyPolicy::Random(_) => Reads::Ignored,
            AnyPolicy::Adaptive(_) => Reads::Marked,
            _ => Reads::Buffered,
        }
    }
}

/// How a hit under the shared lock reaches the policy.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reads {
    /// Not at all (FIFO, Random).
    Ignored,
    /// Through the shard's lossy read buffers, applied in batches.
    Buffered,
    /// By a per-slot counter in [`Marks`], updated in place.
    Marked,
}

/// A policy with what its operations may need from the shard: the
/// per-slot marks and each live slot's key hash.
pub(crate) struct PolicyMut<'a, H> {
    pub(crate) policy: &'a mut AnyPolicy,
    pub(crate) marks: &'a mut Marks,
    pub(crate) hash_of: H,
}

impl<H: Fn(u32) -> u64> PolicyMut<'_, H> {
    /// See [`EvictionPolicy::on_insert`].
    #[inline]
    pub(crate) fn on_insert(&mut self, idx: u32, hash: u64) {
        dispatch!(&mut *self.policy, p => p.on_insert(idx, hash),
            a => a.on_insert(self.marks, idx, hash, &self.hash_of));
    }
    /// See [`EvictionPolicy::on_access`].
    #[inline]
    pub(crate) fn on_access(&mut self, idx: u32) {
        dispatch!(&mut *self.policy, p => p.on_access(idx),
            _a => Adaptive::on_access(self.marks, idx));
    }
    /// See [`EvictionPolicy::record_miss`].
    #[inline]
    pub(crate) fn record_miss(&mut self, hash: u64) {
        match &mut *self.policy {
            AnyPolicy::TinyLfu(p) => p.record_miss(hash),
            AnyPolicy::Adaptive(p) => p.record_miss(hash),
            _ => {}
        }
    }
    /// See [`EvictionPolicy::on_remove`].
    #[inline]
    pub(crate) fn on_remove(&mut self, idx: u32) {
        dispatch!(&mut *self.policy, p => p.on_remove(idx),
            a => a.on_remove(self.marks, idx, &self.hash_of));
    }
    /// Whether the shard inserts a new key's slot before asking for victims,
    /// so that the newcomer itself may be the victim (admission: TinyLFU
    /// and the adaptive policy). The others evict first and insert after, so a
    /// new key is never its own victim.
    #[inline]
    pub(crate) fn evicts_after_insert(&self) -> bool {
        matches!(
            &*self.policy,
            AnyPolicy::TinyLfu(_) | AnyPolicy::Adaptive(_)
        )
    }
    /// See [`EvictionPolicy::victim`].
    #[inline]
    pub(crate) fn victim(&mut self) -> Option<u32> {
        dispatch!(&mut *self.policy, p => p.victim(), a => a.victim(self.marks, &self.hash_of))
    }
    /// See [`EvictionPolicy::clear`].
    pub(crate) fn clear(&mut self) {
        dispatch!(&mut *self.policy, p => p.clear(), a => a.clear(self.marks));
    }
    /// See [`EvictionPolicy::eviction_order`].
    pub(crate) fn eviction_order(&self) -> Vec<u32> {
        eviction_order(self.policy, self.marks)
    }

    /// A live slot's access count, for policies that keep one (LFU; for
    /// TinyLFU and the adaptive policy, the sketch's estimate for its key,
    /// 0 to 15).
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn frequency(&self, idx: u32) -> Option<u64> {
        match &*self.policy {
            AnyPolicy::Lfu(p) => Some(p.frequency(idx)),
            AnyPolicy::TinyLfu(p) => Some(p.frequency(idx)),
            AnyPolicy::Adaptive(p) => Some(p.frequency(self.marks, idx, (self.hash_of)(idx))),
            _ => None,
        }
    }

    /// Sets a live slot's access count where the policy keeps one (LFU;
    /// TinyLFU and the adaptive policy raise its key's estimate to at
    /// least `freq`); a no-op for the others.
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn set_frequency(&mut self, idx: u32, freq: u64) {
        match &mut *self.policy {
            AnyPolicy::Lfu(p) => p.set_frequency(idx, freq),
            AnyPolicy::TinyLfu(p) => p.set_frequency(idx, freq),
            AnyPolicy::Adaptive(p) => p.set_frequency((self.hash_of)(idx), freq),
            _ => {}
        }
    }
}

/// Every live slot, from the first to be evicted to the last (O(n)).
#[cfg_attr(
    not(any(feature = "serde", test)),
    allow(dead_code, reason = "only snapshots and tests use it")
)]
pub(crate) fn eviction_order(policy: &AnyPolicy, marks: &Marks) -> Vec<u32> {
    dispatch!(policy, p => p.eviction_order(), a => a.eviction_order(marks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_case_insensitive_and_lists_choices() {
        assert_eq!(" LRU ".parse::<Policy>(), Ok(Policy::Lru));
        assert_eq!("Random".parse::<Policy>(), Ok(Policy::Random));
        for p in Policy::ALL {
            assert_eq!(p.name().parse::<Policy>(), Ok(*p));
            assert_eq!(p.to_string(), p.name());
        }
        let e = "tinylfu2".parse::<Policy>().unwrap_err().to_string();
        assert!(
            e.contains("`tinylfu2`") && e.contains("lru, lfu, fifo, random, tinylfu, adaptive"),
            "{e}"
        );
    }
}
