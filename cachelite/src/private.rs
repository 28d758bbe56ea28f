//! What `#[memoize]` expansions name as `::cachelite::__private::...`.
//!
//! Generated code reaches the runtime only through this module, so users
//! depend on `cachelite` alone and shadowing `std`, `core` or `cachelite`
//! in their own modules breaks nothing. The bounds on these helpers carry
//! the diagnostics a user sees when a key or value type does not fit.

use std::future::Future;
use std::hash::Hash;
use std::marker::PhantomData;

pub use ::cachelite_macros::__memoize_policy_names as policy_names;
pub use ::cachelite_runtime;
pub use ::cachelite_runtime::{Cache, CacheBuilder, CacheInfo, Insertion, Policy, Scoped};
pub use ::core;
pub use ::core::clone::Clone;
pub use ::core::option::Option;
pub use ::std;
pub use ::std::borrow::ToOwned;
pub use ::std::string::String;
pub use ::std::sync::OnceLock;
pub use ::std::time::Duration;

/// What a memoized fn's key must be. Implemented for every fitting type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a `#[memoize]` cache key",
    label = "a key must be `Hash + Eq + Clone + Send + Sync + 'static`",
    note = "leave arguments that do not identify the result out of the key with `key = ...`, e.g. `#[memoize(key = id)]` for `fn load(id: u64, db: &Db)`",
    note = "or key by a `Hash` form of the argument, e.g. `key = weight.to_bits()` for an `f64`"
)]
pub trait Key: Hash + Eq + Clone + Send + Sync + 'static {}

impl<T: Hash + Eq + Clone + Send + Sync + 'static> Key for T {}

/// What a memoized fn's cached value must be. Implemented for every fitting type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be cached by `#[memoize]`: it must be `Clone + Send + Sync + 'static`",
    label = "the cache keeps this value and hands out clones of it",
    note = "every thread that calls the fn shares the cache: a type that is not `Send`/`Sync` must use the thread-safe forms, `Arc` for `Rc`, `Mutex`/`RwLock` for `RefCell`, atomics for `Cell`",
    note = "a type that is not `Clone` (or costly to clone) can be returned in an `Arc`, which is cheap to clone and shares one value"
)]
pub trait Value: Clone + Send + Sync + 'static {}

impl<T: Clone + Send + Sync + 'static> Value for T {}

/// What `max_bytes` needs of the key and the value.
#[diagnostic::on_unimplemented(
    message = "`max_bytes` needs `DeepSize` on `{Self}`",
    label = "`{Self}` does not implement `DeepSize`",
    note = "`max_bytes` weighs each entry by the deep size of its key and value: derive it with `#[derive(cachelite::DeepSize)]`, or bound the cache by `capacity` instead"
)]
pub trait Measured: ::cachelite_runtime::DeepSize {}

impl<T: ::cachelite_runtime::DeepSize> Measured for T {}

/// A `Result` return: only `Ok` values are cached (unless `cache_err`).
#[diagnostic::on_unimplemented(
    message = "`#[memoize]` treats `{Self}` as a `Result`, but it is not one",
    label = "not a `Result`",
    note = "remove the `result` flag, or return `Result<T, E>`"
)]
pub trait ResultShape: Sized {
    /// The `Ok` type: what is cached.
    type Ok;
    /// The `Ok` value, if it is one.
    fn ok_ref(&self) -> Option<&Self::Ok>;
    /// Rebuilds the return value from a cached `Ok` value.
    fn from_ok(ok: Self::Ok) -> Self;
}

impl<T, E> ResultShape for Result<T, E> {
    type Ok = T;
    #[inline]
    fn ok_ref(&self) -> Option<&T> {
        self.as_ref().ok()
    }
    #[inline]
    fn from_ok(ok: T) -> Self {
        Ok(ok)
    }
}

/// An `Option` return: only `Some` values are cached (unless `cache_none`).
#[diagnostic::on_unimplemented(
    message = "`#[memoize]` treats `{Self}` as an `Option`, but it is not one",
    label = "not an `Option`",
    note = "remove the `option` flag, or return `Option<T>`"
)]
pub trait OptionShape: Sized {
    /// The `Some` type: what is cached.
    type Some;
    /// The `Some` value, if it is one.
    fn some_ref(&self) -> Option<&Self::Some>;
    /// Rebuilds the return value from a cached `Some` value.
    fn from_some(some: Self::Some) -> Self;
}

impl<T> OptionShape for Option<T> {
    type Some = T;
    #[inline]
    fn some_ref(&self) -> Option<&T> {
        self.as_ref()
    }
    #[inline]
    fn from_some(some: T) -> Self {
        Some(some)
    }
}

/// A return value cached as it is.
#[inline]
pub fn whole<T>(value: &T) -> Option<&T> {
    Some(value)
}

/// A cached value returned as it is.
#[inline]
pub fn identity<T>(value: T) -> T {
    value
}

/// A `ttl`, `jitter` or `stale_ttl` given as an expression: a `Duration`,
/// or a number of seconds.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a duration",
    label = "expected a `Duration` or a number of seconds",
    note = "write seconds as a literal (`ttl = 60`, `ttl = 0.5`) or give a `Duration` (`ttl = Duration::from_millis(500)`)"
)]
pub trait IntoDuration {
    /// The duration.
    fn into_duration(self) -> Duration;
}

impl IntoDuration for Duration {
    fn into_duration(self) -> Duration {
        self
    }
}

macro_rules! whole_seconds {
    ($($t:ty),*) => {$(
        impl IntoDuration for $t {
            fn into_duration(self) -> Duration {
                Duration::from_secs(u64::from(self))
            }
        }
    )*};
}
whole_seconds!(u8, u16, u32, u64);

macro_rules! signed_seconds {
    ($($t:ty),*) => {$(
        impl IntoDuration for $t {
            /// A negative number is no duration: zero, which building the
            /// cache reports (literals are checked at compile time).
            fn into_duration(self) -> Duration {
                u64::try_from(self).map_or(Duration::ZERO, Duration::from_secs)
            }
        }
    )*};
}
// An unsuffixed integer expression such as `60 * 5` is an `i32`.
signed_seconds!(i32, i64);

impl IntoDuration for usize {
    fn into_duration(self) -> Duration {
        Duration::from_secs(u64::try_from(self).unwrap_or(u64::MAX))
    }
}

impl IntoDuration for f32 {
    fn into_duration(self) -> Duration {
        f64::from(self).into_duration()
    }
}

impl IntoDuration for f64 {
    /// Negative and NaN seconds become zero, which building the cache
    /// reports; too many seconds saturate.
    fn into_duration(self) -> Duration {
        if self > 0.0 {
            Duration::try_from_secs_f64(self).unwrap_or(Duration::MAX)
        } else {
            Duration::ZERO
        }
    }
}

/// The duration of a `ttl`, `jitter` or `stale_ttl` expression.
#[inline]
pub fn duration(value: impl IntoDuration) -> Duration {
    value.into_duration()
}

/// A duration given as a constant expression (`ttl = TTL`), checked at
/// compile time: `const { assert!(!NonZero(TTL).is_zero()) }`. One
/// inherent `is_zero` per type that [`IntoDuration`] accepts, since a
/// trait method cannot be called in a constant.
pub struct NonZero<T>(pub T);

macro_rules! const_is_zero {
    ($($t:ty),*) => {$(
        impl NonZero<$t> {
            /// Whether this is no positive duration.
            #[must_use]
            pub const fn is_zero(&self) -> bool {
                #[allow(unused_comparisons, clippy::absurd_extreme_comparisons)]
                let zero = self.0 <= 0;
                zero
            }
        }
    )*};
}
const_is_zero!(u8, u16, u32, u64, usize, i32, i64);

impl NonZero<f32> {
    /// Whether this is no positive duration.
    #[must_use]
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub const fn is_zero(&self) -> bool {
        !(self.0 > 0.0)
    }
}

impl NonZero<f64> {
    /// Whether this is no positive duration.
    #[must_use]
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    pub const fn is_zero(&self) -> bool {
        !(self.0 > 0.0)
    }
}

impl NonZero<Duration> {
    /// Whether this is no positive duration.
    #[must_use]
    pub const fn is_zero(&self) -> bool {
        self.0.is_zero()
    }
}

/// The policy named `name`, at compile time: a name the macro accepts but
/// the runtime does not know fails the build here rather than at run time.
#[must_use]
pub const fn policy(name: &str) -> Policy {
    let mut i = 0;
    while i < Policy::ALL.len() {
        if str_eq(Policy::ALL[i].name(), name) {
            return Policy::ALL[i];
        }
        i += 1;
    }
    panic!("#[memoize(policy = ...)] names a policy that cachelite's runtime does not know")
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// `Type::method`, built once per memoized method (the name outlives it in
/// the registry).
pub fn method_name<T: ?Sized>(method: &str) -> &'static str {
    Box::leak(format!("{}::{method}", std::any::type_name::<T>()).into_boxed_str())
}

/// One operation on a memoized fn's cache.
///
/// Every operation goes through [`run`] (or [`run_async`]), the only places
/// that require [`Key`] and [`Value`]: a type that does not fit is then
/// reported once, not once per operation. Operations require the bounds
/// only on their method, so that any operation is one for any types.
pub trait Op<K, V> {
    /// What the operation returns.
    type Output;
    /// Runs the operation.
    fn run(self) -> Self::Output
    where
        K: Key,
        V: Value;
}

/// Runs an operation on a memoized fn's cache.
#[inline]
pub fn run<K: Key, V: Value, O: Op<K, V>>(op: O) -> O::Output {
    op.run()
}

/// What a memoized fn's `static` holds: its cache, its type erased.
///
/// The `static` is then `Sync` whatever the key and value types, so a type
/// that does not fit is reported once, by [`Key`] or [`Value`] at [`run`],
/// rather than also as a chain through the cache's private fields.
pub type Erased = &'static (dyn ::core::any::Any + Send + Sync);

/// One memoized fn's slot for its cache, shared by its body and accessors.
pub type Site = &'static OnceLock<Erased>;

/// The slot of the memoized fn named `id` (unique to it in the program).
///
/// The fn's body and each accessor look it up once, each for its own
/// `static`, so they need not name one another: in an impl block, a fn
/// reaches its siblings only through `Self::`, which a fn that does not
/// otherwise mention `Self` cannot know it needs. Filling the slot (which
/// runs the user's attribute expressions) happens outside the lock.
pub fn site(id: &'static str) -> Site {
    static SITES: ::std::sync::LazyLock<
        ::std::sync::Mutex<::std::collections::HashMap<&'static str, Site>>,
    > = ::std::sync::LazyLock::new(Default::default);
    let mut sites = SITES
        .lock()
        .unwrap_or_else(::std::sync::PoisonError::into_inner);
    sites
        .entry(id)
        .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
}

/// The cache that [`Build`] made, typed again.
#[inline]
#[must_use]
pub fn typed<K: 'static, V: 'static>(cache: Erased) -> &'static Cache<K, V> {
    match cache.downcast_ref() {
        Some(cache) => cache,
        // The accessor that built it names the same types.
        None => unreachable!("a memoized fn's cache has the fn's key and value types"),
    }
}

/// Builds a memoized fn's cache and adds it to the registry.
pub struct Build<K, V> {
    /// The configured builder.
    pub builder: CacheBuilder<K, V>,
    /// The name in the registry.
    pub name: &'static str,
}

impl<K, V> Op<K, V> for Build<K, V> {
    type Output = Erased;
    fn run(self) -> Erased
    where
        K: Key,
        V: Value,
    {
        let cache = self.builder.name(self.name).try_build().unwrap_or_else(|error| {
            // A value the macro could not check at compile time (a `ttl`
            // or `capacity` computed at run time) is reported once, here;
            // the fn stays correct with a cache that keeps nothing.
            // In the attribute's words, not the builder's.
            let what = match error {
                ::cachelite_runtime::BuildError::ZeroDuration("default_ttl") => {
                    String::from("`ttl` is zero or negative; leave it out for no expiry")
                }
                ::cachelite_runtime::BuildError::ZeroMaxItems => {
                    String::from("`capacity` is zero; use `unbounded` for no bound")
                }
                ::cachelite_runtime::BuildError::ZeroMaxBytes => {
                    String::from("`max_bytes` is zero")
                }
                other => other.to_string(),
            };
            ::std::eprintln!(
                "cachelite: #[memoize] cache `{}` is misconfigured, so it caches nothing: {what}",
                self.name
            );
            stores_nothing()
        });
        ::cachelite_runtime::register(self.name, cache.clone());
        Box::leak(Box::new(cache))
    }
}

/// A cache every entry of which is heavier than its whole budget, so it
/// rejects them all: each call runs the body.
fn stores_nothing<K: Key, V: Value>() -> Cache<K, V> {
    Cache::builder()
        .max_weight(1)
        .weigher(|_: &K, _: &V| usize::MAX)
        .build()
}

/// `<fn>_cache_clear()`: removes the entries and resets the stats, as
/// Python's `cache_clear()` does.
pub struct Clear<'a, K, V>(pub &'a Cache<K, V>);

impl<K, V> Op<K, V> for Clear<'_, K, V> {
    type Output = ();
    fn run(self)
    where
        K: Key,
        V: Value,
    {
        self.0.clear();
        // After the clear, so that its invalidations are not counted.
        self.0.reset_stats();
    }
}

/// `<fn>_cache_info()`.
pub struct Info<'a, K, V>(pub &'a Cache<K, V>);

impl<K, V> Op<K, V> for Info<'_, K, V> {
    type Output = CacheInfo;
    fn run(self) -> CacheInfo
    where
        K: Key,
        V: Value,
    {
        self.0.info()
    }
}

/// `<fn>_cache_invalidate(..)`: whether an entry was removed.
pub struct Invalidate<'a, K, V>(pub &'a Cache<K, V>, pub K);

impl<K, V> Op<K, V> for Invalidate<'_, K, V> {
    type Output = bool;
    fn run(self) -> bool
    where
        K: Key,
        V: Value,
    {
        self.0.remove(&self.1).is_some()
    }
}

/// A memoized fn's key under the scope path its `scope(...)` levels give.
#[inline]
pub fn scoped<K>(segments: Vec<String>, key: K) -> Scoped<K> {
    ::cachelite_runtime::ScopePath::__from_declared(segments).key(key)
}

/// The read-through of a memoized fn.
///
/// With `shared` (singleflight), concurrent callers for one key run the
/// body once; without, each miss computes. `compute` runs the body and
/// returns its output with the entry's tags; `store` picks what of the
/// output to cache (the whole value, the `Ok` or the `Some`), `keep`
/// decides whether to cache it, and `on_hit` rebuilds the output from a
/// cached value.
pub struct GetOrCompute<'a, K, V, H, S, P, C> {
    /// The fn's cache.
    pub cache: &'a Cache<K, V>,
    /// Singleflight.
    pub shared: bool,
    /// `<fn>_cache_refresh(..)`: the body runs now, its value replacing
    /// the cached one (which other callers keep getting meanwhile).
    pub refresh: bool,
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

impl<K, V, O, T, H, S, P, C> Op<K, V> for GetOrCompute<'_, K, V, H, S, P, C>
where
    H: FnOnce(V) -> O,
    S: FnOnce(&O) -> Option<&V>,
    P: FnOnce(&V) -> bool,
    C: FnOnce() -> (O, T),
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    type Output = O;
    #[inline]
    fn run(self) -> O
    where
        K: Key,
        V: Value,
    {
        let GetOrCompute {
            cache,
            shared,
            refresh,
            key,
            on_hit,
            store,
            keep,
            compute,
        } = self;
        let compute = move || {
            let (out, tags) = compute();
            let ins = insertion(store(&out), keep, tags);
            (out, ins)
        };
        if refresh {
            return cache.refresh_with(key, compute);
        }
        cache.read_through(key, misses(shared), on_hit, compute)
    }
}

/// The read-through of an async memoized fn: [`GetOrCompute`] with a
/// future as `compute`. Its own entry point, as an async operation.
#[inline]
pub async fn run_async<K, V, O, T, H, S, P, C>(op: GetOrCompute<'_, K, V, H, S, P, C>) -> O
where
    K: Key,
    V: Value,
    H: FnOnce(V) -> O,
    S: FnOnce(&O) -> Option<&V>,
    P: FnOnce(&V) -> bool,
    C: Future<Output = (O, T)>,
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    let GetOrCompute {
        cache,
        shared,
        refresh,
        key,
        on_hit,
        store,
        keep,
        compute,
    } = op;
    let compute = async move {
        let (out, tags) = compute.await;
        let ins = insertion(store(&out), keep, tags);
        (out, ins)
    };
    if refresh {
        return cache.refresh_with_async(key, compute).await;
    }
    cache
        .read_through_async(key, misses(shared), on_hit, compute)
        .await
}

/// A sync memoized fn's read-through with `stale_ttl` and owned
/// arguments: the stale refresh runs on a background thread when the arguments `A`
/// (a tuple of their types) can be sent to one ([`RevalidateInBackground`]),
/// inline otherwise ([`RevalidateInline`]). Called as
/// `(&Revalidate::new(op)).run_revalidating()`, so that method resolution
/// tries the first before borrowing again for the second. The choice is
/// made on the argument types, which are known when methods are resolved
/// (a closure's captures are not yet).
pub struct Revalidate<K, V, A, T>(::std::cell::Cell<Option<T>>, PhantomData<fn(K, V, A)>);

impl<K, V, A, T> Revalidate<K, V, A, T> {
    /// Wraps the read-through.
    #[inline]
    pub fn new(op: T) -> Self {
        Self(::std::cell::Cell::new(Some(op)), PhantomData)
    }

    fn take(&self) -> T {
        match self.0.take() {
            Some(op) => op,
            None => unreachable!("a read-through runs once"),
        }
    }
}

/// See [`Revalidate`]: the refresh runs on the background refresher.
pub trait RevalidateInBackground {
    /// The fn's output.
    type Output;
    /// Runs the read-through.
    fn run_revalidating(&self) -> Self::Output;
}

/// See [`Revalidate`]: the refresh runs inline.
pub trait RevalidateInline {
    /// The fn's output.
    type Output;
    /// Runs the read-through.
    fn run_revalidating(&self) -> Self::Output;
}

impl<K, V, A, O, T, H, S, P, C> RevalidateInBackground
    for Revalidate<K, V, A, GetOrCompute<'_, K, V, H, S, P, C>>
where
    A: Send,
    K: Key,
    V: Value,
    H: FnOnce(V) -> O,
    S: FnOnce(&O) -> Option<&V> + Send + 'static,
    P: FnOnce(&V) -> bool + Send + 'static,
    C: FnOnce() -> (O, T) + Send + 'static,
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    type Output = O;
    #[inline]
    fn run_revalidating(&self) -> O {
        let GetOrCompute {
            cache,
            shared,
            refresh,
            key,
            on_hit,
            store,
            keep,
            compute,
        } = self.take();
        let compute = move || {
            let (out, tags) = compute();
            let ins = insertion(store(&out), keep, tags);
            (out, ins)
        };
        if refresh {
            return cache.refresh_with(key, compute);
        }
        if !shared {
            return cache.read_through(key, misses(shared), on_hit, compute);
        }
        cache.get_or_compute_revalidating(key, on_hit, compute)
    }
}

impl<K, V, A, O, T, H, S, P, C> RevalidateInline
    for &Revalidate<K, V, A, GetOrCompute<'_, K, V, H, S, P, C>>
where
    K: Key,
    V: Value,
    H: FnOnce(V) -> O,
    S: FnOnce(&O) -> Option<&V>,
    P: FnOnce(&V) -> bool,
    C: FnOnce() -> (O, T),
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    type Output = O;
    #[inline]
    fn run_revalidating(&self) -> O {
        run::<K, V, _>(self.take())
    }
}

/// [`run_async`] for an async memoized fn with `stale_ttl` and `spawn`:
/// a stale value is returned at once and its refresh handed to the spawner.
#[inline]
pub async fn run_async_revalidating<K, V, O, T, H, S, P, C>(
    op: GetOrCompute<'_, K, V, H, S, P, C>,
) -> O
where
    K: Key,
    V: Value,
    H: FnOnce(V) -> O,
    S: FnOnce(&O) -> Option<&V> + Send + 'static,
    P: FnOnce(&V) -> bool + Send + 'static,
    C: Future<Output = (O, T)> + Send + 'static,
    O: Send,
    T: IntoIterator + Send,
    T::Item: AsRef<str>,
{
    let GetOrCompute {
        cache,
        shared,
        refresh,
        key,
        on_hit,
        store,
        keep,
        compute,
    } = op;
    let compute = async move {
        let (out, tags) = compute.await;
        let ins = insertion(store(&out), keep, tags);
        (out, ins)
    };
    if refresh {
        return cache.refresh_with_async(key, compute).await;
    }
    if !shared {
        return cache
            .read_through_async(key, misses(shared), on_hit, compute)
            .await;
    }
    cache
        .get_or_compute_async_revalidating(key, on_hit, compute)
        .await
}

fn misses(shared: bool) -> ::cachelite_runtime::Misses {
    if shared {
        ::cachelite_runtime::Misses::Shared
    } else {
        ::cachelite_runtime::Misses::Independent
    }
}

/// The entry to store for one computed value: a clone of it when there is
/// one and `keep` accepts it.
fn insertion<V: Clone, T>(
    value: Option<&V>,
    keep: impl FnOnce(&V) -> bool,
    tags: T,
) -> Option<Insertion<V>>
where
    T: IntoIterator,
    T::Item: AsRef<str>,
{
    match value {
        Some(v) if keep(v) => Some(Insertion::new(v.clone()).with_tags(tags)),
        _ => None,
    }
}

/// The `condition` closure, with its argument's type known to inference
/// (and a mistake in it reported once, here).
#[inline]
pub fn keep<V, P: FnOnce(&V) -> bool>(condition: P) -> impl FnOnce(&V) -> bool {
    condition
}

/// Every computed value is kept.
#[inline]
pub fn always<V>(_: &V) -> bool {
    true
}

/// What `tags = ...` accepts: an array, `Vec` or iterator of strings.
#[diagnostic::on_unimplemented(
    message = "`tags` must be strings, but `{Self}` is not a list of strings",
    label = "expected an array, `Vec` or iterator of `&str` or `String`",
    note = "e.g. `tags = [format!(\"user:{{id}}\"), \"users\".to_string()]`"
)]
pub trait Tags {
    /// The tags, as owned strings.
    fn into_tags(self) -> Vec<String>;
}

impl<I> Tags for I
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    fn into_tags(self) -> Vec<String> {
        self.into_iter().map(|t| t.as_ref().to_owned()).collect()
    }
}

/// The entry's tags.
#[inline]
pub fn tags<T: Tags>(tags: T) -> Vec<String> {
    tags.into_tags()
}

/// No tags.
pub const NO_TAGS: [&str; 0] = [];

/// What a `tags_from_result` closure returns: an array, `Vec` or iterator
/// of strings.
#[diagnostic::on_unimplemented(
    message = "`tags_from_result` must return strings, but `{Self}` is not a list of strings",
    label = "expected an array, `Vec` or iterator of `&str` or `String`",
    note = "e.g. `tags_from_result = |users: &Vec<User>| users.iter().map(|u| format!(\"user:{{}}\", u.id))`"
)]
pub trait ResultTags {
    /// The tags, as owned strings.
    fn into_result_tags(self) -> Vec<String>;
}

impl<I> ResultTags for I
where
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    fn into_result_tags(self) -> Vec<String> {
        self.into_iter().map(|t| t.as_ref().to_owned()).collect()
    }
}

/// The tags a `tags_from_result` closure computed.
#[inline]
pub fn result_tags<T: ResultTags>(tags: T) -> Vec<String> {
    tags.into_result_tags()
}

/// Calls `f`: runs a memoized fn's body as a closure, so that its `return`
/// statements and `?` stay within it.
#[inline]
pub fn call<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The glue of `#[memoize(store = ..)]`, from the Redis tier.
#[cfg(feature = "redis")]
pub use ::cachelite_redis::__memoize as redis;

/// The expansion of `#[memoize(store = ..)]` (the first group) with the
/// `redis` feature; without it, an error that says to enable it, and the
/// fn as written with stand-ins for its accessors (the second group).
#[cfg(feature = "redis")]
#[doc(hidden)]
#[macro_export]
macro_rules! __memoize_over_redis {
    ({ $($expansion:tt)* } { $($fallback:tt)* }) => { $($expansion)* };
}

/// The expansion of `#[memoize(store = ..)]` (the first group) with the
/// `redis` feature; without it, an error that says to enable it, and the
/// fn as written with stand-ins for its accessors (the second group).
#[cfg(not(feature = "redis"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __memoize_over_redis {
    ({ $($expansion:tt)* } { $($fallback:tt)* }) => {
        ::core::compile_error! {
            "`#[memoize(store = ...)]` puts the fn on a cache over Redis, which needs cachelite's `redis` feature: \
             in Cargo.toml, `cachelite = { version = \"0.1\", features = [\"redis\"] }`"
        }
        $($fallback)*
    };
}

pub use crate::__memoize_over_redis as over_redis;

/// Bounds the cache by the deep size of its entries.
pub fn max_bytes<K: Measured, V: Measured>(
    builder: CacheBuilder<K, V>,
    bytes: usize,
) -> CacheBuilder<K, V> {
    builder.max_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_runtime_policy_has_a_const_lookup() {
        for p in Policy::ALL {
            assert_eq!(policy(p.name()), *p);
        }
    }

    #[test]
    fn the_macro_and_the_runtime_know_the_same_policies() {
        let names: Vec<&str> = Policy::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(policy_names!(), names.as_slice());
    }

    #[test]
    fn durations_from_numbers() {
        assert_eq!(duration(2_u64), Duration::from_secs(2));
        assert_eq!(duration(0.25), Duration::from_millis(250));
        assert_eq!(duration(Duration::from_millis(3)), Duration::from_millis(3));
        assert_eq!(duration(-3_i64), Duration::ZERO);
        assert_eq!(duration(-0.5), Duration::ZERO);
        assert_eq!(duration(f64::NAN), Duration::ZERO);
        assert_eq!(duration(f64::INFINITY), Duration::MAX);
        assert!(NonZero(0_u64).is_zero() && NonZero(-1_i32).is_zero());
        assert!(!NonZero(Duration::from_secs(1)).is_zero() && NonZero(f64::NAN).is_zero());
    }

    #[test]
    fn a_misconfigured_cache_keeps_nothing() {
        let cache: &Cache<u8, u8> = typed(
            Build {
                builder: Cache::<u8, u8>::builder().default_ttl(Duration::ZERO),
                name: "private::tests::misconfigured",
            }
            .run(),
        );
        assert!(!cache.insert(1, 1));
        assert_eq!(cache.get_or_insert_with(2, || 5), 5);
        assert!(cache.is_empty());
    }

    #[test]
    fn shapes_pick_what_is_cached() {
        let ok: Result<u8, ()> = Ok(1);
        assert_eq!(ok.ok_ref(), Some(&1));
        assert_eq!(Err::<u8, ()>(()).ok_ref(), None);
        assert_eq!(Some(3).some_ref(), Some(&3));
        assert_eq!(
            insertion(Some(&4), |v| *v > 5, NO_TAGS).map(|i| *i.value()),
            None
        );
        assert_eq!(
            insertion(Some(&6), |v| *v > 5, ["t"]).map(|i| *i.value()),
            Some(6)
        );
    }
}
