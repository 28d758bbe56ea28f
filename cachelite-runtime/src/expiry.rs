//! Time: the [`Clock`] trait, the default monotonic clock, a [`ManualClock`]
//! for tests, and the active-expiry sweeper thread.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Once, Weak};
use std::time::{Duration, Instant};

/// A deadline in clock nanoseconds that never arrives.
pub(crate) const NEVER: u64 = u64::MAX;

/// A monotonic time source, in nanoseconds since an arbitrary origin.
///
/// The cache reads it for deadlines. Implement it to drive expiry from your
/// own notion of time; [`ManualClock`] is the ready-made one for tests.
///
/// ```
/// use cachelite_runtime::Clock;
/// use std::time::Instant;
///
/// struct Wall(Instant);
/// impl Clock for Wall {
///     fn now_nanos(&self) -> u64 {
///         u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX)
///     }
/// }
/// let c = Wall(Instant::now());
/// assert!(c.now_nanos() < 1_000_000_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Nanoseconds since this clock's origin; never decreases.
    fn now_nanos(&self) -> u64;
}

/// A clock that moves only when told to: expiry tests never sleep.
///
/// Clones share one time.
///
/// ```
/// use cachelite_runtime::{Cache, ManualClock};
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let cache: Cache<&str, u32> = Cache::builder().clock(clock.clone()).build();
/// cache.insert_with_ttl("k", 1, Duration::from_secs(10));
/// clock.advance(Duration::from_secs(9));
/// assert_eq!(cache.get("k"), Some(1));
/// clock.advance(Duration::from_secs(1));
/// assert_eq!(cache.get("k"), None);
/// ```
#[derive(Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock at time zero.
    ///
    /// ```
    /// use cachelite_runtime::{Clock, ManualClock};
    /// assert_eq!(ManualClock::new().now_nanos(), 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves time forward.
    ///
    /// ```
    /// use cachelite_runtime::{Clock, ManualClock};
    /// use std::time::Duration;
    /// let c = ManualClock::new();
    /// c.advance(Duration::from_millis(3));
    /// assert_eq!(c.now_nanos(), 3_000_000);
    /// ```
    pub fn advance(&self, by: Duration) {
        let by = duration_nanos(by);
        // Saturates: time never wraps around to the past.
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// The time elapsed since the clock was made.
    ///
    /// ```
    /// use cachelite_runtime::ManualClock;
    /// use std::time::Duration;
    /// let c = ManualClock::new();
    /// c.advance(Duration::from_secs(2));
    /// assert_eq!(c.elapsed(), Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// The process-wide origin of the monotonic clock.
static EPOCH: LazyLock<Instant> = LazyLock::new(Instant::now);
/// A coarse reading of the monotonic clock, refreshed by one ticker thread
/// per process. It never runs ahead of the precise clock.
static COARSE_NOW: AtomicU64 = AtomicU64::new(0);
static TICKER: Once = Once::new();
/// How often the ticker refreshes [`COARSE_NOW`].
const TICK: Duration = Duration::from_millis(1);
/// Deadlines closer than this to the coarse time are checked against the
/// precise clock, so a ticker delayed by a busy machine never lets an entry
/// outlive its TTL by more than a tick.
const COARSE_MARGIN: u64 = 1_000_000_000;

fn precise_now() -> u64 {
    duration_nanos(EPOCH.elapsed())
}

/// The coarse time: one relaxed load once the ticker runs.
#[inline]
fn coarse_now() -> u64 {
    TICKER.call_once(|| {
        COARSE_NOW.store(precise_now(), Ordering::Relaxed);
        let spawned = std::thread::Builder::new()
            .name("cachelite-clock".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(TICK);
                    COARSE_NOW.store(precise_now(), Ordering::Relaxed);
                }
            });
        // Without a ticker the coarse time stays behind, so every read near
        // a deadline falls back to the precise clock: slower, still right.
        drop(spawned);
    });
    COARSE_NOW.load(Ordering::Relaxed)
}

/// The clock a cache reads, dispatched without a virtual call in the
/// common cases.
#[derive(Clone)]
pub(crate) enum AnyClock {
    Monotonic,
    Manual(ManualClock),
    Custom(Arc<dyn Clock>),
}

impl AnyClock {
    pub(crate) fn monotonic() -> Self {
        AnyClock::Monotonic
    }

    /// The time, exact enough to compare with `deadline`: reads of entries
    /// far from their deadline (the common case on a hot path) cost one
    /// atomic load instead of a system clock read.
    #[inline]
    pub(crate) fn now_near(&self, deadline: u64) -> u64 {
        match self {
            AnyClock::Monotonic => {
                let coarse = coarse_now();
                if coarse.saturating_add(COARSE_MARGIN) < deadline {
                    coarse
                } else {
                    precise_now()
                }
            }
            other => other.now(),
        }
    }

    pub(crate) fn from_clock<C: Clock>(clock: C) -> Self {
        // A ManualClock passed by value keeps its fast path.
        let boxed: Box<dyn std::any::Any> = Box::new(clock);
        match boxed.downcast::<ManualClock>() {
            Ok(m) => AnyClock::Manual(*m),
            Err(other) => {
                let c = *other
                    .downcast::<C>()
                    .unwrap_or_else(|_| unreachable!("downcast to the type just boxed"));
                AnyClock::Custom(Arc::new(c))
            }
        }
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        match self {
            AnyClock::Monotonic => precise_now(),
            AnyClock::Manual(m) => m.now_nanos(),
            AnyClock::Custom(c) => c.now_nanos(),
        }
    }
}

/// Saturating conversion: a TTL beyond u64 nanoseconds (584 years) never expires.
pub(crate) fn duration_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(NEVER)
}

/// The deadline `ttl` after `now`, saturating to [`NEVER`].
pub(crate) fn deadline(now: u64, ttl: Duration) -> u64 {
    now.saturating_add(duration_nanos(ttl))
}

/// What the sweeper needs from a cache, erased over its type parameters.
pub(crate) trait Sweep: Send + Sync {
    fn sweep_once(self: Arc<Self>) -> usize;
}

/// Spawns the active-expiry thread. It holds only a weak reference, so it
/// stops once the cache is dropped (the cache's drop unparks it at once).
pub(crate) fn spawn_sweeper(target: Weak<dyn Sweep>, interval: Duration) -> std::thread::Thread {
    let handle = std::thread::Builder::new()
        .name("cachelite-sweep".into())
        .spawn(move || {
            loop {
                std::thread::park_timeout(interval);
                let Some(cache) = target.upgrade() else {
                    return;
                };
                cache.sweep_once();
            }
        })
        .expect("spawning the cachelite expiry thread");
    handle.thread().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u64);
    impl Clock for Fixed {
        fn now_nanos(&self) -> u64 {
            self.0
        }
    }

    #[test]
    fn any_clock_dispatch() {
        let m = ManualClock::new();
        let any = AnyClock::from_clock(m.clone());
        assert!(matches!(any, AnyClock::Manual(_)));
        m.advance(Duration::from_nanos(5));
        assert_eq!(any.now(), 5);
        let custom = AnyClock::from_clock(Fixed(42));
        assert!(matches!(custom, AnyClock::Custom(_)));
        assert_eq!(custom.now(), 42);
        let mono = AnyClock::monotonic();
        let a = mono.now();
        assert!(mono.now() >= a);
        // Far from a deadline the coarse time is used; it never runs ahead.
        let coarse = mono.now_near(u64::MAX);
        assert!(coarse <= mono.now());
        // Near one, the precise time.
        let b = mono.now();
        assert!(mono.now_near(b) >= b);
    }

    #[test]
    fn deadlines_saturate() {
        assert_eq!(deadline(10, Duration::MAX), NEVER);
        assert_eq!(deadline(u64::MAX - 1, Duration::from_secs(1)), NEVER);
        assert_eq!(deadline(10, Duration::from_nanos(5)), 15);
    }
}

/// The slots of a shard that carry a deadline, in no order, for the
/// sweeper's random sampling. Each such entry remembers its position here,
/// so unlinking is O(1): the last slot moves into the hole, and the caller
/// updates that entry's position.
#[derive(Default)]
pub(crate) struct TtlIndex {
    slots: Vec<u32>,
}

impl TtlIndex {
    /// Adds slot `idx`; returns its position.
    pub(crate) fn link(&mut self, idx: u32) -> u32 {
        let pos = u32::try_from(self.slots.len()).expect("slot count fits u32");
        self.slots.push(idx);
        pos
    }

    /// Removes the slot at `pos`; returns the slot moved into `pos`, whose
    /// entry must now record `pos`.
    pub(crate) fn unlink(&mut self, pos: u32) -> Option<u32> {
        self.slots.swap_remove(pos as usize);
        self.slots.get(pos as usize).copied()
    }

    /// A slot picked uniformly at random, if any.
    pub(crate) fn sample(&self, rng: &mut fastrand::Rng) -> Option<u32> {
        (!self.slots.is_empty()).then(|| self.slots[rng.usize(..self.slots.len())])
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
    }

    /// The slot at `pos` (tests).
    #[cfg(test)]
    pub(crate) fn at(&self, pos: u32) -> u32 {
        self.slots[pos as usize]
    }
}

#[cfg(test)]
mod ttl_index_tests {
    use super::*;

    #[test]
    fn unlinking_moves_the_last_slot_into_the_hole() {
        let mut ix = TtlIndex::default();
        let (p0, _p1, _p2) = (ix.link(10), ix.link(11), ix.link(12));
        assert_eq!(ix.unlink(p0), Some(12), "12 moved to position 0");
        assert_eq!(ix.at(p0), 12);
        assert_eq!(ix.unlink(1), None, "the last one moves nowhere");
        assert_eq!(ix.len(), 1);
    }
}
