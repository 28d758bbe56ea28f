//! Eviction policies: one trait, one file per policy, every operation O(1).
//!
//! A policy sees only slot indices. The shard tells it when a slot is
//! inserted, read or removed, and asks it for the next victim; the shard
//! then removes that slot and reports the removal back.

use std::fmt;
use std::str::FromStr;

mod fifo;
mod lfu;
mod lru;
mod random;
mod tinylfu;

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
    /// Whether the shard inserts a new key's slot before asking for victims,
    /// so that the newcomer itself may be the victim (admission, as in
    /// TinyLFU). The default, `false`, evicts first and inserts after, so a
    /// new key is never its own victim.
    fn evicts_after_insert(&self) -> bool {
        false
    }
    /// The slot to evict next. The shard asks only when it must evict (over
    /// its item or weight budget: before a new key goes in, or just after it
    /// with [`Self::evicts_after_insert`]), then removes
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
/// assert!(err.to_string().contains("lru, lfu, fifo, random, tinylfu"));
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
}

impl Policy {
    /// Every policy, in the order they are documented.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::Policy::ALL.len(), 5);
    /// ```
    pub const ALL: &'static [Policy] = &[
        Policy::Lru,
        Policy::Lfu,
        Policy::Fifo,
        Policy::Random,
        Policy::TinyLfu,
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
        }
    }

    /// The valid names, comma separated, for error messages.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::Policy::valid_names(), "lru, lfu, fifo, random, tinylfu");
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
/// assert_eq!(err.to_string(), "unknown eviction policy `mru`; valid policies: lru, lfu, fifo, random, tinylfu");
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
        }
    }
}

impl AnyPolicy {
    /// A live slot's access count, for policies that keep one (LFU; for
    /// TinyLFU, the sketch's estimate for its key, 0 to 15).
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn frequency(&self, idx: u32) -> Option<u64> {
        match self {
            AnyPolicy::Lfu(p) => Some(p.frequency(idx)),
            AnyPolicy::TinyLfu(p) => Some(p.frequency(idx)),
            _ => None,
        }
    }

    /// Sets a live slot's access count where the policy keeps one (LFU;
    /// TinyLFU raises its key's estimate to at least `freq`); a no-op for
    /// the others.
    #[cfg_attr(
        not(feature = "serde"),
        allow(dead_code, reason = "only snapshots use it")
    )]
    pub(crate) fn set_frequency(&mut self, idx: u32, freq: u64) {
        match self {
            AnyPolicy::Lfu(p) => p.set_frequency(idx, freq),
            AnyPolicy::TinyLfu(p) => p.set_frequency(idx, freq),
            _ => {}
        }
    }
}

macro_rules! dispatch {
    ($self:ident, $p:ident => $e:expr) => {
        match $self {
            AnyPolicy::Lru($p) => $e,
            AnyPolicy::Lfu($p) => $e,
            AnyPolicy::Fifo($p) => $e,
            AnyPolicy::Random($p) => $e,
            AnyPolicy::TinyLfu($p) => $e,
        }
    };
}

impl AnyPolicy {
    /// Applies a batch of reads, in order, dispatching once.
    #[inline]
    pub(crate) fn on_accesses(&mut self, slots: &[u32]) {
        dispatch!(self, p => for &idx in slots {
            p.on_access(idx);
        });
    }

    /// Whether reads change anything (FIFO and Random ignore them), so a
    /// hit need not record itself.
    pub(crate) fn reads_matter(&self) -> bool {
        !matches!(self, AnyPolicy::Fifo(_) | AnyPolicy::Random(_))
    }
}

impl EvictionPolicy for AnyPolicy {
    #[inline]
    fn on_insert(&mut self, idx: u32, hash: u64) {
        dispatch!(self, p => p.on_insert(idx, hash));
    }
    #[inline]
    fn on_access(&mut self, idx: u32) {
        dispatch!(self, p => p.on_access(idx));
    }
    #[inline]
    fn record_miss(&mut self, hash: u64) {
        if let AnyPolicy::TinyLfu(p) = self {
            p.record_miss(hash);
        }
    }
    #[inline]
    fn on_remove(&mut self, idx: u32) {
        dispatch!(self, p => p.on_remove(idx));
    }
    #[inline]
    fn evicts_after_insert(&self) -> bool {
        matches!(self, AnyPolicy::TinyLfu(_))
    }
    #[inline]
    fn victim(&mut self) -> Option<u32> {
        dispatch!(self, p => p.victim())
    }
    fn clear(&mut self) {
        dispatch!(self, p => p.clear());
    }
    fn eviction_order(&self) -> Vec<u32> {
        dispatch!(self, p => p.eviction_order())
    }
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
            e.contains("`tinylfu2`") && e.contains("lru, lfu, fifo, random, tinylfu"),
            "{e}"
        );
    }
}
