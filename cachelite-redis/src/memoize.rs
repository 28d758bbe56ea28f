//! What `#[memoize(store = ..)]` expansions name, through the facade, as
//! `::cachelite::__private::redis::...`. Not public API.
//!
//! The store's type comes from the `store = ..` expression's type
//! ([`StoreSource::Store`]): the expansion keeps the expression in a
//! closure that only [`Build`] calls, once, and hands that closure to
//! [`typed`] as well, whose signature reads the store type off it without
//! calling it. Accessors return the caches as `impl Store`.
//!
//! A memoized fn over a store keeps a [`Memo`]: a [`BlockingTieredCache`]
//! on a runtime shared by every such fn of the process (one worker thread
//! for the connections and subscribers), never on the caller's runtime. A
//! cache in a `static` outlives runtimes (each `#[tokio::test]` has its
//! own), and a subscriber or connection left on a runtime that has shut
//! down would be dead. Async calls poll their Redis round trips with that
//! runtime entered and the fn's body with the caller's own.
//!
//! Like the local glue, every operation goes through [`run`] (or
//! [`run_async`]), the only places that require [`RedisKey`] and
//! [`RedisValue`], so a type that does not fit is reported once.

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::blocking::OwnedRuntime;
pub use crate::{BlockingTieredCache, Error, Store, TieredCache, TieredStats};
use crate::{Insertion, MemoryStore, RedisStore, RedisStoreBuilder, TieredKey};

/// What the key of a memoized fn over a store must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the key of a `#[memoize(store = ..)]` cache: it must be `Serialize + DeserializeOwned`",
    label = "keys are sent to the store in their serde form, the same in every process, and read back from invalidation messages",
    note = "derive it with `#[derive(serde::Serialize, serde::Deserialize)]`, or key the cache by a serializable form of the arguments with `key = ...`"
)]
pub trait RedisKey: TieredKey + Clone + Send + Sync {}

impl<T: TieredKey + Clone + Send + Sync> RedisKey for T {}

/// What the value of a memoized fn over a store must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached in a store by `#[memoize(store = ..)]`: it must be `Serialize + DeserializeOwned + Clone + Send + Sync + 'static`",
    label = "values are written to the store in their serde form and read back by every process",
    note = "derive what is missing: `#[derive(Clone, serde::Serialize, serde::Deserialize)]`"
)]
pub trait RedisValue: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> RedisValue for T {}

/// What `store = ...` accepts: something that gives the store.
///
/// The stores of this crate by value (a clone sharing its connections or
/// backing), a `LazyLock` of a source, a [`RedisStoreBuilder`], the
/// `Result` of [`RedisStore::open`], and references to any of these.
///
/// A store of your own (a type that implements [`Store`]) becomes a
/// source with a few lines, and `#[memoize(store = ..)]` then takes it
/// (there is no blanket impl: it would overlap the impl for references):
///
/// ```
/// use std::sync::LazyLock;
/// use cachelite_redis::{Error, MemoryStore, StoreSource};
///
/// /// Where one tenant's results are kept: here a `MemoryStore`; a type
/// /// that implements `Store` itself is given back the same way.
/// struct Tenant {
///     store: MemoryStore,
/// }
///
/// impl StoreSource for Tenant {
///     type Store = MemoryStore;
///     fn memo_store(&self) -> Result<MemoryStore, (Error, MemoryStore)> {
///         Ok(self.store.clone())
///     }
/// }
///
/// static ACME: LazyLock<Tenant> = LazyLock::new(|| Tenant {
///     store: MemoryStore::new().with_namespace("acme"),
/// });
///
/// #[cachelite::memoize(ttl = 60, store = ACME, local(capacity = 100))]
/// fn square(n: u64) -> u64 {
///     n * n
/// }
///
/// assert_eq!(square(12), 144);
/// assert_eq!(square(12), 144); // from the cache
/// let info = square_cache_info();
/// assert_eq!((info.misses, info.l1_hits + info.l2_hits), (1, 1));
/// ```
///
/// (`cachelite-redis/tests/memoize.rs` has a complete store of its own,
/// memoized over.) The source is asked once, on the fn's first call; an
/// `Err` carries why there is no store and a stand-in that reaches
/// nothing, so that the fn computes every call.
#[diagnostic::on_unimplemented(
    message = "`store = ...` must give a store, and `{Self}` does not",
    label = "expected a store (a `RedisStore`, `PostgresStore`, `MySqlStore` or `MemoryStore`), a `RedisStoreBuilder`, or a `static` holding one",
    note = "e.g. `store = RedisStore::builder(url).namespace(\"users\")`, `store = USERS` with `static USERS: LazyLock<RedisStore> = ...`, or `store = MEMORY` with `static MEMORY: LazyLock<MemoryStore> = LazyLock::new(MemoryStore::new)`"
)]
pub trait StoreSource {
    /// The store the fn's cache is over.
    type Store: Store;

    /// The store (a clone sharing the connection for a store).
    ///
    /// # Errors
    /// Why the source gave no store, with a store that reaches nothing.
    fn memo_store(&self) -> Result<Self::Store, (Error, Self::Store)>;
}

/// A Redis store that reaches no server: what a fn whose Redis store could
/// not be built is left with.
fn unreachable_redis() -> RedisStore {
    RedisStore::open("redis://127.0.0.1:1/", "misconfigured")
        .expect("a fixed, valid URL and namespace")
}

// The stores of this crate, by value (a clone). Not a blanket impl for
// every store: one would overlap the impl for references, and would be the
// only candidate for any type, so that a type that is no store would be
// reported several times over.
impl StoreSource for RedisStore {
    type Store = RedisStore;
    fn memo_store(&self) -> Result<RedisStore, (Error, RedisStore)> {
        Ok(self.clone())
    }
}

impl StoreSource for MemoryStore {
    type Store = MemoryStore;
    fn memo_store(&self) -> Result<MemoryStore, (Error, MemoryStore)> {
        Ok(self.clone())
    }
}

#[cfg(feature = "postgres")]
impl StoreSource for crate::PostgresStore {
    type Store = crate::PostgresStore;
    fn memo_store(&self) -> Result<Self::Store, (Error, Self::Store)> {
        Ok(self.clone())
    }
}

#[cfg(feature = "mysql")]
impl StoreSource for crate::MySqlStore {
    type Store = crate::MySqlStore;
    fn memo_store(&self) -> Result<Self::Store, (Error, Self::Store)> {
        Ok(self.clone())
    }
}

impl StoreSource for RedisStoreBuilder {
    type Store = RedisStore;
    fn memo_store(&self) -> Result<RedisStore, (Error, RedisStore)> {
        self.clone().build().map_err(|e| (e, unreachable_redis()))
    }
}

impl StoreSource for Result<RedisStore, Error> {
    type Store = RedisStore;
    fn memo_store(&self) -> Result<RedisStore, (Error, RedisStore)> {
        match self {
            Ok(s) => Ok(s.clone()),
            Err(Error::Config(m)) => Err((Error::Config(m.clone()), unreachable_redis())),
            Err(e) => Err((Error::Config(e.to_string()), unreachable_redis())),
        }
    }
}

impl<T: StoreSource, F: FnOnce() -> T> StoreSource for LazyLock<T, F> {
    type Store = T::Store;
    fn memo_store(&self) -> Result<T::Store, (Error, T::Store)> {
        LazyLock::force(self).memo_store()
    }
}

impl<T: StoreSource + ?Sized> StoreSource for &T {
    type Store = T::Store;
    fn memo_store(&self) -> Result<T::Store, (Error, T::Store)> {
        (**self).memo_store()
    }
}

/// The store of a `store = ...` expression.
///
/// # Errors
/// Why the source gave no store, with a store that reaches nothing.
///
/// The store's type is a parameter of its own, not `T::Store`: when `T` is
/// no source, the error is reported here once, and the type stays unknown
/// rather than a projection that every later use reports again.
pub fn store<T, S>(source: &T) -> Result<S, (Error, S)>
where
    T: StoreSource<Store = S> + ?Sized,
{
    source.memo_store()
}

/// The runtime of every memoized fn's Redis tier.
fn shared_runtime() -> Result<Arc<OwnedRuntime>, Error> {
    static RUNTIME: LazyLock<Result<Arc<OwnedRuntime>, String>> = LazyLock::new(|| {
        OwnedRuntime::start()
            .map(Arc::new)
            .map_err(|e| e.to_string())
    });
    RUNTIME.clone().map_err(Error::Config)
}

/// One memoized fn's cache over its store, with the settings the cache
/// itself does not keep.
pub struct Memo<K: Clone, V, S = RedisStore> {
    cache: BlockingTieredCache<K, V, S>,
    ttl: Option<Duration>,
    jitter: Option<Duration>,
    /// Misconfigured: every call computes, and nothing is stored.
    disabled: bool,
}

impl<K: Clone, V, S> Memo<K, V, S> {
    /// For sync fns and their accessors.
    #[must_use]
    pub fn blocking(&'static self) -> &'static BlockingTieredCache<K, V, S> {
        &self.cache
    }

    /// For async fns and their accessors.
    #[must_use]
    pub fn tiered(&'static self) -> &'static TieredCache<K, V, S> {
        &self.cache.cache
    }

    /// The TTL of one entry: the default, or with `jitter` a random extra.
    fn entry<T>(&self, value: V, tags: T) -> Insertion<V>
    where
        T: IntoIterator,
        T::Item: AsRef<str>,
    {
        let ins = Insertion::new(value).with_tags(tags);
        match jittered(self.ttl, self.jitter) {
            Some(ttl) => ins.with_ttl(ttl),
            None => ins,
        }
    }

    /// Polls `f` with the Redis runtime entered, and `f`'s own
    /// computations (see [`with_callers_runtime`]) with the caller's.
    async fn enter<F: Future>(&self, f: F) -> F::Output {
        let handle = self.cache.runtime.handle();
        let mut f = std::pin::pin!(f);
        std::future::poll_fn(|cx| {
            let _entered = handle.enter();
            f.as_mut().poll(cx)
        })
        .await
    }
}

/// `ttl` plus a random extra of up to `jitter`; `None` (the cache's
/// default TTL) without a jitter.
fn jittered(ttl: Option<Duration>, jitter: Option<Duration>) -> Option<Duration> {
    let (ttl, jitter) = (ttl?, jitter?);
    let max = u64::try_from(jitter.as_nanos()).unwrap_or(u64::MAX);
    Some(ttl.saturating_add(Duration::from_nanos(fastrand::u64(..=max))))
}

/// Polls `f` with `handle` (the caller's runtime, if any) entered: the
/// fn's body sees the runtime it was called from, not the Redis tier's.
async fn with_callers_runtime<F: Future>(
    handle: Option<tokio::runtime::Handle>,
    f: F,
) -> F::Output {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| {
        let _entered = handle.as_ref().map(tokio::runtime::Handle::enter);
        f.as_mut().poll(cx)
    })
    .await
}

/// What a memoized fn's `static` holds: its [`Memo`], its type erased.
pub type Erased = &'static (dyn std::any::Any + Send + Sync);

/// The [`Memo`] that [`Build`] made, typed again. `build` is the closure
/// that made the [`Build`] (or would have): only its type is used, for the
/// store's.
#[inline]
#[must_use]
pub fn typed<K, V, S, B>(memo: Erased, build: &B) -> &'static Memo<K, V, S>
where
    K: Clone + 'static,
    V: 'static,
    S: Store,
    B: FnOnce() -> Build<K, V, S>,
{
    let _ = build;
    match memo.downcast_ref() {
        Some(memo) => memo,
        // The accessor that built it names the same types.
        None => unreachable!("a memoized fn's cache has the fn's key and value types"),
    }
}

/// One operation on a memoized fn's cache over Redis.
pub trait Op<K, V> {
    /// What the operation returns.
    type Output;
    /// Runs the operation.
    fn run(self) -> Self::Output
    where
        K: RedisKey,
        V: RedisValue;
}

/// Runs an operation on a memoized fn's cache over Redis.
#[inline]
pub fn run<K: RedisKey, V: RedisValue, O: Op<K, V>>(op: O) -> O::Output {
    op.run()
}

/// Builds a memoized fn's cache over its store.
pub struct Build<K, V, S> {
    /// The `store = ...` expression's store.
    pub store: Result<S, (Error, S)>,
    /// `ttl`: the TTL in the store.
    pub ttl: Option<Duration>,
    /// `jitter`: a random extra TTL per entry, up to this.
    pub jitter: Option<Duration>,
    /// `local(capacity = ..)`.
    pub local_capacity: Option<usize>,
    /// `local(ttl = ..)`.
    pub local_ttl: Option<Duration>,
    /// The fn, for messages.
    pub name: &'static str,
    /// The key and value types.
    pub types: std::marker::PhantomData<fn(K) -> V>,
}

impl<K, V, S: Store> Op<K, V> for Build<K, V, S> {
    type Output = Erased;
    fn run(self) -> Erased
    where
        K: RedisKey,
        V: RedisValue,
    {
        let Build {
            store,
            ttl,
            jitter,
            local_capacity,
            local_ttl,
            name,
            ..
        } = self;
        let (error, store) = match store {
            Ok(store) => {
                match memo::<K, V, S>(store.clone(), ttl, jitter, local_capacity, local_ttl) {
                    Ok(memo) => return Box::leak(Box::new(memo)),
                    Err(e) => (e, store),
                }
            }
            Err(failed) => failed,
        };
        // A setting only known at run time (a URL from the environment, a
        // computed capacity) is reported once, here; the fn stays correct,
        // computing every call.
        eprintln!(
            "cachelite: #[memoize] cache `{name}` is misconfigured, so it caches nothing: {error}"
        );
        let mut memo = memo::<K, V, S>(store, None, None, None, None)
            .expect("the fallback's settings are valid");
        memo.disabled = true;
        Box::leak(Box::new(memo))
    }
}

fn memo<K: RedisKey, V: RedisValue, S: Store>(
    store: S,
    ttl: Option<Duration>,
    jitter: Option<Duration>,
    local_capacity: Option<usize>,
    local_ttl: Option<Duration>,
) -> Result<Memo<K, V, S>, Error> {
    let mut b = TieredCache::builder(store);
    if let Some(ttl) = ttl {
        b = b.ttl(ttl);
    }
    if let Some(n) = local_capacity {
        b = b.local_capacity(n);
    }
    if let Some(ttl) = local_ttl {
        b = b.local_ttl(ttl);
    }
    let cache = BlockingTieredCache::on_runtime(b, shared_runtime()?)?;
    Ok(Memo {
        cache,
        ttl,
        jitter,
        disabled: false,
    })
}

/// The read-through of a memoized fn over Redis: the fields of the local
/// form, so that the expansion is the same (`shared` is always on here).
pub struct GetOrCompute<K: Clone + 'static, V: 'static, H, S, P, C, R: 'static = RedisStore> {
    /// The fn's cache.
    pub cache: &'static Memo<K, V, R>,
    /// Singleflight: always, per process.
    pub shared: bool,
    /// The key of this call.
    pub key: K,
    /// Cached value to output.
    pub on_hit: H,
    /// Output to the value to cache, if any.
    pub store: S,
    /// The `condition`.
    pub keep: P,
    /// The body.
    pub compute: C,
}

impl<K, V, O, T, H, S, P, C, R> Op<K, V> for GetOrCompute<K, V, H, S, P, C, R>
where
    K: Clone,
    R: Store,
    H: FnOnce(V) -> O,
    S: FnOnce(&O) -> Option<&V>,
    P: FnOnce(&V) -> bool,
    C: FnOnce() -> (O, T),
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    type Output = O;
    fn run(self) -> O
    where
        K: RedisKey,
        V: RedisValue,
    {
        let GetOrCompute {
            cache: memo,
            key,
            on_hit,
            store,
            keep,
            compute,
            ..
        } = self;
        if memo.disabled {
            return compute().0;
        }
        memo.cache.get_or_compute(&key, on_hit, move || {
            let (out, tags) = compute();
            let ins = insertion(memo, store(&out), keep, tags);
            (out, ins)
        })
    }
}

/// The read-through of an async memoized fn over Redis.
///
/// The store's type is an `impl Store`, so that the expansion names the
/// same eight types as for a local cache.
pub async fn run_async<K, V, O, T, H, S, P, C>(op: GetOrCompute<K, V, H, S, P, C, impl Store>) -> O
where
    K: RedisKey,
    V: RedisValue,
    H: FnOnce(V) -> O,
    S: FnOnce(&O) -> Option<&V>,
    P: FnOnce(&V) -> bool,
    C: Future<Output = (O, T)>,
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    let GetOrCompute {
        cache: memo,
        key,
        on_hit,
        store,
        keep,
        compute,
        ..
    } = op;
    if memo.disabled {
        return compute.await.0;
    }
    let caller = tokio::runtime::Handle::try_current().ok();
    let compute = async move {
        let (out, tags) = with_callers_runtime(caller, compute).await;
        let ins = insertion(memo, store(&out), keep, tags);
        (out, ins)
    };
    // Boxed: the two tiers' read-through, with its Redis round trips, is a
    // future of many kilobytes, which would otherwise sit inside every
    // future that calls the fn.
    Box::pin(memo.enter(memo.tiered().get_or_compute(&key, on_hit, compute))).await
}

fn insertion<K: Clone, V: Clone, R, T>(
    memo: &Memo<K, V, R>,
    value: Option<&V>,
    keep: impl FnOnce(&V) -> bool,
    tags: T,
) -> Option<Insertion<V>>
where
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    match value {
        Some(v) if keep(v) => Some(memo.entry(v.clone(), tags)),
        _ => None,
    }
}

/// `<fn>_cache_clear()` of a sync fn: empties the namespace, in Redis and
/// in every process's local tier.
pub struct Clear<K: Clone + 'static, V: 'static, R: 'static = RedisStore>(
    pub &'static Memo<K, V, R>,
);

impl<K: Clone, V, R: Store> Op<K, V> for Clear<K, V, R> {
    type Output = Result<usize, Error>;
    fn run(self) -> Result<usize, Error>
    where
        K: RedisKey,
        V: RedisValue,
    {
        self.0.cache.clear()
    }
}

/// `<fn>_cache_clear()` of an async fn.
pub async fn clear_async<K: RedisKey, V: RedisValue, R: Store>(
    memo: &'static Memo<K, V, R>,
) -> Result<usize, Error> {
    Box::pin(memo.enter(memo.tiered().clear())).await
}

/// `<fn>_cache_info()`: the counters of both tiers.
pub struct Info<K: Clone + 'static, V: 'static, R: 'static = RedisStore>(
    pub &'static Memo<K, V, R>,
);

impl<K: Clone, V, R: Store> Op<K, V> for Info<K, V, R> {
    type Output = TieredStats;
    fn run(self) -> TieredStats
    where
        K: RedisKey,
        V: RedisValue,
    {
        self.0.cache.stats()
    }
}

/// `<fn>_cache_invalidate(..)` of a sync fn: whether Redis held an entry.
pub struct Invalidate<K: Clone + 'static, V: 'static, R: 'static = RedisStore>(
    pub &'static Memo<K, V, R>,
    pub K,
);

impl<K: Clone, V, R: Store> Op<K, V> for Invalidate<K, V, R> {
    type Output = Result<bool, Error>;
    fn run(self) -> Result<bool, Error>
    where
        K: RedisKey,
        V: RedisValue,
    {
        self.0.cache.remove(&self.1)
    }
}

/// `<fn>_cache_invalidate(..)` of an async fn.
pub async fn invalidate_async<K: RedisKey, V: RedisValue, R: Store>(
    memo: &'static Memo<K, V, R>,
    key: K,
) -> Result<bool, Error> {
    Box::pin(memo.enter(memo.tiered().remove(&key))).await
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    #[test]
    fn jitter_adds_up_to_its_bound_and_only_with_a_ttl() {
        let (ttl, jitter) = (Duration::from_secs(60), Duration::from_secs(5));
        let seen: Vec<Duration> = (0..200)
            .filter_map(|_| jittered(Some(ttl), Some(jitter)))
            .collect();
        assert_eq!(seen.len(), 200);
        assert!(seen.iter().all(|t| *t >= ttl && *t <= ttl + jitter));
        assert!(seen.iter().any(|t| *t != seen[0]), "the extra varies");
        assert_eq!(jittered(Some(ttl), None), None);
        assert_eq!(jittered(None, Some(jitter)), None);
    }

    fn same(v: &u64) -> Option<&u64> {
        Some(v)
    }

    fn keep(_: &u64) -> bool {
        true
    }

    #[test]
    fn a_misconfigured_cache_computes_every_call_and_stores_nothing() {
        let memory = MemoryStore::new();
        let built = run::<u64, u64, _>(Build {
            store: Ok(memory.clone()),
            ttl: None,
            jitter: None,
            local_capacity: Some(0),
            local_ttl: None,
            name: "zero",
            types: std::marker::PhantomData,
        });
        let memo: &'static Memo<u64, u64, MemoryStore> = typed(built, &|| Build {
            store: Ok(memory.clone()),
            ttl: None,
            jitter: None,
            local_capacity: None,
            local_ttl: None,
            name: "zero",
            types: std::marker::PhantomData,
        });
        let calls = std::sync::atomic::AtomicUsize::new(0);
        for _ in 0..3 {
            let out = run::<u64, u64, _>(GetOrCompute {
                cache: memo,
                shared: true,
                key: 1,
                on_hit: |v| v,
                store: same,
                keep,
                compute: || {
                    (
                        calls.fetch_add(1, Ordering::SeqCst) as u64,
                        Vec::<String>::new(),
                    )
                },
            });
            assert!(out < 3);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3, "every call computes");
        assert!(memo.blocking().stats().l2_hits == 0);
        let nothing = crate::remote::Store::get(&memory, "#1");
        let nothing = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(nothing)
            .unwrap();
        assert_eq!(nothing, None, "nothing stored");
    }

    #[test]
    fn store_sources_give_the_store_or_the_reason() {
        let builder = RedisStore::builder("redis://127.0.0.1:1/").namespace("n");
        assert_eq!(store(&builder).unwrap().namespace(), "n");
        let lazy: LazyLock<RedisStore> =
            LazyLock::new(|| RedisStore::open("redis://127.0.0.1:1/", "lazy").unwrap());
        assert_eq!(store(&lazy).unwrap().namespace(), "lazy");
        assert_eq!(store(&&*lazy).unwrap().namespace(), "lazy");
        let memory: LazyLock<MemoryStore> =
            LazyLock::new(|| MemoryStore::new().with_namespace("m"));
        let from_static: MemoryStore = store(&memory).unwrap();
        assert!(
            from_static.shares_backing(&memory),
            "a clone, not a new store"
        );
        assert_eq!(from_static.namespace(), "m");
        let owned: MemoryStore = store(&memory.with_namespace("o")).unwrap();
        assert!(owned.shares_backing(&memory));
        let bad = RedisStore::open("redis://127.0.0.1:1/", "a:b");
        let e = store(&bad).unwrap_err().0.to_string();
        assert_eq!(e.matches("invalid remote tier setting").count(), 1, "{e}");
    }
}
