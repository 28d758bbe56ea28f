//! An in-process [`Store`]: the two-tier API without a server, for tests
//! and for programs that run as one process.
//!
//! A [`MemoryStore`] is a map in this process's memory. Every handle made
//! from one [`MemoryStore::new`] (clones, and the handles of other
//! namespaces from [`MemoryStore::with_namespace`]) shares that map and an
//! in-process broadcast of invalidations, so two [`TieredCache`]s over
//! handles of one backing behave like two processes over one Redis server:
//! each has its own local tier, and a write or invalidation made through
//! one reaches the other's. Nothing is shared with other processes and
//! nothing outlives the process.
//!
//! [`MemoryStore::disconnect_feeds`] and [`MemoryStore::reconnect_feeds`]
//! simulate the loss and return of the invalidation feed, so the rule "no
//! live feed, no local tier" can be tested without a server.
//!
//! [`TieredCache`]: crate::TieredCache

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cachelite_runtime::Glob;
use parking_lot::Mutex;
use tokio::sync::{broadcast, watch};

use crate::channel::{Message, Op};
use crate::remote::{Event, Feed, Outcome, Put, Store, px};
use crate::{Codec, Error, StoreStats};

/// How many announcements a feed may fall behind before it counts as
/// disconnected (and its cache drops its local tier).
const FEED_BACKLOG: usize = 4096;

/// Expired records are swept from a namespace once per this many writes;
/// reads never return one before that.
const SWEEP_EVERY: u64 = 1024;

/// An in-process store: rendered keys to encoded entries, with TTLs on the
/// store's clock, tags, counters and leases, per namespace and version.
///
/// Handles made from one [`MemoryStore::new`] share everything: clones
/// share the namespace too, [`MemoryStore::with_namespace`] gives a handle
/// of another namespace of the same backing. Two [`TieredCache`]s over
/// handles of one backing are coherent like two processes over one Redis
/// server. It is meant for tests and for single-process use of the
/// two-tier API; it shares nothing across processes and keeps nothing
/// after the process ends.
///
/// Tag and glob invalidations scan the namespace's entries; expired
/// entries are dropped when read and swept every few thousand writes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cachelite_redis::Error> {
/// use cachelite_redis::{MemoryStore, TieredCache};
///
/// let backing = MemoryStore::new().with_namespace("users");
/// // Two caches over one backing: think of two processes.
/// let here: TieredCache<u64, String, MemoryStore> =
///     TieredCache::builder(backing.clone()).build()?;
/// let there: TieredCache<u64, String, MemoryStore> =
///     TieredCache::builder(backing.clone()).build()?;
///
/// here.insert(&7, "Ada".to_string()).await?;
/// assert_eq!(there.get(&7).await.as_deref(), Some("Ada"));
/// there.remove(&7).await?;
/// assert_eq!(here.get(&7).await, None);
/// # Ok(()) }
/// ```
///
/// [`TieredCache`]: crate::TieredCache
#[derive(Clone)]
pub struct MemoryStore {
    backing: Arc<Backing>,
    space: Arc<SpaceId>,
    codec: Codec,
    counters: Arc<Counters>,
}

/// A namespace and version.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SpaceId {
    namespace: String,
    version: u32,
}

/// What every handle of one [`MemoryStore::new`] shares.
struct Backing {
    spaces: Mutex<HashMap<SpaceId, Space>>,
    announcements: broadcast::Sender<Arc<Announcement>>,
    link: watch::Sender<Link>,
    /// Added to the system clock: [`MemoryStore::advance`].
    offset_ms: AtomicU64,
}

/// Whether feeds are connected; `epoch` counts disconnections, so a feed
/// that missed an off-and-on notices it.
#[derive(Debug, Clone, Copy)]
struct Link {
    online: bool,
    epoch: u64,
}

/// One announcement, for the feeds of its namespace.
#[derive(Debug)]
struct Announcement {
    space: SpaceId,
    message: Message,
}

/// One namespace's records.
#[derive(Default)]
struct Space {
    entries: HashMap<String, Entry>,
    counters: HashMap<String, Counter>,
    leases: HashMap<String, Lease>,
    writes: u64,
}

struct Entry {
    bytes: Vec<u8>,
    tags: Vec<String>,
    end_ms: Option<u64>,
}

struct Counter {
    value: i64,
    end_ms: Option<u64>,
}

struct Lease {
    token: String,
    end_ms: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
}

fn live(end_ms: Option<u64>, now: u64) -> bool {
    end_ms.is_none_or(|end| end > now)
}

fn end_after(now: u64, ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|t| now.saturating_add(px(t)))
}

impl Space {
    fn sweep(&mut self, now: u64) {
        self.entries.retain(|_, e| live(e.end_ms, now));
        self.counters.retain(|_, c| live(c.end_ms, now));
        self.leases.retain(|_, l| l.end_ms > now);
    }

    fn wrote(&mut self, now: u64) {
        self.writes = self.writes.wrapping_add(1);
        if self.writes.is_multiple_of(SWEEP_EVERY) {
            self.sweep(now);
        }
    }

    fn entry(&self, key: &str, now: u64) -> Option<&Entry> {
        self.entries.get(key).filter(|e| live(e.end_ms, now))
    }

    fn lease_held(&self, key: &str, now: u64) -> bool {
        self.leases.get(key).is_some_and(|l| l.end_ms > now)
    }

    /// Removes the entries `doomed` picks; returns how many live ones went.
    fn remove_where(&mut self, now: u64, mut doomed: impl FnMut(&str, &Entry) -> bool) -> usize {
        let mut n = 0;
        self.entries.retain(|k, e| {
            if doomed(k, e) {
                n += usize::from(live(e.end_ms, now));
                false
            } else {
                true
            }
        });
        n
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("namespace", &self.space.namespace)
            .field("version", &self.space.version)
            .field("codec", &self.codec)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// A new, empty backing, and a handle of its namespace `default`,
    /// version 1. Clones of the handle share the backing.
    ///
    /// ```
    /// use cachelite_redis::{MemoryStore, Store};
    /// let store = MemoryStore::new();
    /// assert_eq!((store.namespace(), store.version()), ("default", 1));
    /// ```
    #[must_use]
    pub fn new() -> MemoryStore {
        let (announcements, _) = broadcast::channel(FEED_BACKLOG);
        let (link, _) = watch::channel(Link {
            online: true,
            epoch: 0,
        });
        MemoryStore {
            backing: Arc::new(Backing {
                spaces: Mutex::new(HashMap::new()),
                announcements,
                link,
                offset_ms: AtomicU64::new(0),
            }),
            space: Arc::new(SpaceId {
                namespace: "default".into(),
                version: 1,
            }),
            codec: Codec::default(),
            counters: Arc::default(),
        }
    }

    /// A handle of `namespace` on the same backing (same version and
    /// codec), with counters of its own. Namespaces see nothing of each
    /// other.
    ///
    /// ```
    /// use cachelite_redis::{MemoryStore, Store};
    /// let users = MemoryStore::new().with_namespace("users");
    /// let posts = users.with_namespace("posts");
    /// assert_eq!((users.namespace(), posts.namespace()), ("users", "posts"));
    /// ```
    #[must_use]
    pub fn with_namespace(&self, namespace: impl Into<String>) -> MemoryStore {
        self.with_space(SpaceId {
            namespace: namespace.into(),
            version: self.space.version,
        })
    }

    /// A handle of this namespace at schema `version` on the same backing:
    /// entries of other versions are not seen, as after a change of the
    /// value type.
    ///
    /// ```
    /// use cachelite_redis::{MemoryStore, Store};
    /// assert_eq!(MemoryStore::new().with_version(2).version(), 2);
    /// ```
    #[must_use]
    pub fn with_version(&self, version: u32) -> MemoryStore {
        self.with_space(SpaceId {
            namespace: self.space.namespace.clone(),
            version,
        })
    }

    /// This handle, writing values with `codec`.
    ///
    /// ```
    /// use cachelite_redis::{Codec, MemoryStore, Store};
    /// assert_eq!(MemoryStore::new().with_codec(Codec::Json).codec(), Codec::Json);
    /// ```
    #[must_use]
    pub fn with_codec(&self, codec: Codec) -> MemoryStore {
        MemoryStore {
            codec,
            ..self.clone()
        }
    }

    fn with_space(&self, space: SpaceId) -> MemoryStore {
        MemoryStore {
            backing: self.backing.clone(),
            space: Arc::new(space),
            codec: self.codec,
            counters: Arc::default(),
        }
    }

    /// Whether `other` shares this handle's backing.
    ///
    /// ```
    /// use cachelite_redis::MemoryStore;
    /// let a = MemoryStore::new();
    /// assert!(a.shares_backing(&a.with_namespace("other")));
    /// assert!(!a.shares_backing(&MemoryStore::new()));
    /// ```
    #[must_use]
    pub fn shares_backing(&self, other: &MemoryStore) -> bool {
        Arc::ptr_eq(&self.backing, &other.backing)
    }

    /// Drops the invalidation feed of every handle of this backing, as a
    /// lost connection would: every feed reports [`Event::Disconnected`],
    /// caches over the backing turn their local tiers off, and
    /// announcements made until [`MemoryStore::reconnect_feeds`] reach no
    /// one. Reads and writes keep working.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use cachelite_redis::{Event, Feed, MemoryStore, Store};
    /// let store = MemoryStore::new();
    /// let mut feed = store.subscribe(std::time::Duration::from_secs(1));
    /// assert_eq!(feed.next().await, Event::Connected);
    /// store.disconnect_feeds();
    /// assert_eq!(feed.next().await, Event::Disconnected);
    /// store.reconnect_feeds();
    /// assert_eq!(feed.next().await, Event::Connected);
    /// # }
    /// ```
    pub fn disconnect_feeds(&self) {
        self.backing.link.send_modify(|l| {
            if l.online {
                l.online = false;
                l.epoch += 1;
            }
        });
    }

    /// Lets the feeds of this backing connect again (see
    /// [`MemoryStore::disconnect_feeds`]).
    ///
    /// ```
    /// let store = cachelite_redis::MemoryStore::new();
    /// store.disconnect_feeds();
    /// assert!(!store.feeds_connected());
    /// store.reconnect_feeds();
    /// assert!(store.feeds_connected());
    /// ```
    pub fn reconnect_feeds(&self) {
        self.backing.link.send_modify(|l| l.online = true);
    }

    /// Whether feeds of this backing may connect: false between
    /// [`MemoryStore::disconnect_feeds`] and
    /// [`MemoryStore::reconnect_feeds`].
    ///
    /// ```
    /// assert!(cachelite_redis::MemoryStore::new().feeds_connected());
    /// ```
    #[must_use]
    pub fn feeds_connected(&self) -> bool {
        self.backing.link.borrow().online
    }

    /// Moves the store's clock forward by `by` for every handle of this
    /// backing, so entries and counters end without waiting. (Copies held
    /// by local tiers follow their own clock.)
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), cachelite_redis::Error> {
    /// use std::time::Duration;
    /// use cachelite_redis::{MemoryStore, Put, Store};
    /// let store = MemoryStore::new();
    /// let ttl = Some(Duration::from_secs(60));
    /// store.put("k", b"v".to_vec(), ttl, &[], Put::IfAbsent).await?;
    /// store.advance(Duration::from_secs(61));
    /// assert_eq!(store.get("k").await?, None);
    /// # Ok(()) }
    /// ```
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.backing.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }

    fn clock_ms(&self) -> u64 {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        system.saturating_add(self.backing.offset_ms.load(Ordering::Relaxed))
    }

    /// Runs `f` on this namespace's records, with the clock's time.
    fn with<T>(&self, f: impl FnOnce(&mut Space, u64) -> T) -> T {
        let now = self.clock_ms();
        let mut spaces = self.backing.spaces.lock();
        let space = spaces.entry((*self.space).clone()).or_default();
        f(space, now)
    }

    fn announce(&self, origin: u64, op: Op) {
        // No subscriber is no error: nobody holds a copy.
        let _ = self.backing.announcements.send(Arc::new(Announcement {
            space: (*self.space).clone(),
            message: Message { origin, op },
        }));
    }

    fn bump(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl Store for MemoryStore {
    type Feed = MemoryFeed;

    fn namespace(&self) -> &str {
        &self.space.namespace
    }

    fn version(&self) -> u32 {
        self.space.version
    }

    fn codec(&self) -> Codec {
        self.codec
    }

    fn now_ms(&self) -> impl Future<Output = Result<u64, Error>> + Send {
        std::future::ready(Ok(self.clock_ms()))
    }

    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send {
        let found = self.with(|s, now| s.entry(key, now).map(|e| e.bytes.clone()));
        std::future::ready(Ok(found))
    }

    fn get_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, Error>> + Send {
        let found = self.with(|s, now| {
            keys.iter()
                .map(|k| s.entry(k, now).map(|e| e.bytes.clone()))
                .collect()
        });
        std::future::ready(Ok(found))
    }

    fn put(
        &self,
        key: &str,
        entry: Vec<u8>,
        ttl: Option<Duration>,
        tags: &[String],
        mode: Put,
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let stored = self.with(|s, now| {
            if mode == Put::IfAbsent && s.entry(key, now).is_some() {
                return false;
            }
            s.entries.insert(
                key.to_owned(),
                Entry {
                    bytes: entry,
                    tags: tags.to_vec(),
                    end_ms: end_after(now, ttl),
                },
            );
            s.wrote(now);
            true
        });
        if let Put::Announce { origin } = mode {
            self.announce(origin, Op::Keys(vec![key.to_owned()]));
        }
        std::future::ready(Ok(stored))
    }

    fn delete_if_equal(
        &self,
        key: &str,
        entry: &[u8],
    ) -> impl Future<Output = Result<bool, Error>> + Send {
        let deleted = self.with(|s, _| {
            let equal = s.entries.get(key).is_some_and(|e| e.bytes == entry);
            if equal {
                s.entries.remove(key);
            }
            equal
        });
        std::future::ready(Ok(deleted))
    }

    fn remove(&self, key: &str, origin: u64) -> impl Future<Output = Result<bool, Error>> + Send {
        let removed = self.with(|s, now| {
            let entry = s.entries.remove(key).is_some_and(|e| live(e.end_ms, now));
            let counter = s.counters.remove(key).is_some_and(|c| live(c.end_ms, now));
            entry || counter
        });
        self.announce(origin, Op::Keys(vec![key.to_owned()]));
        std::future::ready(Ok(removed))
    }

    fn invalidate_tags(
        &self,
        tags: &[String],
        origin: u64,
    ) -> impl Future<Output = Result<usize, Error>> + Send {
        let n =
            self.with(|s, now| s.remove_where(now, |_, e| e.tags.iter().any(|t| tags.contains(t))));
        self.announce(origin, Op::Tags(tags.to_vec()));
        std::future::ready(Ok(n))
    }

    fn invalidate_glob(
        &self,
        pattern: &str,
        origin: u64,
    ) -> impl Future<Output = Result<usize, Error>> + Send {
        let out = match Glob::new(pattern) {
            Ok(glob) => {
                let n = self.with(|s, now| s.remove_where(now, |k, _| glob.is_match(k)));
                self.announce(origin, Op::Glob(pattern.to_owned()));
                Ok(n)
            }
            Err(e) => Err(Error::Glob(e.to_string())),
        };
        std::future::ready(out)
    }

    fn clear(&self, origin: u64) -> impl Future<Output = Result<usize, Error>> + Send {
        let n = {
            let now = self.clock_ms();
            let mut spaces = self.backing.spaces.lock();
            spaces.remove(&*self.space).map_or(0, |mut s| {
                s.sweep(now);
                s.entries.len() + s.counters.len() + s.leases.len()
            })
        };
        self.announce(origin, Op::Clear);
        std::future::ready(Ok(n))
    }

    fn supports_leases(&self) -> bool {
        true
    }

    fn try_lease(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send {
        let token = self.with(|s, now| {
            if s.lease_held(key, now) {
                return None;
            }
            let token = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
            s.leases.insert(
                key.to_owned(),
                Lease {
                    token: token.clone(),
                    end_ms: now.saturating_add(px(ttl)),
                },
            );
            s.wrote(now);
            Some(token)
        });
        std::future::ready(Ok(token))
    }

    fn release_lease(
        &self,
        key: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        self.with(|s, _| {
            if s.leases.get(key).is_some_and(|l| l.token == token) {
                s.leases.remove(key);
            }
        });
        std::future::ready(Ok(()))
    }

    fn poll_lease(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(Option<Vec<u8>>, bool), Error>> + Send {
        let found = self.with(|s, now| {
            (
                s.entry(key, now).map(|e| e.bytes.clone()),
                s.lease_held(key, now),
            )
        });
        std::future::ready(Ok(found))
    }

    fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> impl Future<Output = Result<i64, Error>> + Send {
        let out = self.with(|s, now| {
            let current = s.counters.get(key).filter(|c| live(c.end_ms, now));
            let (value, end_ms) = match current {
                Some(c) => (c.value, c.end_ms),
                None => (0, end_after(now, ttl_on_create)),
            };
            let Some(value) = value.checked_add(delta) else {
                return Err(Error::Store(
                    format!("the counter `{key}` would overflow adding {delta}").into(),
                ));
            };
            s.counters.insert(key.to_owned(), Counter { value, end_ms });
            s.wrote(now);
            Ok(value)
        });
        if out.is_err() {
            self.bump(&self.counters.errors);
        }
        std::future::ready(out)
    }

    fn ping(&self) -> impl Future<Output = Result<Duration, Error>> + Send {
        let start = Instant::now();
        drop(self.backing.spaces.lock());
        std::future::ready(Ok(start.elapsed()))
    }

    fn stats(&self) -> StoreStats {
        let c = &self.counters;
        StoreStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            skipped: 0,
        }
    }

    fn count(&self, outcome: Outcome) {
        let c = &self.counters;
        self.bump(match outcome {
            Outcome::Hit => &c.hits,
            Outcome::Miss => &c.misses,
            Outcome::Error => &c.errors,
        });
    }

    fn subscribe(&self, _heartbeat: Duration) -> MemoryFeed {
        MemoryFeed {
            store: self.clone(),
            link: self.backing.link.subscribe(),
            connected: None,
        }
    }
}

/// The invalidation feed of a [`MemoryStore`]: the announcements of its
/// namespace made through any handle of its backing. It reports
/// [`Event::Disconnected`] when [`MemoryStore::disconnect_feeds`] is
/// called, or when it falls a few thousand announcements behind.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cachelite_redis::Error> {
/// use std::time::Duration;
/// use cachelite_redis::{Event, Feed, MemoryStore, Op, Store};
/// let store = MemoryStore::new();
/// let mut feed = store.subscribe(Duration::from_secs(1));
/// assert_eq!(feed.next().await, Event::Connected);
/// store.remove("k", 7).await?;
/// let Event::Message(m) = feed.next().await else { panic!("a message") };
/// assert_eq!((m.origin, m.op), (7, Op::Keys(vec!["k".into()])));
/// # Ok(()) }
/// ```
pub struct MemoryFeed {
    store: MemoryStore,
    link: watch::Receiver<Link>,
    /// While connected: the receiver, and the epoch it connected in.
    connected: Option<(broadcast::Receiver<Arc<Announcement>>, u64)>,
}

impl fmt::Debug for MemoryFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryFeed")
            .field("store", &self.store)
            .field("connected", &self.connected.is_some())
            .finish()
    }
}

impl Feed for MemoryFeed {
    async fn next(&mut self) -> Event {
        loop {
            let Some((rx, epoch)) = &mut self.connected else {
                // The backing holds the sender, and the feed the backing:
                // the wait ends only when the feeds are reconnected.
                let link = self.link.wait_for(|l| l.online).await.map(|l| *l);
                let Ok(link) = link else {
                    return std::future::pending().await;
                };
                let rx = self.store.backing.announcements.subscribe();
                self.connected = Some((rx, link.epoch));
                return Event::Connected;
            };
            tokio::select! {
                biased;
                changed = self.link.changed() => {
                    let link = *self.link.borrow_and_update();
                    if changed.is_err() || !link.online || link.epoch != *epoch {
                        self.connected = None;
                        return Event::Disconnected;
                    }
                }
                got = rx.recv() => match got {
                    Ok(a) if a.space == *self.store.space => return Event::Message(a.message.clone()),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        self.connected = None;
                        return Event::Disconnected;
                    }
                    Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    const ANNOUNCE: Put = Put::Announce { origin: 1 };

    #[test]
    fn entries_end_on_the_store_clock() {
        run(async {
            let s = MemoryStore::new();
            let ttl = Some(Duration::from_secs(10));
            s.put("short", b"s".to_vec(), ttl, &[], ANNOUNCE)
                .await
                .unwrap();
            s.put("long", b"l".to_vec(), None, &[], ANNOUNCE)
                .await
                .unwrap();
            let before = s.now_ms().await.unwrap();
            s.advance(Duration::from_secs(9));
            assert!(s.now_ms().await.unwrap() >= before + 9_000);
            assert_eq!(s.get("short").await.unwrap().as_deref(), Some(&b"s"[..]));
            s.advance(Duration::from_secs(2));
            assert_eq!(s.get("short").await.unwrap(), None);
            assert_eq!(s.get("long").await.unwrap().as_deref(), Some(&b"l"[..]));
            // An ended entry is absent for `IfAbsent` too.
            let again = s.put("short", b"2".to_vec(), None, &[], Put::IfAbsent);
            assert!(again.await.unwrap());
        });
    }

    #[test]
    fn if_absent_keeps_what_is_there() {
        run(async {
            let s = MemoryStore::new();
            assert!(
                s.put("k", b"a".to_vec(), None, &[], Put::IfAbsent)
                    .await
                    .unwrap()
            );
            assert!(
                !s.put("k", b"b".to_vec(), None, &[], Put::IfAbsent)
                    .await
                    .unwrap()
            );
            assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"a"[..]));
            assert!(
                s.put("k", b"c".to_vec(), None, &[], ANNOUNCE)
                    .await
                    .unwrap()
            );
            assert_eq!(s.get("k").await.unwrap().as_deref(), Some(&b"c"[..]));
        });
    }

    #[test]
    fn delete_if_equal_spares_a_replaced_entry() {
        run(async {
            let s = MemoryStore::new();
            s.put("k", b"old".to_vec(), None, &[], ANNOUNCE)
                .await
                .unwrap();
            assert!(!s.delete_if_equal("k", b"other").await.unwrap());
            assert!(s.delete_if_equal("k", b"old").await.unwrap());
            assert_eq!(s.get("k").await.unwrap(), None);
        });
    }

    #[test]
    fn namespaces_and_versions_are_separate_and_clones_share() {
        run(async {
            let a = MemoryStore::new().with_namespace("a");
            let b = a.with_namespace("b");
            let a2 = a.with_version(2);
            let other = MemoryStore::new().with_namespace("a");
            a.put("k", b"a".to_vec(), None, &[], ANNOUNCE)
                .await
                .unwrap();
            assert_eq!(b.get("k").await.unwrap(), None);
            assert_eq!(a2.get("k").await.unwrap(), None);
            assert_eq!(other.get("k").await.unwrap(), None, "another backing");
            assert!(a.clone().get("k").await.unwrap().is_some());
            b.put("k", b"b".to_vec(), None, &[], ANNOUNCE)
                .await
                .unwrap();
            assert_eq!(b.clear(0).await.unwrap(), 1);
            assert!(
                a.get("k").await.unwrap().is_some(),
                "clear stays in its namespace"
            );
        });
    }

    #[test]
    fn tags_and_globs_remove_what_they_match() {
        run(async {
            let s = MemoryStore::new();
            let tags = |t: &[&str]| t.iter().map(|t| (*t).to_string()).collect::<Vec<_>>();
            s.put("post:1", vec![1], None, &tags(&["u:7"]), ANNOUNCE)
                .await
                .unwrap();
            s.put("post:2", vec![2], None, &tags(&["u:8", "x"]), ANNOUNCE)
                .await
                .unwrap();
            s.put("user:1", vec![3], None, &[], ANNOUNCE).await.unwrap();
            assert_eq!(
                s.invalidate_tags(&tags(&["x", "none"]), 0).await.unwrap(),
                1
            );
            assert!(s.get("post:2").await.unwrap().is_none());
            assert_eq!(s.invalidate_glob("post:?", 0).await.unwrap(), 1);
            assert!(s.get("post:1").await.unwrap().is_none());
            assert!(s.get("user:1").await.unwrap().is_some());
            let huge = "a".repeat(100_000);
            assert!(matches!(
                s.invalidate_glob(&huge, 0).await,
                Err(Error::Glob(_))
            ));
        });
    }

    #[test]
    fn counters_are_apart_from_entries_and_refuse_to_overflow() {
        run(async {
            let s = MemoryStore::new();
            let ttl = Some(Duration::from_secs(5));
            assert_eq!(s.incr("n", 2, ttl).await.unwrap(), 2);
            assert_eq!(s.incr("n", 3, None).await.unwrap(), 5);
            assert_eq!(s.get("n").await.unwrap(), None);
            assert!(s.incr("n", i64::MAX, None).await.is_err());
            assert_eq!(s.stats().errors, 1);
            assert_eq!(s.incr("n", 0, None).await.unwrap(), 5, "unchanged");
            s.advance(Duration::from_secs(6));
            assert_eq!(s.incr("n", 0, None).await.unwrap(), 0, "ended with its TTL");
            assert_eq!(s.incr("m", 1, None).await.unwrap(), 1);
            assert!(s.remove("m", 0).await.unwrap());
            assert!(!s.remove("m", 0).await.unwrap());
        });
    }

    #[test]
    fn leases_are_exclusive_until_released_or_ended() {
        run(async {
            let s = MemoryStore::new();
            assert!(s.supports_leases());
            let ttl = Duration::from_secs(5);
            let token = s.try_lease("k", ttl).await.unwrap().expect("free");
            assert_eq!(s.clone().try_lease("k", ttl).await.unwrap(), None);
            assert_eq!(s.poll_lease("k").await.unwrap(), (None, true));
            s.release_lease("k", "not the token").await.unwrap();
            assert_eq!(s.poll_lease("k").await.unwrap(), (None, true));
            s.put("k", b"v".to_vec(), None, &[], Put::IfAbsent)
                .await
                .unwrap();
            s.release_lease("k", &token).await.unwrap();
            assert_eq!(
                s.poll_lease("k").await.unwrap(),
                (Some(b"v".to_vec()), false)
            );
            let again = s.try_lease("k", ttl).await.unwrap();
            assert!(again.is_some_and(|t| t != token));
            s.advance(Duration::from_secs(6));
            assert!(s.try_lease("k", ttl).await.unwrap().is_some(), "ended");
        });
    }

    #[test]
    fn feeds_hear_their_namespace_and_lose_what_is_said_while_disconnected() {
        run(async {
            let s = MemoryStore::new();
            let other = s.with_namespace("other");
            let mut feed = s.clone().subscribe(Duration::from_secs(1));
            assert_eq!(feed.next().await, Event::Connected);
            other.remove("x", 1).await.unwrap();
            s.invalidate_tags(&["t".into()], 2).await.unwrap();
            let want = |origin, op| Event::Message(Message { origin, op });
            assert_eq!(feed.next().await, want(2, Op::Tags(vec!["t".into()])));

            s.disconnect_feeds();
            assert_eq!(feed.next().await, Event::Disconnected);
            s.clear(3).await.unwrap();
            s.reconnect_feeds();
            assert_eq!(feed.next().await, Event::Connected);
            s.invalidate_glob("a*", 4).await.unwrap();
            assert_eq!(
                feed.next().await,
                want(4, Op::Glob("a*".into())),
                "the clear was missed"
            );

            // An off-and-on the feed did not see still counts.
            s.disconnect_feeds();
            s.reconnect_feeds();
            assert_eq!(feed.next().await, Event::Disconnected);
            assert_eq!(feed.next().await, Event::Connected);
        });
    }

    #[test]
    fn a_feed_that_falls_behind_reports_a_disconnection() {
        run(async {
            let s = MemoryStore::new();
            let mut feed = s.subscribe(Duration::from_secs(1));
            assert_eq!(feed.next().await, Event::Connected);
            for i in 0..=FEED_BACKLOG {
                s.remove(&i.to_string(), 0).await.unwrap();
            }
            assert_eq!(feed.next().await, Event::Disconnected);
            assert_eq!(feed.next().await, Event::Connected);
        });
    }

    #[test]
    fn expired_records_are_swept() {
        run(async {
            let s = MemoryStore::new();
            let ttl = Some(Duration::from_secs(1));
            for i in 0..SWEEP_EVERY - 1 {
                s.put(&i.to_string(), vec![], ttl, &[], Put::IfAbsent)
                    .await
                    .unwrap();
            }
            s.advance(Duration::from_secs(2));
            s.put("last", vec![], None, &[], Put::IfAbsent)
                .await
                .unwrap();
            let left = s.with(|sp, _| sp.entries.len());
            assert_eq!(left, 1);
        });
    }
}
