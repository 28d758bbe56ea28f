//! Namespaces and versions: [`Cache::namespace`], [`Cache::version`] and
//! [`Cache::set_version`]. Snapshots carry both (see `snapshot.rs`).

use std::hash::{BuildHasher, Hash};
use std::sync::atomic::Ordering;

use crate::cache::Cache;
use crate::shard::Evicted;

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    /// The namespace given to the builder, if any.
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert_eq!(c.namespace(), None);
    /// ```
    pub fn namespace(&self) -> Option<&str> {
        self.inner.namespace.as_deref()
    }

    /// The version of the cached data: the builder's, or the last
    /// [`Cache::set_version`].
    ///
    /// ```
    /// let c: cachelite_runtime::Cache<u8, u8> = cachelite_runtime::Cache::new(10);
    /// assert_eq!(c.version(), 0);
    /// ```
    pub fn version(&self) -> u64 {
        self.inner.version.load(Ordering::Acquire)
    }

    /// Moves the cache to another version of its data: every entry of the
    /// old one becomes unreachable and is dropped at once (as explicit
    /// removals), and computations in flight finish for their callers
    /// without storing their results. Returns how many entries went; 0,
    /// and nothing changes, if `version` is the current one.
    ///
    /// Entries stored while the switch runs may be dropped too: the
    /// version changes first, then each shard is emptied in turn.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let prices: Cache<&str, u32> = Cache::builder().version(1).build();
    /// prices.insert("eur", 100);
    /// assert_eq!(prices.set_version(2), 1);
    /// assert_eq!((prices.version(), prices.get("eur")), (2, None));
    /// assert_eq!(prices.set_version(2), 0, "already there");
    /// ```
    pub fn set_version(&self, version: u64) -> usize {
        if self.inner.version.swap(version, Ordering::AcqRel) == version {
            return 0;
        }
        let mut removed = 0;
        for shard in &*self.inner.shards {
            let mut evicted = Evicted::new();
            {
                let mut g = shard.write();
                removed += g.len();
                g.clear(&mut evicted);
            }
            self.finish(evicted);
        }
        removed
    }
}
