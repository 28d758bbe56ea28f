//! The concurrent cache: power-of-two shards, each a read-mostly lock
//! around a [`Shard`]. Hits take it shared; everything that changes the
//! shard takes it exclusively. Removed entries are reported to listeners
//! and dropped only after the shard's lock is released.

use std::borrow::Borrow;
use std::fmt;
use std::future::Future;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use crate::builder::{BuildError, CacheBuilder, DefaultHashBuilder};
use crate::config::CacheConfig;
use crate::events::{Event, Listeners, RemovalCause};
use crate::expiry::{AnyClock, NEVER, Sweep, deadline};
use crate::glob::Glob;
use crate::policy::Policy;
use crate::shard::{Begun, Evicted, Item, Place, Shard, Tag};
use crate::singleflight::{Flight, Leader, Leading, WaitEdge, lead_async, thread_token};
use crate::size::DeepSize;
use crate::stats::{CacheInfo, Stats};
use crate::sync::{Padded, ShardLock};

/// One shard behind its lock, on its own cache lines.
pub(crate) type ShardSlot<K, V> = Padded<ShardLock<Shard<K, V>>>;

pub(crate) type Weigher<K, V> = Arc<dyn Fn(&K, &V) -> u64 + Send + Sync>;

pub(crate) struct Inner<K, V, S> {
    pub(crate) shards: Box<[ShardSlot<K, V>]>,
    pub(crate) mask: usize,
    pub(crate) hasher: S,
    pub(crate) clock: AnyClock,
    /// The data options, with the shard count chosen.
    pub(crate) config: CacheConfig,
    pub(crate) weigher: Option<Weigher<K, V>>,
    pub(crate) listeners: Listeners<K, V>,
    pub(crate) sweeper: OnceLock<Thread>,
    /// See [`Cache::set_version`].
    pub(crate) version: std::sync::atomic::AtomicU64,
    pub(crate) namespace: Option<Arc<str>>,
    /// Declared scope levels, and the tags each key's scope path gives it.
    pub(crate) scopes: Option<crate::scope::Levels<K>>,
    pub(crate) loads: crate::loads::Loads,
    /// See [`CacheBuilder::name`](crate::CacheBuilder::name).
    pub(crate) name: Option<Arc<str>>,
    /// Runs async stale refreshes ([`CacheBuilder::spawner`](crate::CacheBuilder::spawner)).
    pub(crate) spawner: Option<crate::revalidate::Spawner>,
    /// Runs sync stale refreshes; `None` for the process-wide pool.
    pub(crate) refresher: Option<Arc<crate::refresher::Refresher>>,
}

impl<K, V, S> Inner<K, V, S> {
    #[inline]
    fn shard_for(&self, hash: u64) -> &ShardLock<Shard<K, V>> {
        &self.shards[self.shard_index(hash)].0
    }

    #[inline]
    pub(crate) fn shard_index(&self, hash: u64) -> usize {
        // High bits pick the shard; hashbrown uses the low bits and the top 7.
        // The multiply folds every bit into the high ones first, so hashers
        // that leave them empty (identity hashers for integer keys) still
        // spread keys over every shard.
        #[allow(clippy::cast_possible_truncation)]
        let i = (hash.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask;
        i
    }
}

impl<K, V, S> Drop for Inner<K, V, S> {
    fn drop(&mut self) {
        if let Some(t) = self.sweeper.get() {
            t.unpark();
        }
    }
}

/// How an insert chooses its time to live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum TtlChoice {
    #[default]
    CacheDefault,
    Never,
    After(Duration),
}

/// How the callers that miss one key at the same time are served by
/// [`Cache::read_through`].
///
/// ```
/// use cachelite_runtime::{Cache, Insertion, Misses};
///
/// let cache: Cache<u32, u32> = Cache::new(10);
/// let v = cache.read_through(1, Misses::Independent, |v| v, || (2, Some(Insertion::new(2))));
/// assert_eq!((v, cache.get(&1)), (2, Some(2)));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Misses {
    /// One computation per key at a time; the others wait for its value
    /// (singleflight), as [`Cache::get_or_compute`].
    #[default]
    Shared,
    /// Every caller that misses computes on its own, and each result is
    /// stored in turn: no waiting and no in-flight bookkeeping, for
    /// computations cheap enough that duplicates cost less than waits.
    Independent,
}

/// A value to store, with its TTL and tags: what [`Cache::insert_entry`]
/// and the compute closures of [`Cache::get_or_compute`] hand to the cache.
///
/// ```
/// use cachelite_runtime::{Cache, Insertion};
/// use std::time::Duration;
///
/// let cache: Cache<u32, &str> = Cache::new(10);
/// cache.insert_entry(1, Insertion::new("one").with_ttl(Duration::from_secs(5)).with_tags(["odd"]));
/// assert_eq!(cache.invalidate_tags(&["odd"]), 1);
/// ```
#[derive(Clone, Debug)]
pub struct Insertion<V> {
    value: V,
    ttl: TtlChoice,
    tags: Vec<Tag>,
}

impl<V> Insertion<V> {
    /// The value, with the cache's default TTL and no tags.
    ///
    /// ```
    /// let i = cachelite_runtime::Insertion::new(5);
    /// assert_eq!(*i.value(), 5);
    /// ```
    pub fn new(value: V) -> Self {
        Self {
            value,
            ttl: TtlChoice::CacheDefault,
            tags: Vec::new(),
        }
    }

    /// Expires `ttl` after the insert (plus the cache's jitter, if any).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let i = cachelite_runtime::Insertion::new(5).with_ttl(Duration::from_secs(1));
    /// # let _ = i;
    /// ```
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = TtlChoice::After(ttl);
        self
    }

    /// Never expires, whatever the cache's default TTL.
    ///
    /// ```
    /// let i = cachelite_runtime::Insertion::new(5).without_ttl();
    /// # let _ = i;
    /// ```
    #[must_use]
    pub fn without_ttl(mut self) -> Self {
        self.ttl = TtlChoice::Never;
        self
    }

    /// Adds tags, for [`Cache::invalidate_tags`].
    ///
    /// ```
    /// let i = cachelite_runtime::Insertion::new(5).with_tags(["a", "b"]);
    /// # let _ = i;
    /// ```
    #[must_use]
    pub fn with_tags<I, T>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.tags
            .extend(tags.into_iter().map(|t| Tag::from(t.as_ref())));
        self
    }

    /// The value to be stored.
    ///
    /// ```
    /// assert_eq!(*cachelite_runtime::Insertion::new("v").value(), "v");
    /// ```
    pub fn value(&self) -> &V {
        &self.value
    }
}

/// A concurrent, bounded, sharded cache. Cloning it clones a handle: every
/// clone sees the same entries.
///
/// ```
/// use cachelite_runtime::{Cache, Policy};
/// use std::time::Duration;
///
/// let cache: Cache<String, String> = Cache::builder()
///     .max_items(2)
///     .policy(Policy::Lru)
///     .default_ttl(Duration::from_secs(60))
///     .build();
/// cache.insert("a".into(), "1".into());
/// cache.insert("b".into(), "2".into());
/// cache.get("a");                          // a is now the most recent
/// cache.insert("c".into(), "3".into());    // evicts b, the least recent
/// assert!(cache.contains_key("a") && !cache.contains_key("b"));
/// assert_eq!(cache.stats().evictions, 1);
/// ```
pub struct Cache<K, V, S = DefaultHashBuilder> {
    pub(crate) inner: Arc<Inner<K, V, S>>,
}

impl<K, V, S> Clone for Cache<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Cache<K, V, DefaultHashBuilder> {
    /// A builder with the defaults: LRU, unbounded, no TTL, the
    /// [`DefaultHashBuilder`].
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder().max_items(5).build();
    /// assert_eq!(c.max_items(), Some(5));
    /// ```
    pub fn builder() -> CacheBuilder<K, V, DefaultHashBuilder> {
        CacheBuilder::new()
    }
}

impl<K, V> Cache<K, V, DefaultHashBuilder>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    /// A cache configured by `config` (see [`CacheConfig`]); a byte bound
    /// weighs entries by their deep size ([`DeepSize`]). For listeners or a
    /// weigher as well, use [`CacheBuilder::config`].
    ///
    /// # Errors
    /// The [`BuildError`] for a configuration mistake (`max_items` of 0, a
    /// shard count that is not a power of two, ...).
    ///
    /// ```
    /// use cachelite_runtime::{Cache, CacheConfig, Policy};
    /// use std::time::Duration;
    ///
    /// let mut config = CacheConfig::default();
    /// config.max_bytes = Some(1 << 20);
    /// config.default_ttl = Some(Duration::from_secs(60));
    /// let cache: Cache<String, String> = Cache::from_config(&config)?;
    /// cache.insert("k".into(), "v".into());
    /// assert!(cache.ttl("k").is_some());
    ///
    /// config.shards = Some(3);
    /// assert!(Cache::<String, String>::from_config(&config).is_err());
    /// # Ok::<(), cachelite_runtime::BuildError>(())
    /// ```
    pub fn from_config(config: &CacheConfig) -> Result<Self, BuildError>
    where
        K: DeepSize,
        V: DeepSize,
    {
        Self::builder().config(config).try_build()
    }

    /// An LRU cache holding at most `max_items` entries.
    ///
    /// # Panics
    /// If `max_items` is 0.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(100);
    /// assert!(c.is_empty());
    /// ```
    #[must_use]
    pub fn new(max_items: usize) -> Self {
        Self::builder().max_items(max_items).build()
    }
}

/// Takes over a stale entry's refresh (its lead and its computation) off
/// the caller's path; see `revalidate.rs`.
pub(crate) type Background<K, V, S, C> = fn(&Cache<K, V, S>, Leader<'_, K, V, S>, C);

/// What [`Cache::begin`] found.
enum Begin<'a, K, V, S> {
    Hit(V),
    Lead(Leader<'a, K, V, S>),
    /// Another caller computes the key: its flight, and the flight's id.
    Wait(Arc<Flight<V>>, K, u64),
    /// The key is being computed by this very thread (recursion).
    Recursive(K),
    /// A stale value to serve, and the lead of its refresh.
    Revalidate(V, Leader<'a, K, V, S>),
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    #[inline]
    pub(crate) fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.inner.hasher.hash_one(key)
    }

    #[inline]
    pub(crate) fn shard(&self, hash: u64) -> &ShardLock<Shard<K, V>> {
        self.inner.shard_for(hash)
    }

    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    /// Reports removals to listeners, then drops them: always called after
    /// the shard lock is released.
    #[inline]
    pub(crate) fn finish(&self, evicted: Evicted<K, V>) {
        if !evicted.is_empty() {
            self.report_removals(evicted);
        }
    }

    #[cold]
    fn report_removals(&self, evicted: Evicted<K, V>) {
        #[cfg(feature = "tracing")]
        for r in evicted.iter() {
            self.trace_removal(r.cause);
        }
        if self.inner.listeners.is_empty() {
            return;
        }
        for r in evicted.into_iter() {
            self.inner.listeners.emit(&Event::Removed {
                key: &r.key,
                value: &r.value,
                cause: r.cause,
            });
        }
    }

    /// A debug event for an eviction or an expiration (other removals are
    /// the caller's own doing), emitted after the shard lock is released.
    #[cfg(feature = "tracing")]
    fn trace_removal(&self, cause: RemovalCause) {
        let cache = self.inner.name.as_deref().unwrap_or("");
        match cause {
            RemovalCause::Size => {
                tracing::debug!(cache, cause = "size", "cachelite: entry evicted")
            }
            RemovalCause::Expired => {
                tracing::debug!(cache, cause = "expired", "cachelite: entry expired");
            }
            RemovalCause::Explicit | RemovalCause::Replaced => {}
        }
    }

    pub(crate) fn weigh(&self, key: &K, value: &V) -> u64 {
        self.inner.weigher.as_ref().map_or(0, |w| w(key, value))
    }

    fn expiry_for(&self, choice: TtlChoice) -> u64 {
        let ttl = match choice {
            TtlChoice::Never => return NEVER,
            TtlChoice::After(d) => d,
            TtlChoice::CacheDefault => match self.inner.config.default_ttl {
                Some(d) => d,
                None => return NEVER,
            },
        };
        let ttl = match self.inner.config.ttl_jitter {
            Some(j) if !j.is_zero() => {
                let extra = fastrand::u64(..=crate::expiry::duration_nanos(j));
                ttl.saturating_add(Duration::from_nanos(extra))
            }
            _ => ttl,
        };
        deadline(self.now(), ttl)
    }

    /// What [`Shard::store`] takes for an insertion, weighed and with its
    /// deadline (computed before the lock: the weigher is user code).
    pub(crate) fn item(&self, hash: u64, key: K, ins: Insertion<V>) -> Item<K, V> {
        Item {
            hash,
            weight: self.weigh(&key, &ins.value),
            expires_at: self.expiry_for(ins.ttl),
            tags: crate::scope::entry_tags(ins.tags, self.inner.scopes.as_ref(), &key),
            key,
            value: ins.value,
        }
    }

    /// Stores an item under an already held lock; on rejection the pair
    /// comes back for the caller to drop after unlocking.
    pub(crate) fn store_locked(
        &self,
        g: &mut Shard<K, V>,
        item: Item<K, V>,
        evicted: &mut Evicted<K, V>,
    ) -> Result<(), (K, V)> {
        g.store(
            item,
            Place::InPlace,
            |d| self.inner.clock.now_near(d),
            evicted,
        )
        .map(drop)
    }

    /// Ends computation `id` with what its leader computed: stores it
    /// (unless an invalidation while it ran keeps it out), hands it to the
    /// waiters, then reports the insert and the removals.
    pub(crate) fn land_flight(&self, hash: u64, id: u64, key: K, ins: Insertion<V>) {
        let event = (!self.inner.listeners.is_empty()).then(|| (key.clone(), ins.value.clone()));
        let item = self.item(hash, key, ins);
        let mut evicted = Evicted::new();
        let (shared, result) =
            self.shard(hash)
                .write()
                .land(id, item, |d| self.inner.clock.now_near(d), &mut evicted);
        if let Some((flight, value)) = shared {
            flight.finish(Some(value));
        }
        let stored = result.is_ok();
        drop(result);
        if stored && let Some((k, v)) = &event {
            self.inner
                .listeners
                .emit(&Event::Inserted { key: k, value: v });
        }
        self.finish(evicted);
    }

    /// Stores `value` under `key` with the cache's default TTL, evicting as
    /// needed. Returns `false` if the entry alone outweighs the byte budget
    /// (it is then not stored, and any old value for `key` is dropped).
    ///
    /// With [`Policy::TinyLfu`] a full cache may decline a new key that has
    /// been requested less often than what it would displace: the insert
    /// still returns `true` and reports [`Event::Inserted`], and the entry
    /// leaves at once as an eviction ([`RemovalCause::Size`]), exactly as if
    /// a later insert had pushed it out.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<&str, u32> = cachelite_runtime::Cache::new(10);
    /// assert!(c.insert("a", 1));
    /// assert_eq!(c.get("a"), Some(1));
    /// ```
    pub fn insert(&self, key: K, value: V) -> bool {
        self.insert_entry(key, Insertion::new(value))
    }

    /// Stores `value` expiring `ttl` from now.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c: cachelite_runtime::Cache<&str, u32> = cachelite_runtime::Cache::new(10);
    /// c.insert_with_ttl("a", 1, Duration::from_secs(30));
    /// assert!(c.ttl("a").unwrap() <= Duration::from_secs(30));
    /// ```
    pub fn insert_with_ttl(&self, key: K, value: V, ttl: Duration) -> bool {
        self.insert_entry(key, Insertion::new(value).with_ttl(ttl))
    }

    /// Stores `value` carrying `tags`, for [`Cache::invalidate_tags`].
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<&str, u32> = cachelite_runtime::Cache::new(10);
    /// c.insert_with_tags("user:1:name", 1, ["user:1", "users"]);
    /// c.insert_with_tags("user:2:name", 2, ["user:2", "users"]);
    /// assert_eq!(c.invalidate_tags(&["user:1"]), 1);
    /// assert_eq!(c.invalidate_tags(&["users"]), 1);
    /// ```
    pub fn insert_with_tags<I, T>(&self, key: K, value: V, tags: I) -> bool
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.insert_entry(key, Insertion::new(value).with_tags(tags))
    }

    /// Stores an [`Insertion`]: a value with its own TTL and tags.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion};
    /// let c: Cache<u8, u8> = Cache::new(10);
    /// assert!(c.insert_entry(1, Insertion::new(1).without_ttl()));
    /// ```
    pub fn insert_entry(&self, key: K, ins: Insertion<V>) -> bool {
        let hash = self.hash(&key);
        let event = (!self.inner.listeners.is_empty()).then(|| (key.clone(), ins.value.clone()));
        let item = self.item(hash, key, ins);
        let mut evicted = Evicted::new();
        // On rejection the pair comes back, to be dropped after the lock.
        let result = self.shard(hash).write().store(
            item,
            Place::InPlace,
            |d| self.inner.clock.now_near(d),
            &mut evicted,
        );
        let stored = result.is_ok();
        drop(result);
        if stored && let Some((k, v)) = &event {
            self.inner
                .listeners
                .emit(&Event::Inserted { key: k, value: v });
        }
        self.finish(evicted);
        stored
    }

    /// The value for `key` if present and fresh. Counts a hit or a miss and
    /// tells the policy about the read; an expired entry is removed.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<String, u32> = cachelite_runtime::Cache::new(10);
    /// c.insert("k".to_string(), 1);
    /// assert_eq!(c.get("k"), Some(1));   // look up a String key by &str
    /// assert_eq!(c.get("x"), None);
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        match self.hit(hash, key) {
            Some(value) => Some(value),
            None => self.get_exclusive(hash, key),
        }
    }

    /// [`Cache::get`] past a shared-lock read that found nothing fresh (a
    /// miss, a stale or an expired entry): out of line, so that a hit's
    /// path stays short.
    #[inline(never)]
    fn get_exclusive<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // A miss, a stale or an expired entry: the exclusive path, which
        // looks again (the key may have arrived meanwhile) and removes a
        // dead entry.
        let listen = !self.inner.listeners.is_empty();
        let mut evicted = Evicted::new();
        let (value, event_key) = {
            let mut g = self.shard(hash).write();
            match g.get(hash, key, |d| self.inner.clock.now_near(d), &mut evicted) {
                Some(e) => (Some(e.value.clone()), listen.then(|| e.key.clone())),
                None => (None, None),
            }
        };
        if listen {
            match (&value, &event_key) {
                (Some(v), Some(k)) => self.inner.listeners.emit(&Event::Hit { key: k, value: v }),
                _ => self.inner.listeners.emit(&Event::Miss { key: None }),
            }
        }
        self.finish(evicted);
        value
    }

    /// The value for `key` if present and fresh, without counting a hit or
    /// a miss and without telling the policy.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 2);
    /// assert_eq!(c.peek(&1), Some(2));
    /// assert_eq!(c.stats().hits, 0);
    /// ```
    pub fn peek<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let g = self.shard(hash).read();
        Some(
            g.peek(hash, key, |d| self.inner.clock.now_near(d))?
                .value
                .clone(),
        )
    }

    /// Whether `key` is present and fresh (no stats, no policy change).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 2);
    /// assert!(c.contains_key(&1) && !c.contains_key(&2));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        self.shard(hash)
            .read()
            .peek(hash, key, |d| self.inner.clock.now_near(d))
            .is_some()
    }

    /// Removes `key`, returning its value if it was present and fresh.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 2);
    /// assert_eq!(c.remove(&1), Some(2));
    /// assert_eq!(c.remove(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        let removed = self.shard(hash).write().remove(hash, key, now)?;
        #[cfg(feature = "tracing")]
        self.trace_removal(removed.cause);
        if !self.inner.listeners.is_empty() {
            self.inner.listeners.emit(&Event::Removed {
                key: &removed.key,
                value: &removed.value,
                cause: removed.cause,
            });
        }
        (removed.cause == RemovalCause::Explicit).then_some(removed.value)
    }

    /// The time `key` has left to live; `None` if it is missing, expired,
    /// or has no TTL.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 1);
    /// assert_eq!(c.ttl(&1), None);
    /// c.expire(&1, Duration::from_secs(9));
    /// assert!(c.ttl(&1).is_some());
    /// ```
    pub fn ttl<Q>(&self, key: &Q) -> Option<Duration>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        let left = self.shard(hash).read().ttl_left(hash, key, now)?;
        Some(Duration::from_nanos(left))
    }

    /// Sets the time to live of a present, fresh entry. Returns whether
    /// there was one.
    ///
    /// ```
    /// use std::time::Duration;
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert!(!c.expire(&1, Duration::from_secs(1)));
    /// c.insert(1, 1);
    /// assert!(c.expire(&1, Duration::from_secs(1)));
    /// ```
    pub fn expire<Q>(&self, key: &Q, ttl: Duration) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        self.shard(hash)
            .write()
            .set_expiry(hash, key, now, deadline(now, ttl))
    }

    /// Removes the TTL of a present, fresh entry. Returns whether a TTL was
    /// removed (`false` for a missing key or one without a TTL, as Redis's
    /// `PERSIST`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert_with_ttl(1, 1, Duration::from_secs(5));
    /// assert!(c.persist(&1));
    /// assert_eq!(c.ttl(&1), None);
    /// assert!(!c.persist(&1), "no TTL left to remove");
    /// ```
    pub fn persist<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        self.shard(hash).write().persist(hash, key, now)
    }

    /// The shared-lock read every lookup starts with: the value of a fresh
    /// entry, counted as a hit and recorded for the policy, reported to the
    /// listeners after the lock. `None` leaves the rest (a miss, a stale or
    /// an expired entry) to the exclusive path.
    #[inline(always)]
    pub(crate) fn hit<Q>(&self, hash: u64, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let g = self.shard(hash).read();
        let e = g.hit(hash, key, |d| self.inner.clock.now_near(d))?;
        let value = e.value.clone();
        if self.inner.listeners.is_empty() {
            return Some(value);
        }
        let key = e.key.clone();
        drop(g);
        self.report_hit(&key, &value);
        Some(value)
    }

    #[cold]
    #[inline(never)]
    fn report_hit(&self, key: &K, value: &V) {
        self.inner.listeners.emit(&Event::Hit { key, value });
    }

    /// After a shared-lock read found nothing fresh, looks `key` up again
    /// under the exclusive lock and, on a miss, either joins the
    /// computation already in flight for it or becomes its leader. `sync`
    /// callers are checked for recursion on a key their own thread is
    /// computing.
    fn begin(&self, key: K, hash: u64, sync: bool, revalidate: bool) -> Begin<'_, K, V, S> {
        let listen = !self.inner.listeners.is_empty();
        let mut evicted = Evicted::new();
        let mut hit_event = None;
        let step = {
            let mut g = self.shard(hash).write();
            let now = |d| self.inner.clock.now_near(d);
            let me = sync.then(thread_token);
            match g.begin(hash, &key, now, me, revalidate, &mut evicted) {
                Begun::Hit(e) => {
                    if listen {
                        hit_event = Some((e.key.clone(), e.value.clone()));
                    }
                    Begin::Hit(e.value.clone())
                }
                Begun::Revalidate(e, id) => {
                    if listen {
                        hit_event = Some((e.key.clone(), e.value.clone()));
                    }
                    let value = e.value.clone();
                    Begin::Revalidate(value, Leader::new(self, hash, key, id))
                }
                Begun::Wait(flight, id) => Begin::Wait(flight, key, id),
                Begun::Recursive => Begin::Recursive(key),
                Begun::Lead(id) => Begin::Lead(Leader::new(self, hash, key, id)),
            }
        };
        if listen {
            match (&step, &hit_event) {
                (Begin::Hit(_) | Begin::Revalidate(..), Some((k, v))) => {
                    self.inner.listeners.emit(&Event::Hit { key: k, value: v });
                }
                (Begin::Lead(l), _) => {
                    // The listener runs as part of this computation: if it
                    // asks for the key, that is a cycle, not a wait.
                    let _leading = Leading::enter(l.id());
                    self.inner.listeners.emit(&Event::Miss { key: l.key() });
                }
                (Begin::Recursive(k), _) => {
                    self.inner.listeners.emit(&Event::Miss { key: Some(k) })
                }
                _ => {}
            }
        }
        self.finish(evicted);
        step
    }

    /// Counts a caller that computes a key in flight elsewhere, because
    /// waiting for it would close a cycle: a miss.
    fn count_cycle(&self, hash: u64, key: &K) {
        self.shard(hash).read().count_miss_shared();
        if !self.inner.listeners.is_empty() {
            self.inner.listeners.emit(&Event::Miss { key: Some(key) });
        }
    }

    /// Counts a caller that got a leader's value: a hit, since it computed
    /// nothing.
    fn count_joined(&self, hash: u64, key: &K, value: &V) {
        self.shard(hash).read().count_hit_shared();
        if !self.inner.listeners.is_empty() {
            self.inner.listeners.emit(&Event::Hit { key, value });
        }
    }

    /// The general read-through: on a hit, `on_hit(value)`; on a miss,
    /// `compute()` runs once across all concurrent callers for `key` and
    /// returns the caller's output plus what to store, if anything.
    /// Waiters get `on_hit(clone)` of what the leader stored; if it stored
    /// nothing (or panicked), one of them computes in turn.
    ///
    /// Stats count one miss per computation and one hit per caller served
    /// without computing, waiters included: for a memoized function,
    /// `misses` is the number of times its body ran.
    ///
    /// With a stale window (`CacheBuilder::stale_ttl`), an entry past its
    /// TTL is served at once to every caller but one, who refreshes it.
    ///
    /// A caller never waits where waiting could not end. If `compute` asks
    /// for its own key on the same thread (recursion), or asks for a key
    /// whose computation is, through a chain of waits across threads,
    /// tasks and caches, waiting on this one (thread A computes `f(1)`,
    /// which needs `f(2)`, which thread B is computing and which needs
    /// `f(1)`), the caller that would close the loop computes its key
    /// itself: its result is returned to it, counted as a miss, and not
    /// stored (the flight's leader stores its own). Chains are followed
    /// through the computations' own calls only: a computation that hands
    /// work to another thread or task and blocks on it is not seen.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion};
    ///
    /// let cache: Cache<u32, u32> = Cache::new(100);
    /// // Cache only even results; return them either way.
    /// let out = cache.get_or_compute(3, |v| v, || {
    ///     let v = 3 * 2 + 1;
    ///     (v, (v % 2 == 0).then(|| Insertion::new(v)))
    /// });
    /// assert_eq!(out, 7);
    /// assert!(cache.is_empty());
    /// ```
    #[inline]
    pub fn get_or_compute<O>(
        &self,
        key: K,
        on_hit: impl FnOnce(V) -> O,
        compute: impl FnOnce() -> (O, Option<Insertion<V>>),
    ) -> O {
        let hash = self.hash(&key);
        match self.hit(hash, &key) {
            Some(v) => on_hit(v),
            None => self.compute_or_join(key, hash, on_hit, compute, None),
        }
    }

    /// [`Cache::get_or_compute`] past a shared-lock read that found nothing
    /// fresh: out of line, so that a hit's path stays short.
    /// `background`, if any, takes over the refresh of a stale entry so
    /// that this caller returns the stale value at once.
    #[inline(never)]
    pub(crate) fn compute_or_join<O, C>(
        &self,
        key: K,
        hash: u64,
        on_hit: impl FnOnce(V) -> O,
        compute: C,
        background: Option<Background<K, V, S, C>>,
    ) -> O
    where
        C: FnOnce() -> (O, Option<Insertion<V>>),
    {
        let mut key = key;
        loop {
            match self.begin(key, hash, true, background.is_some()) {
                Begin::Hit(v) => return on_hit(v),
                Begin::Revalidate(v, leader) => {
                    if let Some(refresh) = background {
                        refresh(self, leader, compute);
                    }
                    return on_hit(v);
                }
                Begin::Lead(leader) => {
                    let (out, ins) = {
                        let _leading = Leading::enter(leader.id());
                        self.inner.loads.time(compute)
                    };
                    leader.complete(ins);
                    return out;
                }
                // Recursion on the key this thread is computing: waiting
                // would never end, so compute directly.
                Begin::Recursive(_) => return self.inner.loads.time(compute).0,
                Begin::Wait(flight, k, id) => {
                    // A stale refresh still queued for a thread: run it
                    // here, then join it as if another thread had.
                    self.run_queued_refresh(id);
                    let Some(edge) = WaitEdge::enter(id) else {
                        // Waiting would close a cycle: compute instead.
                        self.count_cycle(hash, &k);
                        return self.inner.loads.time(compute).0;
                    };
                    // The refresh may be queued just after the look above:
                    // look again now and then while waiting.
                    let joined =
                        flight.wait_blocking_rechecking(Some(|| self.run_queued_refresh(id)));
                    drop(edge);
                    match joined {
                        Some(v) => {
                            self.count_joined(hash, &k, &v);
                            return on_hit(v);
                        }
                        None => key = k,
                    }
                }
            }
        }
    }

    /// [`Cache::get_or_compute`] with the handling of concurrent misses
    /// chosen: [`Misses::Shared`] is `get_or_compute` itself;
    /// [`Misses::Independent`] looks up, and on a miss computes and stores
    /// without joining or registering any computation in flight.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion, Misses};
    ///
    /// let cache: Cache<&str, usize> = Cache::new(10);
    /// let len = |s: &'static str| cache.read_through(s, Misses::Independent, |v| v, || {
    ///     (s.len(), Some(Insertion::new(s.len())))
    /// });
    /// assert_eq!(len("four"), 4);
    /// assert_eq!(cache.stats().misses, 1);
    /// assert_eq!(len("four"), 4);
    /// assert_eq!(cache.stats().hits, 1);
    /// ```
    #[inline]
    pub fn read_through<O>(
        &self,
        key: K,
        misses: Misses,
        on_hit: impl FnOnce(V) -> O,
        compute: impl FnOnce() -> (O, Option<Insertion<V>>),
    ) -> O {
        if misses == Misses::Shared {
            return self.get_or_compute(key, on_hit, compute);
        }
        if let Some(v) = self.get(&key) {
            return on_hit(v);
        }
        let (out, ins) = self.inner.loads.time(compute);
        if let Some(ins) = ins {
            self.insert_entry(key, ins);
        }
        out
    }

    /// The async form of [`Cache::read_through`]: `compute` is a future,
    /// polled only if this caller computes.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion, Misses};
    ///
    /// let cache: Cache<u8, u8> = Cache::new(10);
    /// let v = futures::executor::block_on(cache.read_through_async(
    ///     1,
    ///     Misses::Independent,
    ///     |v| v,
    ///     async { (5, Some(Insertion::new(5))) },
    /// ));
    /// assert_eq!((v, cache.get(&1)), (5, Some(5)));
    /// ```
    pub async fn read_through_async<O, F>(
        &self,
        key: K,
        misses: Misses,
        on_hit: impl FnOnce(V) -> O,
        compute: F,
    ) -> O
    where
        F: Future<Output = (O, Option<Insertion<V>>)>,
    {
        if misses == Misses::Shared {
            return self.get_or_compute_async(key, on_hit, compute).await;
        }
        if let Some(v) = self.get(&key) {
            return on_hit(v);
        }
        let (out, ins) = self.inner.loads.time_async(compute).await;
        if let Some(ins) = ins {
            self.insert_entry(key, ins);
        }
        out
    }

    /// The async form of [`Cache::get_or_compute`]: `compute` is a future,
    /// polled only if this caller leads. Works on any executor; the returned
    /// future is `Send` when `compute` is. Dropping it while it computes
    /// hands the key to a waiter. Cycles of waits (a task's computation
    /// needing, through other tasks, threads or caches, its own key) are
    /// broken as for the sync form: the caller that would close the loop
    /// computes without waiting and stores nothing.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Insertion};
    ///
    /// let cache: Cache<u32, String> = Cache::new(100);
    /// let v = futures::executor::block_on(cache.get_or_compute_async(
    ///     1,
    ///     |v| v,
    ///     async { let v = "one".to_string(); (v.clone(), Some(Insertion::new(v))) },
    /// ));
    /// assert_eq!(v, "one");
    /// assert_eq!(cache.get(&1).as_deref(), Some("one"));
    /// ```
    pub async fn get_or_compute_async<O, F>(
        &self,
        key: K,
        on_hit: impl FnOnce(V) -> O,
        compute: F,
    ) -> O
    where
        F: Future<Output = (O, Option<Insertion<V>>)>,
    {
        let hash = self.hash(&key);
        if let Some(v) = self.hit(hash, &key) {
            return on_hit(v);
        }
        self.compute_or_join_async(key, hash, on_hit, compute, None)
            .await
    }

    /// [`Cache::get_or_compute_async`] past the shared-lock read;
    /// `background`, as for [`Cache::compute_or_join`].
    pub(crate) async fn compute_or_join_async<O, F>(
        &self,
        key: K,
        hash: u64,
        on_hit: impl FnOnce(V) -> O,
        compute: F,
        background: Option<Background<K, V, S, F>>,
    ) -> O
    where
        F: Future<Output = (O, Option<Insertion<V>>)>,
    {
        let mut key = key;
        loop {
            match self.begin(key, hash, false, background.is_some()) {
                Begin::Hit(v) => return on_hit(v),
                Begin::Revalidate(v, leader) => {
                    if let Some(refresh) = background {
                        refresh(self, leader, compute);
                    }
                    return on_hit(v);
                }
                Begin::Lead(leader) => {
                    let (out, ins) =
                        lead_async(leader.id(), self.inner.loads.time_async(compute)).await;
                    leader.complete(ins);
                    return out;
                }
                Begin::Wait(flight, k, id) => {
                    let Some(edge) = WaitEdge::enter(id) else {
                        // Waiting would close a cycle: compute instead.
                        self.count_cycle(hash, &k);
                        return self.inner.loads.time_async(compute).await.0;
                    };
                    let joined = flight.wait_async().await;
                    drop(edge);
                    match joined {
                        Some(v) => {
                            self.count_joined(hash, &k, &v);
                            return on_hit(v);
                        }
                        None => key = k,
                    }
                }
                Begin::Recursive(_) => {
                    unreachable!("async callers are never checked for recursion")
                }
            }
        }
    }

    /// The value for `key`, computing and storing it with `init` on a miss.
    /// Concurrent callers for the same key run `init` once; the others wait
    /// and get a clone. `init` runs with no lock held, so it may use the
    /// cache (other keys) itself.
    ///
    /// A waiting thread blocks. Do not call this from inside an async task
    /// on a single-threaded executor while another task of that executor
    /// may be computing the same key with the `_async` form: the wait
    /// would block the thread that task needs. Async code uses the `_async`
    /// forms.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u64, u64> = cachelite_runtime::Cache::new(100);
    /// assert_eq!(c.get_or_insert_with(2, || 4), 4);
    /// assert_eq!(c.get_or_insert_with(2, || unreachable!()), 4);
    /// ```
    pub fn get_or_insert_with(&self, key: K, init: impl FnOnce() -> V) -> V {
        self.get_or_compute(
            key,
            |v| v,
            || {
                let v = init();
                (v.clone(), Some(Insertion::new(v)))
            },
        )
    }

    /// Like [`Cache::get_or_insert_with`], for a fallible `init`: an `Err`
    /// is returned to this caller and never stored (a waiter retries).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert_eq!(c.try_get_or_insert_with(1, || Err::<u8, _>("down")), Err("down"));
    /// assert_eq!(c.try_get_or_insert_with(1, || Ok::<_, &str>(5)), Ok(5));
    /// assert_eq!(c.get(&1), Some(5));
    /// ```
    pub fn try_get_or_insert_with<E>(
        &self,
        key: K,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        self.get_or_compute(key, Ok, || match init() {
            Ok(v) => (Ok(v.clone()), Some(Insertion::new(v))),
            Err(e) => (Err(e), None),
        })
    }

    /// The async form of [`Cache::get_or_insert_with`]: `init` is a future,
    /// polled only by the caller that computes.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// let v = futures::executor::block_on(c.get_or_insert_with_async(1, async { 9 }));
    /// assert_eq!(v, 9);
    /// ```
    pub async fn get_or_insert_with_async(&self, key: K, init: impl Future<Output = V>) -> V {
        self.get_or_compute_async(key, |v| v, async move {
            let v = init.await;
            (v.clone(), Some(Insertion::new(v)))
        })
        .await
    }

    /// The async form of [`Cache::try_get_or_insert_with`].
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// let r = futures::executor::block_on(c.try_get_or_insert_with_async(1, async { Err::<u8, _>(()) }));
    /// assert!(r.is_err() && c.is_empty());
    /// ```
    pub async fn try_get_or_insert_with_async<E>(
        &self,
        key: K,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E> {
        self.get_or_compute_async(key, Ok, async move {
            match init.await {
                Ok(v) => (Ok(v.clone()), Some(Insertion::new(v))),
                Err(e) => (Err(e), None),
            }
        })
        .await
    }

    /// Removes every entry carrying any of `tags`; returns how many were
    /// fresh. Entries already past their TTL are removed too, but count as
    /// expirations, as they would had a read found them first.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert_with_tags(1, 1, ["a"]);
    /// c.insert_with_tags(2, 2, ["a", "b"]);
    /// c.insert_with_tags(3, 3, ["c"]);
    /// assert_eq!(c.invalidate_tags(&["a", "b"]), 2);
    /// assert_eq!(c.len(), 1);
    /// ```
    pub fn invalidate_tags<T: AsRef<str>>(&self, tags: &[T]) -> usize {
        let mut total = 0;
        for shard in &*self.inner.shards {
            let mut evicted = Evicted::new();
            total += shard
                .write()
                .invalidate_tags(tags, self.now(), &mut evicted);
            self.finish(evicted);
        }
        total
    }

    /// Removes every entry. Computations in flight finish and reach their
    /// callers, but their results are not stored.
    /// The counters of [`Cache::stats`] are kept; [`Cache::reset_stats`]
    /// resets them.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 1);
    /// c.clear();
    /// assert!(c.is_empty());
    /// ```
    pub fn clear(&self) {
        for shard in &*self.inner.shards {
            let mut evicted = Evicted::new();
            shard.write().clear(&mut evicted);
            self.finish(evicted);
        }
    }

    /// Number of entries held, including expired ones not yet removed.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 1);
    /// assert_eq!(c.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.shards.iter().map(|s| s.read().len()).sum()
    }

    /// Whether the cache holds no entry.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert!(c.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The keys of every fresh entry, in no particular order.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 1);
    /// c.insert(2, 2);
    /// let mut k = c.keys();
    /// k.sort();
    /// assert_eq!(k, [1, 2]);
    /// ```
    pub fn keys(&self) -> Vec<K> {
        self.collect_keys(|_| true)
    }

    fn collect_keys(&self, mut pred: impl FnMut(&K) -> bool) -> Vec<K> {
        let now = self.now();
        let mut out = Vec::new();
        for shard in &*self.inner.shards {
            let g = shard.read();
            out.extend(g.fresh(now).filter(|e| pred(&e.key)).map(|e| e.key.clone()));
        }
        out
    }

    /// Counters and sizes, summed over the shards.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.get(&1);
    /// assert_eq!(c.stats().misses, 1);
    /// ```
    pub fn stats(&self) -> Stats {
        let mut stats = Stats {
            listener_panics: self.inner.listeners.panics(),
            ..Stats::default()
        };
        for shard in &*self.inner.shards {
            stats += shard.read().stats();
        }
        self.inner.loads.add_to(&mut stats);
        #[cfg(feature = "metrics")]
        crate::metrics::export(self.inner.name.as_deref(), &stats);
        stats
    }

    /// The cache's name, if it has one
    /// ([`CacheBuilder::name`](crate::CacheBuilder::name)).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert_eq!(c.name(), None);
    /// ```
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.inner.name.as_deref()
    }

    /// Sets every counter of [`Cache::stats`] back to zero (hits, misses,
    /// inserts, evictions, expirations, invalidations, rejections, listener
    /// panics), leaving the entries alone. [`Cache::clear`] does the
    /// opposite: it removes the entries and keeps the counters; a memoized
    /// fn's `<fn>_cache_clear()` does both, as Python's `cache_clear()`.
    ///
    /// Each shard is reset under its lock, one after the other: operations
    /// that run meanwhile on other shards may be counted or not.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert(1, 1);
    /// c.get(&1);
    /// c.get(&2);
    /// c.reset_stats();
    /// let s = c.stats();
    /// assert_eq!((s.hits, s.misses, s.inserts), (0, 0, 0));
    /// assert_eq!(s.len, 1, "entries stay");
    /// ```
    pub fn reset_stats(&self) {
        for shard in &*self.inner.shards {
            shard.write().reset_counters();
        }
        self.inner.loads.reset();
        self.inner.listeners.reset_panics();
    }

    /// Stats plus configuration, as `#[memoize]` accessors report them.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// c.get(&1);
    /// let info = c.info();
    /// assert_eq!((info.config.max_items, info.stats.misses), (Some(10), 1));
    /// ```
    pub fn info(&self) -> CacheInfo {
        CacheInfo {
            stats: self.stats(),
            config: self.config(),
        }
    }

    /// The configuration the cache runs with (the shard count it chose
    /// included): a cache built from it with [`Cache::from_config`] is
    /// configured alike.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Policy};
    /// let c: Cache<u8, u8> = Cache::builder()
    ///     .max_items(10)
    ///     .policy(Policy::Fifo)
    ///     .namespace("billing")
    ///     .version(3)
    ///     .build();
    /// let twin: Cache<u8, u8> = Cache::from_config(&c.config()).unwrap();
    /// assert_eq!(twin.config(), c.config());
    /// assert_eq!((twin.namespace(), twin.version()), (Some("billing"), 3));
    /// ```
    pub fn config(&self) -> CacheConfig {
        let mut config = self.inner.config.clone();
        config.version = self.version();
        config
    }

    /// Runs one active-expiry cycle now, as the background sweeper does:
    /// per shard, sample up to N entries that carry a TTL (20 by default),
    /// remove the expired, and repeat while more than a quarter of a sample
    /// was expired. Returns how many entries it removed.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let c: Cache<u32, u32> = Cache::builder().clock(clock.clone()).build();
    /// for i in 0..10 { c.insert_with_ttl(i, i, Duration::from_secs(1)); }
    /// clock.advance(Duration::from_secs(2));
    /// assert_eq!(c.sweep_expired(), 10);
    /// assert!(c.is_empty());
    /// ```
    pub fn sweep_expired(&self) -> usize {
        /// Bounds one cycle's work per shard; the next cycle continues.
        const MAX_ROUNDS: usize = 256;
        let mut total = 0;
        for shard in &*self.inner.shards {
            for _ in 0..MAX_ROUNDS {
                let mut evicted = Evicted::new();
                let (sampled, removed) = shard.write().sweep(
                    self.now(),
                    self.inner.config.active_expiry_samples,
                    &mut evicted,
                );
                self.finish(evicted);
                total += removed;
                if sampled == 0 || removed * 4 <= sampled {
                    break;
                }
            }
        }
        total
    }

    /// The eviction policy.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert_eq!(c.policy(), cachelite_runtime::Policy::Lru);
    /// ```
    pub fn policy(&self) -> Policy {
        self.inner.config.policy
    }

    /// The item bound, if any.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::builder().build();
    /// assert_eq!(c.max_items(), None);
    /// ```
    pub fn max_items(&self) -> Option<usize> {
        self.inner.config.max_items
    }

    /// The byte (weight) bound, if any.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<String, String> =
    ///     cachelite_runtime::Cache::builder().max_bytes(1 << 20).build();
    /// assert_eq!(c.max_bytes(), Some(1 << 20));
    /// ```
    pub fn max_bytes(&self) -> Option<u64> {
        self.inner.config.max_bytes
    }

    /// Number of shards (a power of two).
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(2);
    /// assert_eq!(c.shard_count(), 1);
    /// ```
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }
}

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + AsRef<str>,
    V: Clone,
    S: BuildHasher,
{
    /// Removes every entry whose key matches a Redis-style glob (`*`, `?`,
    /// `[abc]`, `[^a]`, `[a-z]`, `\x`); returns how many were fresh (expired
    /// matches go too, as expirations). A pattern that cannot be compiled
    /// matches nothing.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<String, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert("user:1".into(), 1);
    /// c.insert("user:2".into(), 2);
    /// c.insert("post:1".into(), 3);
    /// assert_eq!(c.invalidate_glob("user:*"), 2);
    /// assert_eq!(c.keys(), ["post:1".to_string()]);
    /// ```
    pub fn invalidate_glob(&self, pattern: &str) -> usize {
        Glob::new(pattern).map_or(0, |g| self.invalidate_matching(&g))
    }

    /// Removes every entry whose key matches a compiled [`Glob`].
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Glob};
    /// let c: Cache<String, u8> = Cache::new(10);
    /// c.insert("a1".into(), 1);
    /// assert_eq!(c.invalidate_matching(&Glob::new("a?").unwrap()), 1);
    /// ```
    pub fn invalidate_matching(&self, glob: &Glob) -> usize {
        let mut total = 0;
        for shard in &*self.inner.shards {
            let mut evicted = Evicted::new();
            total += shard.write().invalidate_where(
                |k| glob.is_match(k.as_ref()),
                self.now(),
                &mut evicted,
            );
            self.finish(evicted);
        }
        total
    }

    /// The keys of fresh entries matching a Redis-style glob.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<String, u8> = cachelite_runtime::Cache::new(10);
    /// c.insert("user:1".into(), 1);
    /// c.insert("post:1".into(), 3);
    /// assert_eq!(c.keys_matching("u*"), ["user:1".to_string()]);
    /// ```
    pub fn keys_matching(&self, pattern: &str) -> Vec<K> {
        match Glob::new(pattern) {
            Ok(g) => self.collect_keys(|k| g.is_match(k.as_ref())),
            Err(_) => Vec::new(),
        }
    }
}

impl<K, V, S> Cache<K, V, S> {
    /// Ends computation `id` with no result: its waiters retry.
    pub(crate) fn abandon_flight(&self, hash: u64, id: u64) {
        let flight = self.inner.shard_for(hash).write().abandon(hash, id);
        if let Some(flight) = flight {
            flight.finish(None);
        }
    }
}

#[cfg(feature = "metrics")]
impl<K, V, S> crate::metrics::Publish for Inner<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn publish(self: Arc<Self>) {
        let _ = Cache { inner: self }.stats();
    }
}

impl<K, V, S> Sweep for Inner<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: BuildHasher + Send + Sync + 'static,
{
    fn sweep_once(self: Arc<Self>) -> usize {
        let cache = Cache { inner: self };
        let removed = cache.sweep_expired();
        // The sweeper's rounds keep exported metrics fresh without any
        // work on the callers' path.
        #[cfg(feature = "metrics")]
        let _ = cache.stats();
        removed
    }
}

impl<K, V, S> fmt::Debug for Cache<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cache")
            .field("policy", &self.policy())
            .field("max_items", &self.max_items())
            .field("max_bytes", &self.max_bytes())
            .field("shards", &self.shard_count())
            .field("stats", &self.stats())
            .finish()
    }
}
