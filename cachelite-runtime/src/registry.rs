//! A process-wide list of named caches, for dashboards and `/stats`.
//! `#[memoize]` registers each function's cache when it is first used.

use parking_lot::Mutex;
use std::hash::{BuildHasher, Hash};

use crate::cache::Cache;
use crate::stats::CacheInfo;

/// Anything that can report a [`CacheInfo`]: every [`Cache`].
pub trait CacheInfoSource: Send + Sync {
    /// The current info.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, CacheInfoSource};
    /// let c: Cache<u8, u8> = Cache::new(4);
    /// assert_eq!(c.cache_info().config.max_items, Some(4));
    /// ```
    fn cache_info(&self) -> CacheInfo;
}

impl<K, V, S> CacheInfoSource for Cache<K, V, S>
where
    K: Hash + Eq + Clone + Send + Sync,
    V: Clone + Send + Sync,
    S: BuildHasher + Send + Sync,
{
    fn cache_info(&self) -> CacheInfo {
        self.info()
    }
}

type Entry = (&'static str, Box<dyn CacheInfoSource>);

static REGISTRY: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

/// Adds a cache to the registry under `name`, and returns the name it is
/// listed under: `name` itself, or, when `name` is taken already, the first
/// free one of `name#2`, `name#3`, ... Every registered cache stays listed,
/// so two memoized fns given the same `name = "..."` (or two same-named
/// fns local to different fns of one module) both show up, the one
/// registered second (the second to be first called) with `#2`.
///
/// ```
/// use cachelite_runtime::{Cache, register, registry};
/// let a: Cache<u8, u8> = Cache::new(8);
/// let b: Cache<u8, u8> = Cache::new(16);
/// assert_eq!(register("doc::example", a.clone()), "doc::example");
/// assert_eq!(register("doc::example", b.clone()), "doc::example#2");
/// let listed = registry();
/// assert!(listed.iter().any(|(name, info)| *name == "doc::example" && info.config.max_items == Some(8)));
/// assert!(listed.iter().any(|(name, info)| *name == "doc::example#2" && info.config.max_items == Some(16)));
/// ```
pub fn register<C: CacheInfoSource + 'static>(name: &'static str, source: C) -> &'static str {
    let mut r = REGISTRY.lock();
    let taken = |n: &str| r.iter().any(|(m, _)| *m == n);
    let name = if taken(name) {
        let mut i = 2_u64;
        loop {
            let candidate = format!("{name}#{i}");
            if !taken(&candidate) {
                // Registrations are few (one per cache), and names live as
                // long as the registry.
                break &*Box::leak(candidate.into_boxed_str());
            }
            i += 1;
        }
    } else {
        name
    };
    r.push((name, Box::new(source)));
    name
}

/// Every registered cache with its current info, sorted by name.
/// Memoized functions appear once they have been called.
///
/// ```
/// for (name, info) in cachelite_runtime::registry() {
///     println!("{name}: {:.0}% hits", info.hit_rate() * 100.0);
/// }
/// ```
#[must_use]
pub fn registry() -> Vec<(&'static str, CacheInfo)> {
    // Collect the names and sources' infos without holding the lock while
    // cache locks are taken in turn would be ideal, but sources are boxed
    // in the registry; info() takes only shard locks, never this one.
    let r = REGISTRY.lock();
    let mut out: Vec<_> = r.iter().map(|(n, s)| (*n, s.cache_info())).collect();
    drop(r);
    out.sort_by(|a, b| a.0.cmp(b.0));
    out
}
