//! The two-tier cache for sync code: a [`TieredCache`] with its own small
//! tokio runtime.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::tiered::{
    Insertion, Served, Start, TieredCache, TieredCacheBuilder, TieredKey, TieredStats,
};
use crate::{Error, RedisStore, Store};

/// A [`TieredCache`] for sync code. It owns a one-worker tokio runtime that
/// drives the Redis connections and the subscriber; each call blocks the
/// calling thread until it is done (a local hit does not leave the thread).
/// Computations (`init`) run on the calling thread, and may use the cache
/// themselves (a recursive memoized fn).
///
/// Works from any thread, including from inside another runtime's task
/// (the call then blocks that worker, as any blocking call does). Clones
/// share the cache and the runtime; the runtime stops with the last clone.
///
/// ```no_run
/// use cachelite_redis::{BlockingTieredCache, RedisStore, TieredCache};
/// let store = RedisStore::open("redis://127.0.0.1/", "reports")?;
/// let cache: BlockingTieredCache<str, String> =
///     BlockingTieredCache::new(TieredCache::builder(store).local_capacity(100))?;
/// let report = cache.get_or_insert_with("2024-q1", || "expensive".to_string());
/// assert_eq!(cache.get("2024-q1").as_deref(), Some("expensive"));
/// # Ok::<(), cachelite_redis::Error>(())
/// ```
pub struct BlockingTieredCache<K: ?Sized + ToOwned, V, S = RedisStore> {
    pub(crate) cache: TieredCache<K, V, S>,
    pub(crate) runtime: Arc<OwnedRuntime>,
}

impl<K: ?Sized + ToOwned, V, S> Clone for BlockingTieredCache<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            cache: self.cache.clone(),
            runtime: self.runtime.clone(),
        }
    }
}

impl<K: ?Sized + ToOwned, V, S: std::fmt::Debug> std::fmt::Debug for BlockingTieredCache<K, V, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("BlockingTieredCache")
            .field(&self.cache)
            .finish()
    }
}

/// Shuts its runtime down without blocking, so that dropping the cache is
/// fine anywhere, inside an async task too.
pub(crate) struct OwnedRuntime(Option<tokio::runtime::Runtime>);

impl OwnedRuntime {
    /// A one-worker runtime for the Redis connections and subscribers.
    pub(crate) fn start() -> Result<Self, Error> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cachelite-redis")
            .enable_all()
            .build()
            .map(|rt| OwnedRuntime(Some(rt)))
            .map_err(|e| Error::Config(format!("cannot start a tokio runtime: {e}")))
    }

    pub(crate) fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .map(tokio::runtime::Runtime::handle)
            .expect("the runtime lives until drop")
    }
}

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Wakes a parked thread.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` on this thread, parking between polls. Unlike an executor
/// that refuses to nest, it may run inside itself.
pub(crate) fn park_on<F: Future>(f: F) -> F::Output {
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(out) = f.as_mut().poll(&mut cx) {
            return out;
        }
        // A stale unpark token only costs one extra poll.
        std::thread::park();
    }
}

impl<K, V, S> BlockingTieredCache<K, V, S>
where
    K: TieredKey + ?Sized,
    V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static,
    S: Store,
{
    /// Starts a runtime and builds the cache on it.
    ///
    /// # Errors
    /// As [`TieredCacheBuilder::build`], and [`Error::Config`] if the
    /// runtime cannot start.
    ///
    /// ```no_run
    /// # use cachelite_redis::{BlockingTieredCache, RedisStore, TieredCache};
    /// let store = RedisStore::open("redis://127.0.0.1/", "n")?;
    /// let cache: BlockingTieredCache<u32, u32> = BlockingTieredCache::new(TieredCache::builder(store))?;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn new(builder: TieredCacheBuilder<K, V, S>) -> Result<Self, Error> {
        Self::on_runtime(builder, Arc::new(OwnedRuntime::start()?))
    }

    /// Builds the cache on a runtime that may be shared with other caches.
    pub(crate) fn on_runtime(
        builder: TieredCacheBuilder<K, V, S>,
        runtime: Arc<OwnedRuntime>,
    ) -> Result<Self, Error> {
        let cache = {
            let _entered = runtime.handle().enter();
            builder.build()?
        };
        Ok(Self { cache, runtime })
    }

    /// Runs `f` to completion on this thread, with the cache's runtime as
    /// the current one (its timers and connections are driven by the
    /// runtime's worker).
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        let _entered = self.runtime.handle().enter();
        park_on(f)
    }

    /// The async cache inside, for code that has both.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) {
    /// let _async_twin = cache.as_async().clone();
    /// # }
    /// ```
    #[must_use]
    pub fn as_async(&self) -> &TieredCache<K, V, S> {
        &self.cache
    }

    /// See [`TieredCache::get`].
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) {
    /// let v = cache.get("k");
    /// # }
    /// ```
    pub fn get(&self, key: &K) -> Option<V> {
        // A local hit needs no runtime: answer it on this thread directly.
        if let Some(v) = self.cache.get_local(key) {
            return Some(v);
        }
        self.block_on(self.cache.get(key))
    }

    /// See [`TieredCache::insert`].
    ///
    /// # Errors
    /// When the write to Redis fails.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.insert("k", 1)?;
    /// # Ok(()) }
    /// ```
    pub fn insert(&self, key: &K, value: V) -> Result<(), Error> {
        self.block_on(self.cache.insert(key, value))
    }

    /// See [`TieredCache::insert_with_ttl`].
    ///
    /// # Errors
    /// When the write to Redis fails.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.insert_with_ttl("k", 1, std::time::Duration::from_millis(150))?;
    /// # Ok(()) }
    /// ```
    pub fn insert_with_ttl(&self, key: &K, value: V, ttl: Duration) -> Result<(), Error> {
        self.block_on(self.cache.insert_with_ttl(key, value, ttl))
    }

    /// See [`TieredCache::insert_with_tags`].
    ///
    /// # Errors
    /// When the write to Redis fails.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.insert_with_tags("k", 1, ["t"])?;
    /// # Ok(()) }
    /// ```
    pub fn insert_with_tags<I, T>(&self, key: &K, value: V, tags: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.block_on(self.cache.insert_with_tags(key, value, tags))
    }

    /// See [`TieredCache::insert_entry`].
    ///
    /// # Errors
    /// When the key or value cannot be encoded or the write fails.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.insert_entry("k", cachelite_redis::Insertion::new(1).without_ttl())?;
    /// # Ok(()) }
    /// ```
    pub fn insert_entry(&self, key: &K, ins: Insertion<V>) -> Result<(), Error> {
        self.block_on(self.cache.insert_entry(key, ins))
    }

    /// See [`TieredCache::get_many`].
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) {
    /// let [a, b] = cache.get_many(&["a", "b"]).try_into().unwrap();
    /// # let _ = (a, b); }
    /// ```
    pub fn get_many(&self, keys: &[&K]) -> Vec<Option<V>> {
        self.block_on(self.cache.get_many(keys))
    }

    /// See [`TieredCache::incr`].
    ///
    /// # Errors
    /// As [`TieredCache::incr`].
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// let hits = cache.incr("hits:home", 1)?;
    /// # Ok(()) }
    /// ```
    pub fn incr(&self, key: &K, delta: i64) -> Result<i64, Error> {
        self.block_on(self.cache.incr(key, delta))
    }

    /// See [`TieredCache::decr`].
    ///
    /// # Errors
    /// As [`TieredCache::decr`].
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// let left = cache.decr("quota:7", 1)?;
    /// # Ok(()) }
    /// ```
    pub fn decr(&self, key: &K, delta: i64) -> Result<i64, Error> {
        self.block_on(self.cache.decr(key, delta))
    }

    /// See [`TieredCache::remove`].
    ///
    /// # Errors
    /// When Redis cannot be reached.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.remove("k")?;
    /// # Ok(()) }
    /// ```
    pub fn remove(&self, key: &K) -> Result<bool, Error> {
        self.block_on(self.cache.remove(key))
    }

    /// See [`TieredCache::invalidate_tags`].
    ///
    /// # Errors
    /// When Redis cannot be reached.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.invalidate_tags(&["t"])?;
    /// # Ok(()) }
    /// ```
    pub fn invalidate_tags<T: AsRef<str>>(&self, tags: &[T]) -> Result<usize, Error> {
        self.block_on(self.cache.invalidate_tags(tags))
    }

    /// See [`TieredCache::invalidate_glob`].
    ///
    /// # Errors
    /// An invalid pattern, or Redis cannot be reached.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.invalidate_glob("user:*")?;
    /// # Ok(()) }
    /// ```
    pub fn invalidate_glob(&self, pattern: &str) -> Result<usize, Error> {
        self.block_on(self.cache.invalidate_glob(pattern))
    }

    /// See [`TieredCache::clear`].
    ///
    /// # Errors
    /// When Redis cannot be reached.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) -> Result<(), cachelite_redis::Error> {
    /// cache.clear()?;
    /// # Ok(()) }
    /// ```
    pub fn clear(&self) -> Result<usize, Error> {
        self.block_on(self.cache.clear())
    }

    /// See [`TieredCache::ping`].
    ///
    /// # Errors
    /// When Redis is unreachable, slow or the breaker is open.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) {
    /// let healthy = cache.ping().is_ok();
    /// # }
    /// ```
    pub fn ping(&self) -> Result<Duration, Error> {
        self.block_on(self.cache.ping())
    }

    /// See [`TieredCache::stats`].
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<str, u8>) {
    /// println!("{:?}", cache.stats());
    /// # }
    /// ```
    #[must_use]
    pub fn stats(&self) -> TieredStats {
        self.cache.stats()
    }

    /// The general read-through with a sync computation; see
    /// [`TieredCache::try_get_or_compute`].
    ///
    /// # Errors
    /// Only `compute`'s own errors.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<u64, u64>) {
    /// let r: Result<u64, ()> = cache.try_get_or_compute(&2, |v| v, || Ok((4, Some(cachelite_redis::Insertion::new(4)))));
    /// # }
    /// ```
    pub fn try_get_or_compute<O, E>(
        &self,
        key: &K,
        on_hit: impl FnOnce(V) -> O,
        compute: impl FnOnce() -> Result<(O, Option<Insertion<V>>), E>,
    ) -> Result<O, E> {
        let s = &*self.cache.shared;
        let epoch = s.epoch();
        // The local tier's sync read-through: `compute` runs on this
        // thread's own stack, outside any future, so a computation that
        // reads other keys (recursion) nests plain calls, and one that
        // reads its own key computes it directly instead of waiting on
        // itself. Only the Redis round trips are driven as futures.
        let served = s.l1.get_or_compute(key.to_owned(), Served::Local, || {
            let rendered = s.render(key);
            let lease = match &rendered {
                Ok(rendered) => match self.block_on(s.lead_start(key, rendered)) {
                    Start::Found(v, local) => return (Served::Remote(v), local),
                    Start::Compute(lease) => lease,
                },
                Err(_) => None,
            };
            let started = Instant::now();
            let result = compute();
            s.record_load(started, result.is_ok());
            let Ok(rendered) = rendered else {
                // No key in Redis, no cache: fail open (singleflight still).
                return (Served::Computed(result.map(|(o, _)| o)), None);
            };
            self.block_on(s.lead_finish(key, &rendered, result, lease))
        });
        s.recheck(key, epoch, &served);
        s.answer(served, on_hit)
    }

    /// See [`TieredCache::get_or_compute`].
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<u64, u64>) {
    /// let v = cache.get_or_compute(&2, |v| v, || (4, Some(cachelite_redis::Insertion::new(4))));
    /// # }
    /// ```
    pub fn get_or_compute<O>(
        &self,
        key: &K,
        on_hit: impl FnOnce(V) -> O,
        compute: impl FnOnce() -> (O, Option<Insertion<V>>),
    ) -> O {
        let r: Result<O, std::convert::Infallible> =
            self.try_get_or_compute(key, on_hit, || Ok(compute()));
        match r {
            Ok(o) => o,
            Err(never) => match never {},
        }
    }

    /// See [`TieredCache::get_or_insert_with`].
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<u64, u64>) {
    /// let v = cache.get_or_insert_with(&2, || 4);
    /// # }
    /// ```
    pub fn get_or_insert_with(&self, key: &K, init: impl FnOnce() -> V) -> V {
        self.get_or_compute(
            key,
            |v| v,
            || {
                let v = init();
                (v.clone(), Some(Insertion::new(v)))
            },
        )
    }

    /// See [`TieredCache::try_get_or_insert_with`].
    ///
    /// # Errors
    /// `init`'s errors.
    ///
    /// ```no_run
    /// # fn demo(cache: cachelite_redis::BlockingTieredCache<u64, u64>) {
    /// let r = cache.try_get_or_insert_with(&2, || "4".parse::<u64>());
    /// # }
    /// ```
    pub fn try_get_or_insert_with<E>(
        &self,
        key: &K,
        init: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E> {
        self.try_get_or_compute(
            key,
            |v| v,
            || {
                let v = init()?;
                Ok((v.clone(), Some(Insertion::new(v))))
            },
        )
    }
}
