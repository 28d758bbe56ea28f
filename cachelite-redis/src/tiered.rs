//! The two-tier cache: a local `Cache` (L1) in front of a [`RedisStore`]
//! (L2), kept coherent by the namespace's invalidation channel.
//!
//! Coherence rules:
//! - L1 is used only while the subscriber is connected ("live"). When its
//!   connection drops, L1 is cleared and bypassed; when it is back, L1 is
//!   cleared again and used.
//! - L1 is keyed by the user's keys, so a local hit renders nothing. A key
//!   enters L1 only if its rendering (what messages carry) reads back as
//!   the key itself, so every message finds the entry it names.
//! - Every invalidation that reaches this process (a message, or a write
//!   made here) bumps a generation counter *before* dropping L1 entries:
//!   the key's stripe for a key message, an epoch for tags, globs, clears
//!   and subscription changes. A fill of L1 from L2 records the generation
//!   before its read and stores nothing if it changed; the runtime's
//!   in-flight bookkeeping (a removal dooms a computation in flight for the
//!   key) closes the gap between that check and the store. A glob, which
//!   the runtime cannot match against keys that are not strings, is
//!   applied to the entries present; a computation that stored its result
//!   after the glob's epoch bump checks the epoch again and drops it.
//! - Local writes invalidate L1 rather than write through it, so two
//!   concurrent writers in one process cannot leave L1 disagreeing with L2.
//! - A read-through stores its result with `SET NX` and does not publish
//!   it: no L1 can hold a copy of an absent key (copies come from Redis or
//!   from writes, end no later than the entry, and every removal through
//!   cachelite is published). A result that lost the race to another
//!   writer reaches its callers but is stored nowhere.

use std::borrow::Borrow;
use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use cachelite_runtime::{Cache, Glob};
use futures::future::Either;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::channel::{Message, Op};
use crate::key::{parse_rendered, render_key_short};
use crate::remote::{self, Event, Feed, Fetched, Outcome, Put, Store};
use crate::{Error, RedisStore};

/// What a [`TieredCache`] can be keyed by: a serializable key (its serde
/// form names it in Redis, the same in every process) whose owned form
/// deserializes, since invalidation messages name keys in that form and
/// the local tier is keyed by the keys themselves.
///
/// Implemented for every such type: `str`, `String`, integers, tuples,
/// and your own types deriving `Serialize`, `Deserialize`, `Hash`, `Eq`
/// and `Clone`.
///
/// ```
/// fn keyed<K: cachelite_redis::TieredKey + ?Sized>() {}
/// keyed::<str>();
/// keyed::<(u64, String)>();
/// ```
pub trait TieredKey:
    Serialize
    + Hash
    + Eq
    + ToOwned<Owned: Hash + Eq + Clone + Send + Sync + DeserializeOwned + 'static>
    + 'static
{
}

impl<K> TieredKey for K
where
    K: Serialize + Hash + Eq + ToOwned + ?Sized + 'static,
    K::Owned: Hash + Eq + Clone + Send + Sync + DeserializeOwned + 'static,
{
}

/// A value to store with its TTL and tags: what the compute closures of
/// [`TieredCache::get_or_compute`] hand back, and what
/// [`TieredCache::insert_entry`] writes. The same shape as the local
/// cache's `Insertion`.
///
/// ```
/// use std::time::Duration;
/// let i = cachelite_redis::Insertion::new(5).with_ttl(Duration::from_millis(1500)).with_tags(["a"]);
/// assert_eq!(*i.value(), 5);
/// ```
#[derive(Debug, Clone)]
pub struct Insertion<V> {
    value: V,
    ttl: Ttl,
    tags: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Ttl {
    Default,
    Never,
    After(Duration),
}

impl<V> Insertion<V> {
    /// The value, with the cache's default TTL and no tags.
    ///
    /// ```
    /// assert_eq!(*cachelite_redis::Insertion::new("v").value(), "v");
    /// ```
    pub fn new(value: V) -> Self {
        Self {
            value,
            ttl: Ttl::Default,
            tags: Vec::new(),
        }
    }

    /// Expires `ttl` after the write, in both tiers (sent to Redis in
    /// milliseconds, rounded up).
    ///
    /// ```
    /// let i = cachelite_redis::Insertion::new(1).with_ttl(std::time::Duration::from_millis(150));
    /// # let _ = i;
    /// ```
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Ttl::After(ttl);
        self
    }

    /// Never expires in Redis, whatever the cache's default TTL.
    ///
    /// ```
    /// let i = cachelite_redis::Insertion::new(1).without_ttl();
    /// # let _ = i;
    /// ```
    #[must_use]
    pub fn without_ttl(mut self) -> Self {
        self.ttl = Ttl::Never;
        self
    }

    /// Adds tags, for [`TieredCache::invalidate_tags`].
    ///
    /// ```
    /// let i = cachelite_redis::Insertion::new(1).with_tags(["user:7", "posts"]);
    /// # let _ = i;
    /// ```
    #[must_use]
    pub fn with_tags<I, T>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.tags
            .extend(tags.into_iter().map(|t| t.as_ref().to_owned()));
        self
    }

    /// The value to be stored.
    ///
    /// ```
    /// assert_eq!(*cachelite_redis::Insertion::new(3).value(), 3);
    /// ```
    pub fn value(&self) -> &V {
        &self.value
    }
}

/// Computations run by a [`TieredCache`] on a miss of both tiers.
///
/// ```
/// let l = cachelite_redis::LoadStats::default();
/// assert_eq!(l.total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoadStats {
    /// Computations that produced a value.
    pub successes: u64,
    /// Computations that returned an error.
    pub failures: u64,
    /// Time spent computing, all computations together.
    pub total_time: Duration,
}

impl LoadStats {
    /// Successes plus failures.
    ///
    /// ```
    /// let mut l = cachelite_redis::LoadStats::default();
    /// l.successes = 2;
    /// l.failures = 1;
    /// assert_eq!(l.total(), 3);
    /// ```
    #[must_use]
    pub fn total(&self) -> u64 {
        self.successes + self.failures
    }
}

/// Counters of a [`TieredCache`], per tier.
///
/// ```
/// let s = cachelite_redis::TieredStats::default();
/// assert_eq!(s.l1_hits + s.l2_hits + s.misses, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
#[non_exhaustive]
pub struct TieredStats {
    /// Reads served by the local tier (callers that joined a computation
    /// already running in this process included): the local cache's own
    /// hit count, so a hit costs no second counter.
    pub l1_hits: u64,
    /// Reads served by Redis.
    pub l2_hits: u64,
    /// Reads that found nothing in either tier.
    pub misses: u64,
    /// Failed Redis calls, undecodable values and messages, unencodable
    /// keys (the store's count: shared by caches over one store).
    pub errors: u64,
    /// Redis calls not attempted because the circuit breaker was open.
    pub skipped: u64,
    /// Computations on a miss.
    pub loads: LoadStats,
    /// Times the subscriber's connection was lost (each cleared L1).
    pub disconnects: u64,
    /// Whether the local tier is in use (the subscriber is connected).
    pub local_active: bool,
    /// The local cache's own counters.
    pub local: cachelite_runtime::Stats,
}

/// Settings for a [`TieredCache`]; made by [`TieredCache::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), cachelite_redis::Error> {
/// use std::time::Duration;
/// use cachelite_redis::{RedisStore, TieredCache};
/// let store = RedisStore::open("redis://127.0.0.1/", "users")?;
/// let users: TieredCache<u64, String> = TieredCache::builder(store)
///     .local_capacity(1_000)
///     .local_ttl(Duration::from_secs(5))
///     .ttl(Duration::from_secs(60))
///     .build()?;
/// # Ok(()) }
/// ```
#[must_use]
pub struct TieredCacheBuilder<K: ?Sized + ToOwned, V, S = RedisStore> {
    store: S,
    local: Option<Cache<K::Owned, V>>,
    local_capacity: usize,
    local_ttl: Option<Duration>,
    ttl: Option<Duration>,
    lease: Option<LeaseConfig>,
    heartbeat: Duration,
    _key: PhantomData<fn(&K)>,
}

#[derive(Debug, Clone, Copy)]
struct LeaseConfig {
    ttl: Duration,
    wait: Duration,
}

impl<K, V, S> TieredCacheBuilder<K, V, S>
where
    K: TieredKey + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Store,
{
    /// The local tier's item bound (default 10 000, LRU), when no
    /// [`TieredCacheBuilder::local`] cache is given.
    pub fn local_capacity(mut self, max_items: usize) -> Self {
        self.local_capacity = max_items;
        self
    }

    /// The longest a value stays in the local tier (default: until its TTL
    /// in Redis runs out, which it never outlives). This bounds how stale a
    /// local copy can get if an invalidation message is lost.
    pub fn local_ttl(mut self, ttl: Duration) -> Self {
        self.local_ttl = Some(ttl);
        self
    }

    /// A ready-made local cache (policy, byte budget, listeners...), keyed
    /// by the owned form of the keys; its default TTL, if any, bounds local
    /// copies like [`TieredCacheBuilder::local_ttl`].
    pub fn local(mut self, cache: Cache<K::Owned, V>) -> Self {
        self.local = Some(cache);
        self
    }

    /// The TTL of values written without one (default: none).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Singleflight across processes: on a miss of both tiers, a process
    /// takes a lease (`SET NX PX lease_ttl`) before computing; the others
    /// poll Redis for its result for up to `max_wait`, then compute anyway.
    /// `lease_ttl` should exceed the computation's usual duration.
    pub fn cross_process_singleflight(mut self, lease_ttl: Duration, max_wait: Duration) -> Self {
        self.lease = Some(LeaseConfig {
            ttl: lease_ttl,
            wait: max_wait,
        });
        self
    }

    /// How often the subscriber pings its connection (default 1 s): a
    /// connection that stops answering is treated as dropped.
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// Builds the cache and starts its subscriber on the current tokio
    /// runtime. The local tier is off until the subscriber has subscribed.
    ///
    /// # Errors
    /// [`Error::NoRuntime`] outside a tokio runtime; [`Error::Config`] for a
    /// zero capacity or heartbeat.
    pub fn build(self) -> Result<TieredCache<K, V, S>, Error> {
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime)?;
        if self.heartbeat.is_zero() {
            return Err(Error::Config(
                "the heartbeat must be greater than zero".into(),
            ));
        }
        let l1 = match self.local {
            Some(c) => c,
            None if self.local_capacity == 0 => {
                return Err(Error::Config(
                    "the local capacity must be at least 1".into(),
                ));
            }
            None => Cache::new(self.local_capacity),
        };
        let local_ttl = match (self.local_ttl, l1.config().default_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let (stop, stopped) = tokio::sync::watch::channel(());
        let shared = Arc::new(Shared {
            l1,
            origin: fastrand::u64(..),
            store: self.store,
            live: AtomicBool::new(false),
            generations: Generations::new(),
            local_ttl,
            ttl: self.ttl,
            lease: self.lease,
            counters: Counters::default(),
            _stop: stop,
        });
        let sub = Subscriber {
            shared: Arc::downgrade(&shared),
            feed: shared.store.subscribe(self.heartbeat),
            stopped,
        };
        handle.spawn(sub.run());
        Ok(TieredCache {
            l1: shared.l1.clone(),
            shared,
            _key: PhantomData,
        })
    }
}

/// A two-tier cache: a local `cachelite::Cache` in front of Redis, coherent
/// across processes, failing open.
///
/// - Reads try the local tier, then Redis, then compute (once per process,
///   and once across processes with
///   [`TieredCacheBuilder::cross_process_singleflight`]).
/// - Writes and invalidations go to Redis and are published on the
///   namespace's channel; every process's subscriber drops the matching
///   local entries. Without a subscription there is no local tier.
/// - When Redis is down, slow or returns garbage, reads compute, errors are
///   counted, nothing panics, and the circuit breaker keeps a dead server
///   from costing a timeout per call.
///
/// Keys are encoded from their serde form (see [`RedisStore::redis_key`]).
/// Every method must run inside a tokio runtime; [`BlockingTieredCache`]
/// is the form for sync code. Clones share everything.
///
/// [`BlockingTieredCache`]: crate::BlockingTieredCache
///
/// ```no_run
/// # async fn demo() -> Result<(), cachelite_redis::Error> {
/// use cachelite_redis::{RedisStore, TieredCache};
/// let store = RedisStore::open("redis://127.0.0.1/", "squares")?;
/// let cache: TieredCache<u64, u64> = TieredCache::builder(store).build()?;
/// let v = cache.get_or_insert_with(&12, || 12 * 12).await;
/// assert_eq!(v, 144);
/// assert_eq!(cache.get(&12).await, Some(144));
/// cache.invalidate_glob("#1*").await?; // integer keys render as #12
/// # Ok(()) }
/// ```
pub struct TieredCache<K: ?Sized + ToOwned, V, S = RedisStore> {
    pub(crate) shared: Arc<Shared<K, V, S>>,
    /// A handle on `shared.l1`, held here too so that a local hit reaches
    /// the local tier in as few dependent loads as a plain `Cache` hit.
    l1: Cache<K::Owned, V>,
    _key: PhantomData<fn(&K)>,
}

impl<K: ?Sized + ToOwned, V, S> Clone for TieredCache<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            l1: self.l1.clone(),
            _key: PhantomData,
        }
    }
}

impl<K: ?Sized + ToOwned, V, S: std::fmt::Debug> std::fmt::Debug for TieredCache<K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("store", &self.shared.store)
            .field("local_active", &self.shared.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared<K: ?Sized + ToOwned, V, S> {
    pub(crate) l1: Cache<K::Owned, V>,
    store: S,
    /// This cache's id in published messages.
    origin: u64,
    /// The subscriber is connected: L1 may be read and filled.
    live: AtomicBool,
    generations: Generations,
    local_ttl: Option<Duration>,
    ttl: Option<Duration>,
    lease: Option<LeaseConfig>,
    counters: Counters,
    /// Dropped with the cache, which ends the subscriber.
    _stop: tokio::sync::watch::Sender<()>,
}

#[derive(Default)]
struct Counters {
    l2_hits: AtomicU64,
    misses: AtomicU64,
    load_ok: AtomicU64,
    load_err: AtomicU64,
    load_nanos: AtomicU64,
    disconnects: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// What a fill saw before reading Redis: the epoch and its key's stripe.
type Seen = (u64, u64);

/// Invalidation counters: a key message bumps the key's stripe only, so a
/// busy namespace does not keep every other key's fills out of L1; tags,
/// globs, clears and subscription changes bump the epoch.
struct Generations {
    epoch: AtomicU64,
    stripes: Box<[AtomicU64]>,
}

impl Generations {
    const STRIPES: usize = 256;

    fn new() -> Self {
        Self {
            epoch: AtomicU64::new(0),
            stripes: (0..Self::STRIPES).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn stripe(&self, rendered: &str) -> &AtomicU64 {
        // FNV-1a: stable, cheap, and only ever compared within this process.
        let h = rendered.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        // The modulo keeps the index below STRIPES, so the cast is lossless.
        #[allow(clippy::cast_possible_truncation)]
        let i = ((h ^ (h >> 32)) % Self::STRIPES as u64) as usize;
        &self.stripes[i]
    }

    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    fn seen(&self, rendered: &str) -> Seen {
        (
            self.epoch.load(Ordering::SeqCst),
            self.stripe(rendered).load(Ordering::SeqCst),
        )
    }

    fn bump_all(&self) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }

    fn bump_key(&self, rendered: &str) {
        self.stripe(rendered).fetch_add(1, Ordering::SeqCst);
    }
}

/// Who answered a read: the L1 lookup's output type.
pub(crate) enum Served<V, R> {
    Local(V),
    Remote(V),
    Computed(R),
}

pub(crate) type LocalInsertion<V> = cachelite_runtime::Insertion<V>;

/// How a leader's first step ended.
pub(crate) enum Start<V> {
    /// Redis had the value (or the lease holder stored it).
    Found(V, Option<LocalInsertion<V>>),
    /// Compute, holding this lease if one was taken.
    Compute(Option<String>),
}

impl<K, V, S> Shared<K, V, S>
where
    K: TieredKey + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Store,
{
    fn live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    fn generation(&self, rendered: &str) -> Seen {
        self.generations.seen(rendered)
    }

    fn bump_generation(&self) {
        self.generations.bump_all();
    }

    pub(crate) fn render(&self, key: &K) -> Result<String, Error> {
        render_key_short(key)
            .map(crate::key::Rendered::into_string)
            .inspect_err(|_| self.store.count(Outcome::Error))
    }

    fn go_live(&self) {
        self.bump_generation();
        self.l1.clear();
        self.live.store(true, Ordering::SeqCst);
    }

    fn go_dark(&self) {
        self.live.store(false, Ordering::SeqCst);
        self.bump_generation();
        self.l1.clear();
        bump(&self.counters.disconnects);
    }

    /// Applies a message payload from the channel to L1.
    #[cfg(test)]
    fn apply(&self, payload: &[u8]) {
        match Message::decode(payload) {
            Some(msg) => self.apply_message(msg),
            None => self.unreadable(),
        }
    }

    /// A payload that did not decode: assume the worst.
    fn unreadable(&self) {
        self.store.count(Outcome::Error);
        self.bump_generation();
        self.l1.clear();
    }

    /// Applies an invalidation message to L1.
    fn apply_message(&self, msg: Message) {
        if msg.origin == self.origin {
            return;
        }
        if !matches!(msg.op, Op::Keys(_)) {
            self.bump_generation();
        }
        match msg.op {
            Op::Keys(keys) => {
                for rendered in &keys {
                    self.generations.bump_key(rendered);
                    // A rendering that reads back as no key of this type
                    // names no local entry: each entered L1 only after
                    // reading back as itself.
                    if let Some(key) = parse_rendered::<K::Owned>(rendered) {
                        self.l1.remove::<K>(key.borrow());
                    }
                }
            }
            Op::Tags(tags) => {
                self.l1.invalidate_tags(&tags);
            }
            Op::Glob(pattern) => self.invalidate_local_glob(&pattern),
            Op::Clear => self.l1.clear(),
        }
    }

    /// Drops the local entries whose rendered key matches `pattern` (all
    /// of them if it is not a valid glob). The caller bumps the epoch
    /// first, so a fill that misses this pass stores nothing or undoes
    /// itself.
    fn invalidate_local_glob(&self, pattern: &str) {
        let Ok(glob) = Glob::new(pattern) else {
            self.l1.clear();
            return;
        };
        for owned in self.l1.keys() {
            let key: &K = owned.borrow();
            if render_key_short(key).is_ok_and(|r| glob.is_match(r.as_str())) {
                self.l1.remove(key);
            }
        }
    }

    /// Whether `key` may be held in L1: its rendering reads back as itself,
    /// so that a message naming the rendering finds it.
    fn reads_back(key: &K, rendered: &str) -> bool {
        parse_rendered::<K::Owned>(rendered).is_some_and(|k| k.borrow() == key)
    }

    /// Drops `key` from L1 after a write or invalidation made here.
    fn forget(&self, key: &K, rendered: &str) {
        self.generations.bump_key(rendered);
        self.l1.remove(key);
    }

    fn resolve_ttl(&self, ttl: Ttl) -> Option<Duration> {
        match ttl {
            Ttl::Default => self.ttl,
            Ttl::Never => None,
            Ttl::After(d) => Some(d),
        }
    }

    /// The L1 insertion for a value whose Redis copy has `remote_ttl` left:
    /// never longer-lived than that. `keep` false (or no time left) dooms
    /// the computation in flight for `rendered`, so L1 stores nothing while
    /// the callers waiting on it still get the value.
    fn settle(
        &self,
        key: &K,
        rendered: &str,
        value: V,
        remote_ttl: Option<Duration>,
        tags: &[String],
        keep: bool,
    ) -> Option<LocalInsertion<V>> {
        let ttl = match (self.local_ttl, remote_ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if !keep || ttl.is_some_and(|t| t.is_zero()) || !Self::reads_back(key, rendered) {
            self.l1.remove(key);
        }
        let mut ins = LocalInsertion::new(value);
        if let Some(t) = ttl {
            ins = ins.with_ttl(t);
        }
        if !tags.is_empty() {
            ins = ins.with_tags(tags);
        }
        Some(ins)
    }

    /// Fills L1 outside a computation (plain `get`): store, then check the
    /// generation again and undo if an invalidation slipped in between.
    fn fill(&self, key: &K, rendered: &str, f: &Fetched<V>, seen: Seen) {
        let fresh = || self.live() && self.generation(rendered) == seen;
        if !fresh() || !Self::reads_back(key, rendered) {
            return;
        }
        let ttl = match (self.local_ttl, f.ttl) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut ins = LocalInsertion::new(f.value.clone());
        match ttl {
            Some(t) if t.is_zero() => return,
            Some(t) => ins = ins.with_ttl(t),
            None => {}
        }
        if !f.tags.is_empty() {
            ins = ins.with_tags(&f.tags);
        }
        self.l1.insert_entry(key.to_owned(), ins);
        if !fresh() {
            self.l1.remove(key);
        }
    }

    /// Counts one computation that started at `started`.
    pub(crate) fn record_load(&self, started: Instant, ok: bool) {
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let c = &self.counters;
        c.load_nanos.fetch_add(nanos, Ordering::Relaxed);
        bump(if ok { &c.load_ok } else { &c.load_err });
    }

    async fn timed_load<T, E>(&self, f: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let started = Instant::now();
        let r = f.await;
        self.record_load(started, r.is_ok());
        r
    }

    /// The miss path of a read-through, run by the one caller of this
    /// process that leads for `rendered`: Redis, the lease, the
    /// computation, the write.
    async fn lead<O, E, F>(
        &self,
        key: &K,
        compute: F,
    ) -> (Served<V, Result<O, E>>, Option<LocalInsertion<V>>)
    where
        F: Future<Output = Result<(O, Option<Insertion<V>>), E>>,
    {
        let Ok(rendered) = render_key_short(key).inspect_err(|_| self.store.count(Outcome::Error))
        else {
            // No key in Redis, no cache: fail open (singleflight still).
            let r = self.timed_load(compute).await.map(|(o, _)| o);
            return (Served::Computed(r), None);
        };
        // Kept on the stack: a miss allocates no rendering.
        let rendered = rendered.as_str();
        let lease = match self.lead_start(key, rendered).await {
            Start::Found(v, local) => return (Served::Remote(v), local),
            Start::Compute(lease) => lease,
        };
        let result = self.timed_load(compute).await;
        self.lead_finish(key, rendered, result, lease).await
    }

    /// After a read-through that this caller led: if a tag, glob, clear or
    /// subscription change came in since `epoch`, the entry it may just
    /// have stored is dropped (a glob cannot doom a computation in flight).
    pub(crate) fn recheck<R>(&self, key: &K, epoch: u64, served: &Served<V, R>) {
        if !matches!(served, Served::Local(_)) && self.generations.epoch() != epoch {
            self.l1.remove(key);
        }
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.generations.epoch()
    }

    /// Before computing: the value from Redis, or from the process holding
    /// the lease; else the go-ahead, with the lease if one was taken.
    pub(crate) async fn lead_start(&self, key: &K, rendered: &str) -> Start<V> {
        let seen = self.generation(rendered);
        if let Ok(Some(f)) = remote::fetch::<S, V>(&self.store, rendered).await {
            return self.remote(key, rendered, f, seen);
        }
        let mut lease = None;
        if let Some(cfg) = self.lease
            && self.store.supports_leases()
            && !self.store.is_breaker_open()
        {
            match self.store.try_lease(rendered, cfg.ttl).await {
                Ok(Some(token)) => lease = Some(token),
                Ok(None) => {
                    if let Some(f) = self.await_leader(rendered, cfg.wait).await {
                        return self.remote(key, rendered, f, seen);
                    }
                }
                Err(_) => {}
            }
        }
        bump(&self.counters.misses);
        Start::Compute(lease)
    }

    /// After computing: write what is to be stored, release the lease.
    pub(crate) async fn lead_finish<O, E>(
        &self,
        key: &K,
        rendered: &str,
        result: Result<(O, Option<Insertion<V>>), E>,
        lease: Option<String>,
    ) -> (Served<V, Result<O, E>>, Option<LocalInsertion<V>>) {
        let out = match result {
            Ok((o, Some(ins))) => {
                let ttl = self.resolve_ttl(ins.ttl);
                let sent = Instant::now();
                // Stored only if the key is still absent, and unannounced
                // (see [`Put::IfAbsent`]): a miss costs what a plain
                // read and write cost.
                let written = remote::put_value(
                    &self.store,
                    rendered,
                    &ins.value,
                    ttl,
                    &ins.tags,
                    Put::IfAbsent,
                )
                .await
                .unwrap_or(false);
                let left = ttl.map(|t| remote::local_ttl(t.saturating_sub(sent.elapsed())));
                // A value this process just stored is what Redis holds:
                // only the subscriber's state matters, not the generation.
                // One that lost the race to another writer is not kept.
                let keep = written && self.live();
                let local = self.settle(key, rendered, ins.value, left, &ins.tags, keep);
                (Served::Computed(Ok(o)), local)
            }
            Ok((o, None)) => (Served::Computed(Ok(o)), None),
            Err(e) => (Served::Computed(Err(e)), None),
        };
        if let Some(token) = lease {
            let _ = self.store.release_lease(rendered, &token).await;
        }
        out
    }

    /// What the caller gets from what the local tier's read-through served.
    pub(crate) fn answer<O, E>(
        &self,
        served: Served<V, Result<O, E>>,
        on_hit: impl FnOnce(V) -> O,
    ) -> Result<O, E> {
        match served {
            Served::Local(v) => Ok(on_hit(v)),
            Served::Remote(v) => Ok(on_hit(v)),
            Served::Computed(r) => r,
        }
    }

    fn remote(&self, key: &K, rendered: &str, f: Fetched<V>, seen: Seen) -> Start<V> {
        bump(&self.counters.l2_hits);
        let keep = self.live() && self.generation(rendered) == seen;
        let local = self.settle(key, rendered, f.value.clone(), f.ttl, &f.tags, keep);
        Start::Found(f.value, local)
    }

    /// Polls Redis for another process's result while it holds the lease.
    async fn await_leader(&self, rendered: &str, max_wait: Duration) -> Option<Fetched<V>> {
        let deadline = Instant::now() + max_wait;
        let mut pause = Duration::from_millis(2);
        loop {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            match remote::poll_leased::<S, V>(&self.store, rendered).await {
                Ok((Some(f), _)) => return Some(f),
                Ok((None, true)) => {}
                // The lease is gone: the value may have landed just before.
                Ok((None, false)) => {
                    return remote::fetch(&self.store, rendered).await.ok().flatten();
                }
                Err(_) => return None,
            }
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }
}

impl<K, V, S> TieredCache<K, V, S>
where
    K: TieredKey + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Store,
{
    /// A builder over `store`.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), cachelite_redis::Error> {
    /// let store = cachelite_redis::RedisStore::open("redis://127.0.0.1/", "n")?;
    /// let cache: cachelite_redis::TieredCache<str, Vec<u8>> =
    ///     cachelite_redis::TieredCache::builder(store).local_capacity(100).build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(store: S) -> TieredCacheBuilder<K, V, S> {
        TieredCacheBuilder {
            store,
            local: None,
            local_capacity: 10_000,
            local_ttl: None,
            ttl: None,
            lease: None,
            heartbeat: Duration::from_secs(1),
            _key: PhantomData,
        }
    }

    /// The remote tier.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::TieredCache<str, u8>) {
    /// println!("namespace {}", cache.store().namespace());
    /// # }
    /// ```
    #[must_use]
    pub fn store(&self) -> &S {
        &self.shared.store
    }

    /// The local tier, keyed by the owned form of the keys.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::TieredCache<str, u8>) {
    /// println!("{} local entries", cache.local().len());
    /// # }
    /// ```
    #[must_use]
    pub fn local(&self) -> &Cache<K::Owned, V> {
        &self.shared.l1
    }

    /// Whether the local tier is in use: the subscriber is connected.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::TieredCache<str, u8>) {
    /// if !cache.is_local_active() { println!("every read goes to Redis"); }
    /// # }
    /// ```
    #[must_use]
    pub fn is_local_active(&self) -> bool {
        self.shared.live()
    }

    /// The counters of both tiers.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::TieredCache<str, u8>) {
    /// let s = cache.stats();
    /// println!("L1 {} / L2 {} / miss {}", s.l1_hits, s.l2_hits, s.misses);
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> TieredStats {
        let s = &self.shared;
        let c = &s.counters;
        let store = s.store.stats();
        let local = s.l1.stats();
        TieredStats {
            l1_hits: local.hits,
            l2_hits: c.l2_hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            errors: store.errors,
            skipped: store.skipped,
            loads: LoadStats {
                successes: c.load_ok.load(Ordering::Relaxed),
                failures: c.load_err.load(Ordering::Relaxed),
                total_time: Duration::from_nanos(c.load_nanos.load(Ordering::Relaxed)),
            },
            disconnects: c.disconnects.load(Ordering::Relaxed),
            local_active: s.live(),
            local,
        }
    }

    /// Pings Redis; returns the round trip.
    ///
    /// # Errors
    /// When Redis is unreachable, slow or the breaker is open.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) {
    /// match cache.ping().await {
    ///     Ok(rtt) => println!("redis up, {rtt:?}"),
    ///     Err(e) => println!("redis down: {e}"),
    /// }
    /// # }
    /// ```
    pub async fn ping(&self) -> Result<Duration, Error> {
        self.shared.store.ping().await
    }

    /// The value for `key` from the local tier, else from Redis (then kept
    /// locally). Errors read as a miss.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) {
    /// if let Some(v) = cache.get("k").await { println!("{v}"); }
    /// # }
    /// ```
    #[inline]
    pub fn get<'a>(&'a self, key: &'a K) -> impl Future<Output = Option<V>> + 'a {
        match self.get_local(key) {
            Some(v) => Either::Left(std::future::ready(Some(v))),
            // Boxed: the Redis read is a large future, which would otherwise
            // be moved into place on every call, local hits included.
            None => Either::Right(Box::pin(self.get_remote(key))),
        }
    }

    /// The local tier's copy, while the local tier is live: what `get`
    /// answers without a round trip.
    #[inline]
    pub(crate) fn get_local(&self, key: &K) -> Option<V> {
        if self.shared.live() {
            self.l1.get(key)
        } else {
            None
        }
    }

    async fn get_remote(&self, key: &K) -> Option<V> {
        let s = &*self.shared;
        // Kept on the stack: a read allocates no rendering.
        let rendered = render_key_short(key)
            .inspect_err(|_| s.store.count(Outcome::Error))
            .ok()?;
        let rendered = rendered.as_str();
        let seen = s.generation(rendered);
        match remote::fetch::<S, V>(&s.store, rendered).await {
            Ok(Some(f)) => {
                bump(&s.counters.l2_hits);
                s.fill(key, rendered, &f, seen);
                Some(f.value)
            }
            _ => {
                bump(&s.counters.misses);
                None
            }
        }
    }

    /// The values for `keys`, in order: local hits first, then one batched
    /// read of the store for the rest (kept locally as [`TieredCache::get`]
    /// keeps them). Errors read as misses.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) {
    /// let found = cache.get_many(&["a", "b", "c"]).await;
    /// assert_eq!(found.len(), 3);
    /// # }
    /// ```
    pub async fn get_many(&self, keys: &[&K]) -> Vec<Option<V>> {
        let s = &*self.shared;
        let mut out: Vec<Option<V>> = keys.iter().map(|k| self.get_local(k)).collect();
        let mut wanted = Vec::new();
        let mut rendered = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            if out[i].is_some() {
                continue;
            }
            match s.render(key) {
                Ok(r) => {
                    wanted.push((i, s.generation(&r)));
                    rendered.push(r);
                }
                Err(_) => bump(&s.counters.misses),
            }
        }
        if rendered.is_empty() {
            return out;
        }
        let raws = async {
            s.store.now_ms().await?;
            s.store.get_many(&rendered).await
        };
        let raws = Box::pin(raws).await.unwrap_or_default();
        let mut raws = raws.into_iter();
        for ((i, seen), r) in wanted.into_iter().zip(&rendered) {
            let raw = raws.next().flatten();
            match remote::decode_fetched::<S, V>(&s.store, r, raw).await {
                Some(f) => {
                    bump(&s.counters.l2_hits);
                    s.fill(keys[i], r, &f, seen);
                    out[i] = Some(f.value);
                }
                None => bump(&s.counters.misses),
            }
        }
        out
    }

    /// Adds `delta` to the counter `key` and returns its new value,
    /// atomically across processes. A counter starts at 0 and, when
    /// created, expires after the default TTL ([`TieredCacheBuilder::ttl`];
    /// later calls keep its expiry). Counters are never held locally, and
    /// are not values: [`TieredCache::get`] does not see them;
    /// [`TieredCache::remove`] and [`TieredCache::clear`] delete them.
    ///
    /// # Errors
    /// When the store cannot be reached, the key cannot be encoded, or the
    /// counter would overflow.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// let n = cache.incr("hits:home", 1).await?;
    /// assert!(n >= 1);
    /// # Ok(()) }
    /// ```
    pub async fn incr(&self, key: &K, delta: i64) -> Result<i64, Error> {
        let s = &*self.shared;
        let rendered = s.render(key)?;
        s.store.incr(&rendered, delta, s.ttl).await
    }

    /// Subtracts `delta` from the counter `key`: [`TieredCache::incr`] of
    /// `-delta`.
    ///
    /// # Errors
    /// As [`TieredCache::incr`]; [`Error::Encode`] for `i64::MIN`, which
    /// has no negation.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// let left = cache.decr("quota:7", 1).await?;
    /// # Ok(()) }
    /// ```
    pub async fn decr(&self, key: &K, delta: i64) -> Result<i64, Error> {
        let negated = delta
            .checked_neg()
            .ok_or_else(|| Error::Encode(format!("cannot subtract {delta}")))?;
        self.incr(key, negated).await
    }

    /// Writes `value` with the default TTL. Redis is written and the write
    /// published; the local copy is dropped (the next read refills it).
    ///
    /// # Errors
    /// When the write to Redis fails (the local copy is dropped anyway).
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.insert("k", 1).await?;
    /// # Ok(()) }
    /// ```
    pub async fn insert(&self, key: &K, value: V) -> Result<(), Error> {
        self.insert_entry(key, Insertion::new(value)).await
    }

    /// Writes `value` expiring after `ttl` (millisecond precision).
    ///
    /// # Errors
    /// As [`TieredCache::insert`].
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.insert_with_ttl("k", 1, std::time::Duration::from_millis(150)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn insert_with_ttl(&self, key: &K, value: V, ttl: Duration) -> Result<(), Error> {
        self.insert_entry(key, Insertion::new(value).with_ttl(ttl))
            .await
    }

    /// Writes `value` with tags.
    ///
    /// # Errors
    /// As [`TieredCache::insert`].
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.insert_with_tags("post:1", 1, ["user:7"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn insert_with_tags<I, T>(&self, key: &K, value: V, tags: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.insert_entry(key, Insertion::new(value).with_tags(tags))
            .await
    }

    /// Writes an [`Insertion`] (value, TTL, tags).
    ///
    /// # Errors
    /// As [`TieredCache::insert`], and [`Error::Key`] or [`Error::Encode`]
    /// when the key or value cannot be encoded.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// use cachelite_redis::Insertion;
    /// cache.insert_entry("k", Insertion::new(1).without_ttl().with_tags(["t"])).await?;
    /// # Ok(()) }
    /// ```
    pub async fn insert_entry(&self, key: &K, ins: Insertion<V>) -> Result<(), Error> {
        let s = &*self.shared;
        let rendered = s.render(key)?;
        let ttl = s.resolve_ttl(ins.ttl);
        let mode = Put::Announce { origin: s.origin };
        let written =
            remote::put_value(&s.store, &rendered, &ins.value, ttl, &ins.tags, mode).await;
        s.forget(key, &rendered);
        written.map(drop)
    }

    /// Removes `key` from both tiers (published); returns whether Redis
    /// held it.
    ///
    /// # Errors
    /// When Redis cannot be reached (the local copy is dropped anyway).
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.remove("k").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove(&self, key: &K) -> Result<bool, Error> {
        let s = &*self.shared;
        let rendered = s.render(key)?;
        let removed = s.store.remove(&rendered, s.origin).await;
        s.forget(key, &rendered);
        removed
    }

    /// Removes every entry carrying any of `tags`, in both tiers and in
    /// every process's local tier; returns how many Redis entries went.
    ///
    /// # Errors
    /// When Redis cannot be reached (local entries are dropped anyway).
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.invalidate_tags(&["user:7"]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_tags<T: AsRef<str>>(&self, tags: &[T]) -> Result<usize, Error> {
        let s = &*self.shared;
        let tags: Vec<String> = tags.iter().map(|t| t.as_ref().to_owned()).collect();
        let n = s.store.invalidate_tags(&tags, s.origin).await;
        s.bump_generation();
        s.l1.invalidate_tags(&tags);
        n
    }

    /// Removes every entry whose rendered key matches a Redis glob, in
    /// both tiers and every process; returns how many Redis entries went.
    /// The pattern cannot reach outside the namespace.
    ///
    /// # Errors
    /// [`Error::Glob`] for a pattern over the length limit; otherwise when
    /// Redis cannot be reached (local entries are dropped anyway).
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.invalidate_glob("user:*").await?;
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_glob(&self, pattern: &str) -> Result<usize, Error> {
        let s = &*self.shared;
        let n = s.store.invalidate_glob(pattern, s.origin).await;
        if !matches!(n, Err(Error::Glob(_))) {
            s.bump_generation();
            s.invalidate_local_glob(pattern);
        }
        n
    }

    /// Removes everything of the namespace (this version), in both tiers
    /// and every process; returns how many Redis keys went.
    ///
    /// # Errors
    /// When Redis cannot be reached (the local tier is cleared anyway).
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.clear().await?;
    /// # Ok(()) }
    /// ```
    pub async fn clear(&self) -> Result<usize, Error> {
        let s = &*self.shared;
        let n = s.store.clear(s.origin).await;
        s.bump_generation();
        s.l1.clear();
        n
    }

    /// The general read-through, for fallible computations: on a hit in
    /// either tier, `on_hit(value)`; on a miss, `compute` runs (once per
    /// process; once across processes with a lease), and what it returns
    /// is stored if it hands back an [`Insertion`]. An `Err` is returned
    /// to this caller and stored nowhere. Redis failures never reach the
    /// caller: they are counted and the value is computed.
    ///
    /// This is the hook `#[memoize]` uses: `condition`, `cache_none`, TTL
    /// and tags all shape the `Insertion`.
    ///
    /// # Errors
    /// Only `compute`'s own errors.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<u64, u64>) {
    /// use cachelite_redis::Insertion;
    /// use std::time::Duration;
    /// let r: Result<u64, String> = cache
    ///     .try_get_or_compute(&7, |v| v, async {
    ///         let v = 7 * 7;
    ///         // cache only odd results, for 30 s, tagged
    ///         Ok((v, (v % 2 == 1).then(|| Insertion::new(v).with_ttl(Duration::from_secs(30)).with_tags(["sq"]))))
    ///     })
    ///     .await;
    /// # }
    /// ```
    pub async fn try_get_or_compute<O, E, F>(
        &self,
        key: &K,
        on_hit: impl FnOnce(V) -> O,
        compute: F,
    ) -> Result<O, E>
    where
        F: Future<Output = Result<(O, Option<Insertion<V>>), E>>,
    {
        let s = &*self.shared;
        let epoch = s.epoch();
        // The miss path (Redis, the computation, the write) is a large
        // future: boxed when it starts, so that a hit never allocates and
        // the futures around this one stay small.
        let lead = async move { Box::pin(s.lead(key, compute)).await };
        let served =
            s.l1.get_or_compute_async(key.to_owned(), Served::Local, lead)
                .await;
        s.recheck(key, epoch, &served);
        s.answer(served, on_hit)
    }

    /// [`TieredCache::try_get_or_compute`] for an infallible computation.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<u64, u64>) {
    /// let v = cache.get_or_compute(&3, |v| v, async { (9, Some(cachelite_redis::Insertion::new(9))) }).await;
    /// # }
    /// ```
    pub async fn get_or_compute<O, F>(&self, key: &K, on_hit: impl FnOnce(V) -> O, compute: F) -> O
    where
        F: Future<Output = (O, Option<Insertion<V>>)>,
    {
        let r: Result<O, std::convert::Infallible> = self
            .try_get_or_compute(key, on_hit, async { Ok(compute.await) })
            .await;
        match r {
            Ok(o) => o,
            Err(never) => match never {},
        }
    }

    /// The value for `key`, computing it with `init` on a miss of both
    /// tiers and storing it with the default TTL.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<u64, u64>) {
    /// let v = cache.get_or_insert_with(&4, || 16).await;
    /// # }
    /// ```
    pub async fn get_or_insert_with(&self, key: &K, init: impl FnOnce() -> V) -> V {
        self.get_or_insert_with_async(key, async move { init() })
            .await
    }

    /// [`TieredCache::get_or_insert_with`] for a fallible `init`: an `Err`
    /// is returned and never stored.
    ///
    /// # Errors
    /// `init`'s errors.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<u64, u64>) {
    /// let r = cache.try_get_or_insert_with(&4, || "4".parse::<u64>()).await;
    /// # }
    /// ```
    pub async fn try_get_or_insert_with<E>(
        &self,
        key: &K,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        self.try_get_or_insert_with_async(key, async move { init() })
            .await
    }

    /// [`TieredCache::get_or_insert_with`] with a future.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<u64, u64>) {
    /// let v = cache.get_or_insert_with_async(&4, async { 16 }).await;
    /// # }
    /// ```
    pub async fn get_or_insert_with_async(&self, key: &K, init: impl Future<Output = V>) -> V {
        self.get_or_compute(key, |v| v, async move {
            let v = init.await;
            (v.clone(), Some(Insertion::new(v)))
        })
        .await
    }

    /// [`TieredCache::try_get_or_insert_with`] with a future.
    ///
    /// # Errors
    /// `init`'s errors.
    ///
    /// ```no_run
    /// # async fn demo(cache: cachelite_redis::TieredCache<u64, u64>) {
    /// let r = cache.try_get_or_insert_with_async(&4, async { Ok::<_, ()>(16) }).await;
    /// # }
    /// ```
    pub async fn try_get_or_insert_with_async<E>(
        &self,
        key: &K,
        init: impl Future<Output = Result<V, E>>,
    ) -> Result<V, E> {
        self.try_get_or_compute(key, |v| v, async move {
            let v = init.await?;
            Ok((v.clone(), Some(Insertion::new(v))))
        })
        .await
    }
}

/// Runs its closure when dropped: the subscriber's last word, however its
/// task ends.
struct DarkOnDrop(Option<Box<dyn FnOnce() + Send>>);

impl Drop for DarkOnDrop {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f();
        }
    }
}

/// The subscriber task: follows the store's invalidation feed and applies
/// what arrives; the local tier is on only while the feed is connected.
struct Subscriber<K: ?Sized + ToOwned, V, S: Store> {
    shared: Weak<Shared<K, V, S>>,
    feed: S::Feed,
    stopped: tokio::sync::watch::Receiver<()>,
}

impl<K, V, S> Subscriber<K, V, S>
where
    K: TieredKey + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Store,
{
    async fn run(self) {
        let Subscriber {
            shared,
            mut feed,
            mut stopped,
        } = self;
        // If this task is dropped unfinished (its runtime shut down while
        // the cache lives on), no invalidation can reach the local tier any
        // more: switch it off, as a lost connection does.
        let _dark_on_drop = DarkOnDrop(Some(Box::new({
            let shared = shared.clone();
            move || {
                if let Some(s) = shared.upgrade() {
                    s.go_dark();
                }
            }
        })));
        let mut live = false;
        loop {
            let event = tokio::select! {
                e = feed.next() => e,
                _ = stopped.changed() => return,
            };
            let Some(s) = shared.upgrade() else { return };
            match event {
                Event::Connected => {
                    live = true;
                    s.go_live();
                }
                Event::Disconnected => {
                    if live {
                        live = false;
                        s.go_dark();
                    }
                }
                Event::Message(m) => s.apply_message(m),
                Event::Unreadable => s.unreadable(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache whose Redis is unreachable, with the local tier switched on
    /// by hand: the coherence logic alone.
    fn offline(local_ttl: Option<Duration>) -> TieredCache<str, u32> {
        offline_keyed(local_ttl)
    }

    fn offline_keyed<K: TieredKey + ?Sized>(local_ttl: Option<Duration>) -> TieredCache<K, u32> {
        let store = RedisStore::open("redis://127.0.0.1:1/", "unit").unwrap();
        let mut b = TieredCache::builder(store);
        if let Some(t) = local_ttl {
            b = b.local_ttl(t);
        }
        let c = b.build().unwrap();
        c.shared.live.store(true, Ordering::SeqCst);
        c
    }

    fn fetched(value: u32, ttl: Option<Duration>) -> Fetched<u32> {
        Fetched {
            value,
            tags: vec!["t".into()],
            ttl,
        }
    }

    fn foreign(s: &Shared<str, u32, RedisStore>, op: Op) -> Vec<u8> {
        Message {
            origin: s.origin.wrapping_add(1),
            op,
        }
        .encode()
    }

    #[tokio::test]
    async fn a_fill_that_raced_an_invalidation_stores_nothing() {
        let c = offline(None);
        let s = &*c.shared;
        let seen = s.generation("k");
        // The invalidation lands while the read of the old value is in flight.
        s.apply(&foreign(s, Op::Keys(vec!["k".into()])));
        s.fill("k", "k", &fetched(1, None), seen);
        assert!(!s.l1.contains_key("k"));
        s.fill("k", "k", &fetched(2, None), s.generation("k"));
        assert_eq!(s.l1.get("k"), Some(2));
    }

    #[tokio::test]
    async fn only_a_message_that_may_concern_the_key_blocks_its_fill() {
        let c = offline(None);
        let s = &*c.shared;
        assert_ne!(
            std::ptr::from_ref(s.generations.stripe("a")),
            std::ptr::from_ref(s.generations.stripe("b"))
        );
        let seen = s.generation("a");
        s.apply(&foreign(s, Op::Keys(vec!["b".into()])));
        s.fill("a", "a", &fetched(1, None), seen);
        assert!(s.l1.contains_key("a"));
        let seen = s.generation("c");
        s.apply(&foreign(s, Op::Glob("zzz*".into())));
        s.fill("c", "c", &fetched(1, None), seen);
        assert!(
            !s.l1.contains_key("c"),
            "globs and tags block every fill in flight"
        );
    }

    #[tokio::test]
    async fn a_raced_fill_inside_a_computation_reaches_waiters_but_not_the_local_tier() {
        let c = offline(None);
        let s = &*c.shared;
        let seen = s.generation("k");
        s.apply(&foreign(s, Op::Tags(vec!["t".into()])));
        let out =
            s.l1.get_or_compute_async("k".to_string(), |v| v, async {
                match s.remote("k", "k", fetched(7, None), seen) {
                    Start::Found(v, local) => (v, local),
                    Start::Compute(_) => unreachable!(),
                }
            })
            .await;
        assert_eq!(out, 7);
        assert!(!s.l1.contains_key("k"));
    }

    #[tokio::test]
    async fn local_copies_never_outlive_the_remote_ttl() {
        let c = offline(Some(Duration::from_secs(60)));
        let s = &*c.shared;
        s.fill(
            "k",
            "k",
            &fetched(1, Some(Duration::from_millis(150))),
            s.generation("k"),
        );
        assert!(s.l1.ttl("k").unwrap() <= Duration::from_millis(150));
        // No time left in Redis: nothing kept locally.
        s.fill(
            "z",
            "z",
            &fetched(1, Some(Duration::ZERO)),
            s.generation("z"),
        );
        assert!(!s.l1.contains_key("z"));
        // No expiry in Redis: the local bound applies.
        s.fill("n", "n", &fetched(1, None), s.generation("n"));
        let ttl = s.l1.ttl("n").unwrap();
        assert!(ttl > Duration::from_secs(59) && ttl <= Duration::from_secs(60));
    }

    #[tokio::test]
    async fn messages_drop_matching_entries_and_skip_their_own() {
        let c = offline(None);
        let s = &*c.shared;
        for k in ["user:1", "user:2", "post:1", "own"] {
            s.fill(k, k, &fetched(1, None), s.generation(k));
        }
        let own = Message {
            origin: s.origin,
            op: Op::Keys(vec!["own".into()]),
        };
        s.apply(&own.encode());
        assert!(
            s.l1.contains_key("own"),
            "a cache's own message is not re-applied"
        );
        s.apply(&foreign(s, Op::Glob("user:*".into())));
        let mut left = s.l1.keys();
        left.sort();
        assert_eq!(left, ["own", "post:1"]);
        s.apply(b"not a message");
        assert!(s.l1.is_empty(), "an unreadable message clears everything");
        assert_eq!(s.store.stats().errors, 1);
    }

    #[tokio::test]
    async fn messages_find_entries_keyed_by_non_string_keys() {
        let c = offline_keyed::<u64>(None);
        let s = &*c.shared;
        for k in [1u64, 12, 3] {
            let r = format!("#{k}");
            s.fill(&k, &r, &fetched(1, None), s.generation(&r));
        }
        let foreign = |op| {
            Message {
                origin: s.origin.wrapping_add(1),
                op,
            }
            .encode()
        };
        s.apply(&foreign(Op::Keys(vec!["#1".into(), "user:1".into()])));
        assert!(!s.l1.contains_key(&1) && s.l1.contains_key(&12));
        s.apply(&foreign(Op::Glob("#1*".into())));
        assert!(!s.l1.contains_key(&12), "globs match the rendered keys");
        assert!(s.l1.contains_key(&3));
        // A rendering that is not this key's is never stored.
        s.fill(&5, "#6", &fetched(1, None), s.generation("#6"));
        assert!(!s.l1.contains_key(&5));
    }

    #[tokio::test]
    async fn going_dark_clears_and_bypasses_the_local_tier() {
        let c = offline(None);
        let s = &*c.shared;
        s.fill("k", "k", &fetched(1, None), s.generation("k"));
        s.go_dark();
        assert!(s.l1.is_empty() && !c.is_local_active());
        s.fill("k", "k", &fetched(1, None), s.generation("k"));
        assert!(s.l1.is_empty(), "no fills while dark");
        assert_eq!(c.stats().disconnects, 1);
    }

    #[test]
    fn building_outside_a_runtime_is_an_error() {
        let store = RedisStore::open("redis://127.0.0.1:1/", "unit").unwrap();
        let r = TieredCache::<str, u8>::builder(store).build();
        assert!(matches!(r, Err(Error::NoRuntime)));
    }
}
