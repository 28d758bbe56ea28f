//! [`CacheBuilder`]: configuration, validated once at `build`.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use crate::cache::{Cache, Inner, Weigher};
use crate::config::CacheConfig;
use crate::events::{Event, Listeners};
use crate::expiry::{AnyClock, Clock, Sweep, duration_nanos, spawn_sweeper};
use crate::policy::Policy;
use crate::shard::{Limits, Shard};
use crate::size::DeepSize;
use crate::sync::{Padded, ShardLock};

/// Keep at least this many items per shard, so per-shard eviction stays
/// close to whole-cache eviction (a 2-item cache is one 2-item shard).
const MIN_ITEMS_PER_SHARD: usize = 512;
/// Keep at least this byte budget per shard: an entry must fit one shard's
/// share, so byte budgets under twice this stay one exact shard.
const MIN_BYTES_PER_SHARD: u64 = 16 << 20;

/// The hasher a cache uses unless told otherwise: aHash, keyed with fresh
/// random keys for every cache, so an attacker who chooses keys cannot
/// predict collisions (HashDoS), at a fraction of SipHash's cost. For
/// SipHash, pass `std::hash::RandomState::new()` to
/// [`CacheBuilder::hasher`].
///
/// ```
/// use std::hash::BuildHasher;
/// let a = cachelite_runtime::DefaultHashBuilder::new();
/// let b = cachelite_runtime::DefaultHashBuilder::new();
/// assert_ne!(a.hash_one(42u64), b.hash_one(42u64), "each cache has its own keys");
/// ```
pub type DefaultHashBuilder = ahash::RandomState;

/// A configuration mistake caught by [`CacheBuilder::try_build`].
///
/// ```
/// use cachelite_runtime::{BuildError, Cache};
/// let err = Cache::<u8, u8>::builder().max_items(0).try_build().unwrap_err();
/// assert_eq!(err, BuildError::ZeroMaxItems);
/// assert!(err.to_string().contains("unbounded()"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// `max_items(0)`.
    ZeroMaxItems,
    /// `max_bytes(0)` or `max_weight(0)`.
    ZeroMaxBytes,
    /// A zero duration where one must be positive.
    ZeroDuration(&'static str),
    /// `shards(n)` with `n` not a power of two.
    ShardsNotPowerOfTwo(usize),
    /// `max_weight` without a `weigher`.
    MissingWeigher,
    /// `active_expiry_samples(0)`.
    ZeroSamples,
    /// `namespace("")`.
    EmptyNamespace,
    /// `scope_levels` with no level, an empty one, a repeated one, or one
    /// containing `:`.
    BadScopeLevels(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::ZeroMaxItems => f.write_str(
                "max_items must be at least 1; for no item bound, use unbounded() or leave max_items unset",
            ),
            BuildError::ZeroMaxBytes => f.write_str(
                "max_bytes must be at least 1; for no byte bound, leave max_bytes unset",
            ),
            BuildError::ZeroDuration(what) => write!(
                f,
                "{what} must be greater than zero; leave it unset to disable it"
            ),
            BuildError::ShardsNotPowerOfTwo(n) => write!(
                f,
                "shards must be a power of two (1, 2, 4, 8, ...), got {n}"
            ),
            BuildError::MissingWeigher => f.write_str(
                "max_weight needs a weigher: call .weigher(|key, value| ...) or use max_bytes with DeepSize types",
            ),
            BuildError::ZeroSamples => f.write_str("active_expiry_samples must be at least 1"),
            BuildError::BadScopeLevels(why) => write!(f, "bad scope levels: {why}"),
            BuildError::EmptyNamespace => f.write_str(
                "namespace must not be empty; leave it unset for a cache without one",
            ),
        }
    }
}

impl std::error::Error for BuildError {}

/// Configures a [`Cache`]. Start from [`Cache::builder`].
///
/// ```
/// use cachelite_runtime::{Cache, Event, Policy};
/// use std::time::Duration;
///
/// let cache: Cache<String, String> = Cache::builder()
///     .max_items(10_000)
///     .max_bytes(8_000_000)
///     .default_ttl(Duration::from_secs(60))
///     .policy(Policy::Lfu)
///     .active_expiry(Duration::from_secs(1))
///     .on_event(|_e: &Event<'_, String, String>| {})
///     .build();
/// assert_eq!(cache.policy(), Policy::Lfu);
/// ```
#[must_use = "a builder does nothing until .build()"]
pub struct CacheBuilder<K, V, S = DefaultHashBuilder> {
    /// The data options; the rest are code.
    cfg: CacheConfig,
    weigher: Option<Weigher<K, V>>,
    deep_weigher: Option<Weigher<K, V>>,
    listeners: Listeners<K, V>,
    clock: Option<AnyClock>,
    name: Option<Arc<str>>,
    spawner: Option<crate::revalidate::Spawner>,
    refresher: Option<Arc<crate::refresher::Refresher>>,
    /// Declared by `scope_levels` (for `Scoped` keys only).
    pub(crate) scopes: Option<crate::scope::Levels<K>>,
    hasher: S,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> CacheBuilder<K, V, DefaultHashBuilder> {
    pub(crate) fn new() -> Self {
        Self {
            cfg: CacheConfig::default(),
            weigher: None,
            deep_weigher: None,
            listeners: Listeners::default(),
            clock: None,
            name: None,
            spawner: None,
            refresher: None,
            scopes: None,
            hasher: DefaultHashBuilder::new(),
            _types: PhantomData,
        }
    }
}

impl<K, V, S> CacheBuilder<K, V, S> {
    /// Bounds the cache by entry count.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder().max_items(3).build();
    /// for i in 0..10 { c.insert(i, i); }
    /// assert_eq!(c.len(), 3);
    /// ```
    pub fn max_items(mut self, n: usize) -> Self {
        self.cfg.max_items = Some(n);
        self
    }

    /// Removes the item and byte bounds (the default).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder().max_items(3).unbounded().build();
    /// assert_eq!(c.max_items(), None);
    /// ```
    pub fn unbounded(mut self) -> Self {
        self.cfg.max_items = None;
        self.cfg.max_bytes = None;
        self
    }

    /// Bounds the cache by summed weight, as measured by [`Self::weigher`].
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u32, Vec<u8>> = cachelite_runtime::Cache::builder()
    ///     .max_weight(100)
    ///     .weigher(|_k, v: &Vec<u8>| v.len())
    ///     .build();
    /// c.insert(1, vec![0; 60]);
    /// c.insert(2, vec![0; 60]);       // evicts 1
    /// assert!(!c.insert(3, vec![0; 101]));  // never fits: rejected
    /// assert_eq!(c.keys(), [2]);
    /// ```
    pub fn max_weight(mut self, weight: u64) -> Self {
        self.cfg.max_bytes = Some(weight);
        self
    }

    /// Measures each entry for `max_weight`/`max_bytes` (replaces the
    /// deep-size measure). Runs outside every lock.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<String, String> = cachelite_runtime::Cache::builder()
    ///     .max_weight(10)
    ///     .weigher(|k: &String, v: &String| k.len() + v.len())
    ///     .build();
    /// c.insert("ab".into(), "cdef".into());
    /// assert_eq!(c.stats().bytes, 6);
    /// ```
    pub fn weigher<F>(mut self, weigher: F) -> Self
    where
        F: Fn(&K, &V) -> usize + Send + Sync + 'static,
    {
        self.weigher = Some(Arc::new(move |k, v| weigher(k, v) as u64));
        self
    }

    /// Sets the eviction policy (LRU by default).
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Policy};
    /// let c: Cache<u8, u8> = Cache::builder().policy("fifo".parse::<Policy>().unwrap()).build();
    /// assert_eq!(c.policy(), Policy::Fifo);
    /// ```
    pub fn policy(mut self, policy: Policy) -> Self {
        self.cfg.policy = policy;
        self
    }

    /// Gives every insert without its own TTL this one.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder()
    ///     .default_ttl(Duration::from_secs(5)).build();
    /// c.insert(1, 1);
    /// assert!(c.ttl(&1).is_some());
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.cfg.default_ttl = Some(ttl);
        self
    }

    /// Keeps entries for `stale` past their TTL so that
    /// [`Cache::get_or_compute`] can serve them at once while one caller
    /// refreshes (stale-while-revalidate). Plain reads still treat them as
    /// expired.
    ///
    /// The `_revalidating` reads take the refresh off the caller's path
    /// altogether. An async one hands it to the
    /// [`spawner`](Self::spawner). A sync one
    /// ([`Cache::get_or_compute_revalidating`], and memoized sync fns)
    /// queues it for the background refresher, one pool for the whole
    /// process: at most 4 threads (fewer on a machine with fewer hardware
    /// threads), started when refreshes come and gone after 15 s without
    /// one, so a burst of stale keys never starts a thread per key and an
    /// idle process holds none. Up to 1024 refreshes wait for a thread;
    /// past that a refresh is skipped and counted in
    /// [`Stats::refreshes_skipped`](crate::Stats::refreshes_skipped): the
    /// stale value is served, and the next caller in the window tries
    /// again.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let c: Cache<u8, u32> = Cache::builder()
    ///     .clock(clock.clone())
    ///     .default_ttl(Duration::from_secs(10))
    ///     .stale_ttl(Duration::from_secs(5))
    ///     .build();
    /// c.insert(1, 100);
    /// clock.advance(Duration::from_secs(12));
    /// assert_eq!(c.get(&1), None);                                  // expired for plain reads
    /// assert_eq!(c.get_or_insert_with(1, || 200), 200);             // this caller refreshes
    ///
    /// clock.advance(Duration::from_secs(12));
    /// // Stale again: the value at once, the refresh on a background thread.
    /// assert_eq!(c.get_or_insert_with_revalidating(1, || 300), 200);
    /// assert_eq!(c.stats().refreshes_skipped, 0, "the queue had room");
    /// ```
    pub fn stale_ttl(mut self, stale: Duration) -> Self {
        self.cfg.stale_ttl = Some(stale);
        self
    }

    /// Adds a random extra TTL in `[0, jitter]` to every entry that gets a
    /// TTL, so entries written together do not all expire together.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder()
    ///     .default_ttl(Duration::from_secs(10))
    ///     .ttl_jitter(Duration::from_secs(2))
    ///     .build();
    /// c.insert(1, 1);
    /// assert!(c.ttl(&1).unwrap() <= Duration::from_secs(12));
    /// ```
    pub fn ttl_jitter(mut self, jitter: Duration) -> Self {
        self.cfg.ttl_jitter = Some(jitter);
        self
    }

    /// Starts a background thread that removes expired entries nobody
    /// reads, Redis-style: every `interval`, sample entries with a TTL and
    /// remove the expired (see [`Cache::sweep_expired`]). The thread holds
    /// only a weak reference and ends when the cache is dropped.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder()
    ///     .active_expiry(Duration::from_millis(100)).build();
    /// drop(c); // the sweeper stops
    /// ```
    pub fn active_expiry(mut self, interval: Duration) -> Self {
        self.cfg.active_expiry = Some(interval);
        self
    }

    /// How many entries one active-expiry round samples per shard (20).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder()
    ///     .active_expiry_samples(50).build();
    /// # let _ = c;
    /// ```
    pub fn active_expiry_samples(mut self, n: usize) -> Self {
        self.cfg.active_expiry_samples = n;
        self
    }

    /// Adds an event listener. Every listener gets every event; listeners
    /// run after locks are released, and a panicking one is caught and
    /// counted in [`Stats::listener_panics`](crate::Stats::listener_panics).
    ///
    /// A listener may call any method of the cache. Events raised on the
    /// delivering thread while it delivers (by the listener's own calls,
    /// and whatever they call) are not delivered to this cache's listeners,
    /// so a listener never hears of, nor recurses on, its own calls; other
    /// threads' events, and other caches', are delivered as usual (see
    /// [`Event`]).
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Event};
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::sync::Arc;
    ///
    /// let misses = Arc::new(AtomicUsize::new(0));
    /// let m = misses.clone();
    /// let c: Cache<u8, u8> = Cache::builder()
    ///     .on_event(move |e: &Event<'_, u8, u8>| {
    ///         if matches!(e, Event::Miss { .. }) { m.fetch_add(1, Ordering::Relaxed); }
    ///     })
    ///     .build();
    /// c.get(&1);
    /// assert_eq!(misses.load(Ordering::Relaxed), 1);
    /// ```
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&Event<'_, K, V>) + Send + Sync + 'static,
    {
        self.listeners.push(Arc::new(listener));
        self
    }

    /// Reads time from `clock` instead of the monotonic system clock.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, ManualClock};
    /// let c: Cache<u8, u8> = Cache::builder().clock(ManualClock::new()).build();
    /// # let _ = c;
    /// ```
    pub fn clock<C: Clock>(mut self, clock: C) -> Self {
        self.clock = Some(AnyClock::from_clock(clock));
        self
    }

    /// Chooses the lock in front of each shard. A striped lock gives
    /// each reader a stripe of its own, so hits on different cores write
    /// no common cache line and reads scale with cores; a writer then takes
    /// every stripe, which makes inserts and evictions dearer. A plain
    /// read-write lock has cheap writes, but every reader of a shard
    /// updates one counter. By default, machines with 8 or more hardware
    /// threads get striped locks and smaller ones plain locks.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u64, u64> =
    ///     cachelite_runtime::Cache::builder().striped_locks(true).build();
    /// c.insert(1, 2);
    /// assert_eq!(c.get(&1), Some(2));
    /// ```
    pub fn striped_locks(mut self, striped: bool) -> Self {
        self.cfg.striped_locks = Some(striped);
        self
    }

    /// Sets the shard count (a power of two). By default it follows the
    /// CPU count, capped so each shard keeps at least 512 items or 16 MiB.
    /// An explicit count is capped so each shard keeps at least one item
    /// (and one unit of weight) of the bounds.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder().shards(4).build();
    /// assert_eq!(c.shard_count(), 4);
    /// ```
    pub fn shards(mut self, n: usize) -> Self {
        self.cfg.shards = Some(n);
        self
    }

    /// Hashes keys with `hasher` instead of the [`DefaultHashBuilder`].
    ///
    /// ```
    /// use std::hash::RandomState;
    /// // SipHash-1-3, as std's HashMap uses.
    /// let c: cachelite_runtime::Cache<u8, u8, RandomState> =
    ///     cachelite_runtime::Cache::builder().hasher(RandomState::new()).build();
    /// # let _ = c;
    /// ```
    pub fn hasher<S2>(self, hasher: S2) -> CacheBuilder<K, V, S2> {
        CacheBuilder {
            cfg: self.cfg,
            weigher: self.weigher,
            deep_weigher: self.deep_weigher,
            listeners: self.listeners,
            clock: self.clock,
            name: self.name,
            spawner: self.spawner,
            refresher: self.refresher,
            scopes: self.scopes,
            hasher,
            _types: PhantomData,
        }
    }

    /// Names the cache for observability: the `cache` field of its
    /// load spans and removal events (feature `tracing`) and the `cache`
    /// label of its exported metrics (feature `metrics`). `#[memoize]`
    /// names each fn's cache after the fn (or its `name = ".."`).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> =
    ///     cachelite_runtime::Cache::builder().name("users").build();
    /// assert_eq!(c.name(), Some("users"));
    /// ```
    pub fn name(mut self, name: impl AsRef<str>) -> Self {
        self.name = Some(Arc::from(name.as_ref()));
        self
    }

    /// Names the executor that runs async stale refreshes: with a
    /// [`stale_ttl`](Self::stale_ttl), a caller of
    /// [`Cache::get_or_compute_async_revalidating`] that finds a stale
    /// entry gets it at once and hands the refresh to `spawn`. Without a
    /// spawner that caller refreshes inline. With tokio:
    /// `.spawner(|f| { tokio::spawn(f); })` (or the facade's
    /// `cachelite::tokio_spawner()`, feature `tokio`).
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use cachelite_runtime::{BoxFuture, Cache};
    ///
    /// // A spawner that queues futures, for an executor to run later.
    /// let queue: Arc<Mutex<Vec<BoxFuture>>> = Arc::default();
    /// let q = queue.clone();
    /// let cache: Cache<u8, u8> = Cache::builder()
    ///     .stale_ttl(std::time::Duration::from_secs(5))
    ///     .spawner(move |f| q.lock().unwrap().push(f))
    ///     .build();
    /// # drop(cache);
    /// ```
    pub fn spawner(
        mut self,
        spawn: impl Fn(crate::revalidate::BoxFuture) + Send + Sync + 'static,
    ) -> Self {
        self.spawner = Some(Arc::new(spawn));
        self
    }

    /// Runs sync stale refreshes on `pool` instead of the process-wide
    /// one, for tests that need a small queue or a short idle timeout.
    #[cfg(test)]
    pub(crate) fn refresher(mut self, pool: Arc<crate::refresher::Refresher>) -> Self {
        self.refresher = Some(pool);
        self
    }

    /// Puts the cache in a namespace (`"billing"`): it is saved in
    /// snapshots, and a restore refuses a snapshot from another namespace
    /// (see `Cache::restore`, feature `serde`).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> =
    ///     cachelite_runtime::Cache::builder().namespace("billing").build();
    /// assert_eq!(c.namespace(), Some("billing"));
    /// ```
    pub fn namespace(mut self, namespace: impl AsRef<str>) -> Self {
        self.cfg.namespace = Some(namespace.as_ref().to_owned());
        self
    }

    /// Sets the version of the cached data (0 by default). Bump it when
    /// what the cache holds changes meaning (a new value layout, a fixed
    /// computation): snapshots keep it, and a restore refuses a snapshot
    /// of another version unless asked (`Cache::restore_any_version`,
    /// feature `serde`).
    /// [`Cache::set_version`] changes it at run time, dropping every entry.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder().version(3).build();
    /// assert_eq!(c.version(), 3);
    /// ```
    pub fn version(mut self, version: u64) -> Self {
        self.cfg.version = version;
        self
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.cfg.namespace.as_deref() == Some("") {
            return Err(BuildError::EmptyNamespace);
        }
        if let Some(scopes) = &self.scopes {
            scopes.validate()?;
        }
        let c = &self.cfg;
        if c.max_items == Some(0) {
            return Err(BuildError::ZeroMaxItems);
        }
        if c.max_bytes == Some(0) {
            return Err(BuildError::ZeroMaxBytes);
        }
        if c.max_bytes.is_some() && self.weigher.is_none() && self.deep_weigher.is_none() {
            return Err(BuildError::MissingWeigher);
        }
        for (name, d) in [
            ("default_ttl", c.default_ttl),
            ("active_expiry", c.active_expiry),
        ] {
            if d.is_some_and(|d| d.is_zero()) {
                return Err(BuildError::ZeroDuration(name));
            }
        }
        if let Some(n) = c.shards
            && !n.is_power_of_two()
        {
            return Err(BuildError::ShardsNotPowerOfTwo(n));
        }
        if c.active_expiry_samples == 0 {
            return Err(BuildError::ZeroSamples);
        }
        Ok(())
    }
}

impl<K, V, S> CacheBuilder<K, V, S>
where
    K: DeepSize,
    V: DeepSize,
{
    /// Bounds the cache by deep size in bytes: for each entry, the heap its
    /// key and value own ([`DeepSize`]) plus the entry's fixed footprint.
    /// An entry larger than the budget (of one shard, when sharded) is
    /// rejected rather than allowed to flush the cache.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<String, String> = cachelite_runtime::Cache::builder()
    ///     .max_bytes(4096)
    ///     .build();
    /// c.insert("k".into(), "v".repeat(100));
    /// assert!(c.stats().bytes >= 101);
    /// assert!(!c.insert("big".into(), "v".repeat(10_000)));
    /// ```
    pub fn max_bytes(mut self, bytes: usize) -> Self {
        self.cfg.max_bytes = Some(bytes as u64);
        self.deep_weigher = Some(deep_weigher());
        self
    }

    /// Takes every option of `config`, replacing what was set before; a
    /// byte bound weighs entries by deep size, as [`Self::max_bytes`]
    /// does (or by the [`Self::weigher`], if one is set). Listeners, the
    /// weigher, the clock and the hasher are kept.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, CacheConfig, Event};
    ///
    /// let config = CacheConfig::from_lookup("APP_", |name| {
    ///     (name == "APP_MAX_ITEMS").then(|| "2".to_string())
    /// })?;
    /// let cache: Cache<u8, u8> = Cache::builder()
    ///     .config(&config)
    ///     .on_event(|_: &Event<'_, u8, u8>| {})
    ///     .build();
    /// assert_eq!(cache.max_items(), Some(2));
    /// # Ok::<(), cachelite_runtime::ConfigError>(())
    /// ```
    pub fn config(mut self, config: &CacheConfig) -> Self {
        self.cfg = config.clone();
        self.deep_weigher = config.max_bytes.map(|_| deep_weigher());
        self
    }
}

/// Weighs an entry by the heap its key and value own plus its fixed cost.
fn deep_weigher<K: DeepSize, V: DeepSize>() -> Weigher<K, V> {
    let overhead = entry_overhead::<K, V>();
    Arc::new(move |k: &K, v: &V| {
        (k.deep_size_of_children() + v.deep_size_of_children() + overhead) as u64
    })
}

/// Bytes one entry costs beyond what its key and value own on the heap:
/// the inline entry, its index slot and its policy links.
pub(crate) fn entry_overhead<K, V>() -> usize {
    std::mem::size_of::<crate::shard::Entry<K, V>>() + 4 * std::mem::size_of::<u32>() + 1
}

impl<K, V, S> CacheBuilder<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Builds the cache.
    ///
    /// # Panics
    /// On a configuration mistake, with the message of the [`BuildError`]
    /// that [`Self::try_build`] would return.
    ///
    /// ```should_panic
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder().max_items(0).build();
    /// ```
    pub fn build(self) -> Cache<K, V, S> {
        match self.try_build() {
            Ok(c) => c,
            Err(e) => panic!("invalid cachelite configuration: {e}"),
        }
    }

    /// Builds the cache, or says what is wrong with the configuration.
    ///
    /// ```
    /// let err = cachelite_runtime::Cache::<u8, u8>::builder().shards(3).try_build().unwrap_err();
    /// assert!(err.to_string().contains("power of two"));
    /// ```
    pub fn try_build(self) -> Result<Cache<K, V, S>, BuildError> {
        self.validate()?;
        let mut cfg = self.cfg;
        let namespace = cfg.namespace.as_deref().map(Arc::from);
        let version = cfg.version;
        let shard_count = cap_shards(
            cfg.shards
                .unwrap_or_else(|| default_shards(cfg.max_items, cfg.max_bytes)),
            cfg.max_items,
            cfg.max_bytes,
        );
        cfg.shards = Some(shard_count);
        let stale_nanos = cfg.stale_ttl.map_or(0, duration_nanos);
        let seed = fastrand::u64(..);
        let shards: Box<[_]> = (0..shard_count)
            .map(|i| {
                let limits = Limits {
                    max_items: cfg
                        .max_items
                        .map(|m| split(m as u64, shard_count, i) as usize),
                    max_weight: cfg.max_bytes.map(|w| split(w, shard_count, i)),
                    stale_nanos,
                };
                Padded(ShardLock::new(
                    Shard::new(cfg.policy, limits, seed.wrapping_add(i as u64)),
                    cfg.striped_locks,
                ))
            })
            .collect();
        let inner = Arc::new(Inner {
            mask: shard_count - 1,
            shards,
            hasher: self.hasher,
            clock: self.clock.unwrap_or_else(AnyClock::monotonic),
            config: cfg.clone(),
            weigher: self.weigher.or(self.deep_weigher),
            listeners: self.listeners,
            sweeper: OnceLock::new(),
            version: AtomicU64::new(version),
            namespace,
            scopes: self.scopes,
            loads: crate::loads::Loads::new(self.name.as_ref()),
            name: self.name,
            spawner: self.spawner,
            refresher: self.refresher,
        });
        if let Some(interval) = cfg.active_expiry {
            let weak: Weak<dyn Sweep> = Arc::downgrade(&inner) as Weak<Inner<K, V, S>>;
            let _ = inner.sweeper.set(spawn_sweeper(weak, interval));
        }
        #[cfg(feature = "metrics")]
        crate::metrics::watch(
            Arc::downgrade(&inner) as Weak<Inner<K, V, S>> as Weak<dyn crate::metrics::Publish>
        );
        Ok(Cache { inner })
    }
}

/// Shard `i`'s share of `total`, spreading the remainder over the first shards.
fn split(total: u64, shards: usize, i: usize) -> u64 {
    let n = shards as u64;
    total / n + u64::from((i as u64) < total % n)
}

fn default_shards(max_items: Option<usize>, max_weight: Option<u64>) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut n = (cpus * 4).next_power_of_two();
    if let Some(m) = max_items {
        n = n.min(floor_pow2((m / MIN_ITEMS_PER_SHARD).max(1)));
    }
    if let Some(w) = max_weight {
        #[allow(clippy::cast_possible_truncation)]
        let per = (w / MIN_BYTES_PER_SHARD).max(1).min(usize::MAX as u64) as usize;
        n = n.min(floor_pow2(per));
    }
    n
}

/// Caps an explicit shard count so that every shard's share of the bounds
/// is at least one item (or one unit of weight): a shard with a zero share
/// would reject every key that hashes to it.
fn cap_shards(n: usize, max_items: Option<usize>, max_weight: Option<u64>) -> usize {
    let mut n = n;
    if let Some(m) = max_items {
        n = n.min(floor_pow2(m.max(1)));
    }
    if let Some(w) = max_weight {
        #[allow(clippy::cast_possible_truncation)]
        let w = w.clamp(1, usize::MAX as u64) as usize;
        n = n.min(floor_pow2(w));
    }
    n
}

fn floor_pow2(x: usize) -> usize {
    1 << (usize::BITS - 1 - x.leading_zeros())
}

impl<K, V, S> fmt::Debug for CacheBuilder<K, V, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CacheBuilder")
            .field("config", &self.cfg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_caches_are_one_shard_and_budgets_add_up() {
        assert_eq!(default_shards(Some(2), None), 1);
        assert_eq!(default_shards(Some(1000), None), 1);
        assert!(default_shards(Some(1 << 20), None).is_power_of_two());
        assert_eq!(default_shards(None, Some(100_000)), 1);
        for (total, n) in [(10u64, 4usize), (7, 8), (1000, 16)] {
            assert_eq!((0..n).map(|i| split(total, n, i)).sum::<u64>(), total);
        }
        assert_eq!(floor_pow2(1), 1);
        assert_eq!(cap_shards(8, Some(4), None), 4);
        assert_eq!(cap_shards(8, Some(5), Some(2)), 2);
        assert_eq!(cap_shards(8, None, None), 8);
        assert_eq!(floor_pow2(19), 16);
    }

    #[test]
    fn every_mistake_has_a_clear_error() {
        let b = || Cache::<u8, u8>::builder();
        assert_eq!(
            b().max_items(0).try_build().unwrap_err(),
            BuildError::ZeroMaxItems
        );
        assert_eq!(
            b().max_weight(5).try_build().unwrap_err(),
            BuildError::MissingWeigher
        );
        assert_eq!(
            b().default_ttl(Duration::ZERO).try_build().unwrap_err(),
            BuildError::ZeroDuration("default_ttl")
        );
        assert_eq!(
            b().shards(6).try_build().unwrap_err(),
            BuildError::ShardsNotPowerOfTwo(6)
        );
        assert_eq!(
            b().active_expiry_samples(0).try_build().unwrap_err(),
            BuildError::ZeroSamples
        );
        assert!(b().max_items(1).try_build().is_ok());
    }
}
