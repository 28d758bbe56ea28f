//! Counters. Each shard keeps its own [`Stats`]: writes count under the
//! shard's exclusive lock, hits in per-thread stripes on their own cache
//! lines; [`Cache::stats`](crate::Cache::stats) sums the shards with `+=`.

use std::ops::AddAssign;
use std::time::Duration;

use crate::config::CacheConfig;

/// A point-in-time summary of a cache's activity.
///
/// ```
/// use cachelite_runtime::Cache;
///
/// let cache: Cache<u32, u32> = Cache::new(10);
/// cache.insert(1, 10);
/// cache.get(&1);
/// cache.get(&2);
/// let s = cache.stats();
/// assert_eq!((s.hits, s.misses, s.inserts, s.len), (1, 1, 1, 1));
/// assert_eq!(s.hit_rate(), 0.5);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found nothing (or only an expired entry).
    pub misses: u64,
    /// Values stored (new keys and replacements).
    pub inserts: u64,
    /// Entries removed by the policy to respect the bounds.
    pub evictions: u64,
    /// Entries removed because their TTL ran out.
    pub expirations: u64,
    /// Entries removed on request: `remove`, `clear`, tags, globs.
    pub invalidations: u64,
    /// Inserts refused because one entry outweighed the byte budget.
    pub rejections: u64,
    /// Listener calls that panicked (caught; the cache carried on).
    pub listener_panics: u64,
    /// Live entries (expired ones not yet removed included).
    pub len: usize,
    /// Summed weight of the live entries (deep bytes, or the weigher's unit).
    pub bytes: u64,
    /// Loads (the computation of a read-through or memoized call on a
    /// miss, a refresh, a batch loader call) that gave a value to store.
    pub load_successes: u64,
    /// Loads that gave nothing to store: an `Err`, a `None` or a value
    /// that is not cached, or a panic.
    pub load_failures: u64,
    /// The time all loads took, successes and failures.
    pub total_load_time: Duration,
    /// Stale refreshes of sync loaders given up unrun because the
    /// background refresher's queue was full (or no thread could be
    /// started): the stale value was served and the next caller in the
    /// stale window tried again. See
    /// [`CacheBuilder::stale_ttl`](crate::CacheBuilder::stale_ttl).
    pub refreshes_skipped: u64,
}

/// Sums two sets of counters and sizes, as of two shards or two caches.
///
/// ```
/// use cachelite_runtime::{Cache, Stats};
///
/// let (a, b): (Cache<u8, u8>, Cache<u8, u8>) = (Cache::new(4), Cache::new(4));
/// a.insert(1, 1);
/// b.get(&1);
/// let mut total = Stats::default();
/// total += a.stats();
/// total += b.stats();
/// assert_eq!((total.inserts, total.misses, total.len), (1, 1, 1));
/// ```
impl AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.inserts += o.inserts;
        self.evictions += o.evictions;
        self.expirations += o.expirations;
        self.invalidations += o.invalidations;
        self.rejections += o.rejections;
        self.listener_panics += o.listener_panics;
        self.len += o.len;
        self.bytes += o.bytes;
        self.load_successes += o.load_successes;
        self.load_failures += o.load_failures;
        self.total_load_time += o.total_load_time;
        self.refreshes_skipped += o.refreshes_skipped;
    }
}

impl Stats {
    /// `hits / (hits + misses)`, or 0 before the first read.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::Stats::default().hit_rate(), 0.0);
    /// ```
    #[must_use]
    pub fn hit_rate(&self) -> f64 {
        ratio(self.hits, self.hits + self.misses)
    }

    /// The mean time of a load, or `None` before the first.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let c: Cache<u8, u8> = Cache::new(10);
    /// assert_eq!(c.stats().average_load_time(), None);
    /// c.get_or_insert_with(1, || 1);
    /// let _ = c.try_get_or_insert_with(2, || Err::<u8, _>("down"));
    /// let s = c.stats();
    /// assert_eq!((s.load_successes, s.load_failures), (1, 1));
    /// assert!(s.average_load_time().is_some());
    /// ```
    #[must_use]
    pub fn average_load_time(&self) -> Option<Duration> {
        let loads = self.load_successes + self.load_failures;
        (loads > 0).then(|| {
            let nanos = self.total_load_time.as_nanos() / u128::from(loads);
            Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
        })
    }

    /// `misses / (hits + misses)`, or 0 before the first read.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::Stats::default().miss_rate(), 0.0);
    /// ```
    #[must_use]
    pub fn miss_rate(&self) -> f64 {
        ratio(self.misses, self.hits + self.misses)
    }
}

#[allow(clippy::cast_precision_loss)]
fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// What a cache reports about itself: its [`Stats`] and the
/// [`CacheConfig`] it runs with. `<fn>_cache_info()` and
/// [`registry`](crate::registry) return it.
///
/// ```
/// use cachelite_runtime::Cache;
///
/// let cache: Cache<u32, u32> = Cache::new(100);
/// cache.insert(1, 1);
/// let info = cache.info();
/// assert_eq!(info.stats.len, 1);
/// assert_eq!(info.config.max_items, Some(100));
/// assert_eq!(info.hit_rate(), 0.0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheInfo {
    /// Counters and sizes, as [`Cache::stats`](crate::Cache::stats).
    pub stats: Stats,
    /// The configuration, with the shard count the cache chose.
    pub config: CacheConfig,
}

impl CacheInfo {
    /// `hits / (hits + misses)`, or 0 before the first read.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(1);
    /// assert_eq!(c.info().hit_rate(), 0.0);
    /// ```
    #[must_use]
    pub fn hit_rate(&self) -> f64 {
        self.stats.hit_rate()
    }
}
