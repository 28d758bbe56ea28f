//! TTL and tag housekeeping on entries already in the cache:
//! [`Cache::touch`], [`Cache::touch_with_ttl`], [`Cache::expire_at`] and
//! [`Cache::add_tags`].

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::time::{Duration, SystemTime};

use crate::cache::Cache;
use crate::expiry::deadline;
use crate::shard::Tag;

impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone,
    V: Clone,
    S: BuildHasher,
{
    /// Marks a fresh entry as just used, for the eviction policy, without
    /// reading it (no hit counted, no value cloned). Returns whether there
    /// was one.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, Policy};
    ///
    /// let c: Cache<u8, u8> = Cache::builder().max_items(2).policy(Policy::Lru).build();
    /// c.insert(1, 1);
    /// c.insert(2, 2);
    /// assert!(c.touch(&1));             // 1 is now the most recent
    /// c.insert(3, 3);                    // so 2 goes
    /// assert!(c.contains_key(&1) && !c.contains_key(&2));
    /// assert_eq!(c.stats().hits, 0);
    /// ```
    pub fn touch<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        self.shard(hash).write().touch_key(hash, key, now, None)
    }

    /// [`Cache::touch`], also giving the entry a new time to live from now
    /// (memcached's `touch`, a sliding expiration). Returns whether there
    /// was a fresh entry.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, ManualClock};
    /// use std::time::Duration;
    ///
    /// let clock = ManualClock::new();
    /// let sessions: Cache<&str, u32> = Cache::builder().clock(clock.clone()).build();
    /// sessions.insert_with_ttl("s1", 7, Duration::from_secs(30));
    /// clock.advance(Duration::from_secs(20));
    /// assert!(sessions.touch_with_ttl("s1", Duration::from_secs(30)));
    /// clock.advance(Duration::from_secs(20));
    /// assert_eq!(sessions.get("s1"), Some(7), "still alive: the touch slid its deadline");
    /// ```
    pub fn touch_with_ttl<Q>(&self, key: &Q, ttl: Duration) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let now = self.now();
        self.shard(hash)
            .write()
            .touch_key(hash, key, now, Some(deadline(now, ttl)))
    }

    /// Makes a fresh entry expire at a wall-clock time (Redis's
    /// `EXPIREAT`). The cache's clock is monotonic, so `at` is turned into
    /// the time left until it, measured now on the system clock: a later
    /// change of the system clock does not move the deadline. A time
    /// already past expires the entry at once. Returns whether there was a
    /// fresh entry.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    /// use std::time::{Duration, SystemTime};
    ///
    /// let c: Cache<&str, u32> = Cache::new(10);
    /// c.insert("report", 1);
    /// assert!(c.expire_at("report", SystemTime::now() + Duration::from_secs(3600)));
    /// assert!(c.ttl("report").unwrap() <= Duration::from_secs(3600));
    /// assert!(c.expire_at("report", SystemTime::UNIX_EPOCH));
    /// assert_eq!(c.get("report"), None, "a time in the past expires it");
    /// ```
    pub fn expire_at<Q>(&self, key: &Q, at: SystemTime) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let left = at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let hash = self.hash(key);
        let now = self.now();
        self.shard(hash)
            .write()
            .set_expiry(hash, key, now, deadline(now, left))
    }

    /// Adds tags to a fresh entry, for [`Cache::invalidate_tags`]; the tags
    /// it carries already stay. Returns whether there was a fresh entry.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let c: Cache<&str, &str> = Cache::new(10);
    /// c.insert_with_tags("post:1", "hello", ["posts"]);
    /// assert!(c.add_tags("post:1", ["author:7"]));
    /// assert_eq!(c.invalidate_tags(&["author:7"]), 1);
    /// assert!(!c.add_tags("post:1", ["x"]), "gone");
    /// ```
    pub fn add_tags<Q, I, T>(&self, key: &Q, tags: I) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let tags: Vec<Tag> = tags.into_iter().map(|t| Tag::from(t.as_ref())).collect();
        let hash = self.hash(key);
        let now = self.now();
        self.shard(hash).write().add_tags(hash, key, now, &tags)
    }
}
