//! The remote tier as a trait: what a [`TieredCache`](crate::TieredCache)
//! needs from the store behind its local tier.
//!
//! [`RedisStore`](crate::RedisStore), the PostgreSQL and MySQL stores and
//! [`MemoryStore`](crate::MemoryStore) implement [`Store`]; any other
//! shared store (another key-value server) can, and then the two-tier
//! cache works over it unchanged, and `#[memoize(store = ..)]` too once
//! the store implements [`StoreSource`](crate::StoreSource) (a few lines).
//! The macro reads the store type from the expression through that trait.
//!
//! A store works on *rendered keys* (the `{key}` part the cache renders
//! from the key's serde form) and on *encoded entries* (bytes the cache
//! encodes: the value, its tags and its end on the store's clock). The
//! envelope stays above the store, so every store reads every other's
//! entries the same way. What a store must guarantee:
//!
//! - **Namespacing.** Everything a store writes lives under its namespace
//!   and version; no rendered key, tag or glob of one namespace reaches
//!   another's, and [`Store::clear`] removes this namespace's entries,
//!   tags, leases and counters and nothing else.
//! - **Announcing.** Every write with [`Put::Announce`], and every
//!   removal, tag or glob invalidation and clear, is announced to every
//!   subscriber of the namespace as a [`Message`] carrying the caller's
//!   `origin` (announced even after a partial failure: what was deleted
//!   must leave the local tiers too). [`Put::IfAbsent`] writes are stored
//!   only if the key is absent and are not announced.
//! - **The clock.** [`Store::now_ms`] is the store's clock (milliseconds
//!   since the Unix epoch) as this process estimates it: entries carry
//!   their end on it, so processes whose clocks disagree still agree on
//!   when an entry ends. The store also expires entries itself after the
//!   TTL given to [`Store::put`].
//! - **The feed.** [`Store::subscribe`] gives a [`Feed`] that reports
//!   [`Event::Connected`] once it receives every later announcement,
//!   [`Event::Disconnected`] as soon as it may have missed one, and the
//!   messages in between. The cache holds nothing locally while the feed
//!   is not connected: no live feed, no local tier.
//!
//! # Example
//!
//! A generic helper over any store:
//!
//! ```no_run
//! use cachelite_redis::{Error, RedisStore, Store, TieredCache};
//!
//! async fn warm<S: Store>(store: S) -> Result<(), Error> {
//!     println!("namespace {} v{}", store.namespace(), store.version());
//!     let cache: TieredCache<str, String, S> = TieredCache::builder(store).build()?;
//!     cache.insert("greeting", "hello".to_string()).await?;
//!     assert_eq!(cache.get("greeting").await.as_deref(), Some("hello"));
//!     Ok(())
//! }
//! # async fn demo() -> Result<(), Error> {
//! warm(RedisStore::open("redis://127.0.0.1/", "demo")?).await
//! # }
//! ```

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::channel::Message;
use crate::codec::{self, Codec, Decoded, Expiry};
use crate::{Error, StoreStats};

/// How [`Store::put`] writes.
///
/// ```
/// use cachelite_redis::Put;
/// assert_ne!(Put::Announce { origin: 1 }, Put::IfAbsent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Overwrite whatever is there, and announce the write (a
    /// [`Op::Keys`](crate::Op::Keys) message) from `origin`.
    Announce {
        /// The writer's id, carried by the announcement.
        origin: u64,
    },
    /// Store only if the key is absent; announce nothing.
    IfAbsent,
}

/// What a read found, for the store's counters ([`Store::count`]).
///
/// ```
/// assert_ne!(cachelite_redis::Outcome::Hit, cachelite_redis::Outcome::Miss);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An entry that decoded.
    Hit,
    /// Nothing usable.
    Miss,
    /// A failure the store did not see itself (a value or message that did
    /// not decode, a key that did not render).
    Error,
}

/// One thing a [`Feed`] reports.
///
/// ```
/// let e = cachelite_redis::Event::Connected;
/// assert!(matches!(e, cachelite_redis::Event::Connected));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The feed now receives every announcement made from here on.
    Connected,
    /// The feed may have missed announcements; it reconnects by itself on
    /// the next calls to [`Feed::next`].
    Disconnected,
    /// An announcement.
    Message(Message),
    /// A payload that did not decode: the receiver assumes the worst.
    Unreadable,
}

/// A store's invalidation feed, as [`Store::subscribe`] gives it.
///
/// `next` is called in a loop by one task; it connects (and reconnects,
/// with a backoff of its own) as needed. Dropping the feed ends its
/// connection.
///
/// ```
/// use cachelite_redis::{Event, Feed};
/// /// A feed that never connects: a cache over it has no local tier.
/// struct Never;
/// impl Feed for Never {
///     async fn next(&mut self) -> Event {
///         std::future::pending().await
///     }
/// }
/// ```
pub trait Feed: Send + 'static {
    /// The next event.
    fn next(&mut self) -> impl Future<Output = Event> + Send;
}

/// A shared store: the remote tier of a [`TieredCache`](crate::TieredCache).
/// See [the module documentation](crate::remote) for what it guarantees.
///
/// Every key is a rendered key; every entry is bytes the cache encoded.
/// Calls must fail fast (a cache must fail faster than the work it saves)
/// and count their own failures in [`Store::stats`].
///
/// ```no_run
/// # async fn demo() -> Result<(), cachelite_redis::Error> {
/// use cachelite_redis::{Put, RedisStore, Store};
/// let store = RedisStore::open("redis://127.0.0.1/", "demo")?;
/// Store::put(&store, "k", b"raw".to_vec(), None, &[], Put::IfAbsent).await?;
/// assert_eq!(Store::get(&store, "k").await?.as_deref(), Some(&b"raw"[..]));
/// # Ok(()) }
/// ```
pub trait Store: Clone + Send + Sync + fmt::Debug + 'static {
    /// The invalidation feed.
    type Feed: Feed;

    /// The namespace.
    fn namespace(&self) -> &str;

    /// The schema version.
    fn version(&self) -> u32;

    /// The codec values are written with.
    fn codec(&self) -> Codec;

    /// The store's clock: milliseconds since the Unix epoch. May measure
    /// it (one round trip) on first use; afterwards it should cost none.
    fn now_ms(&self) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Seals an encoded entry before it is stored at `key`: the value
    /// layers (compression, then encryption with the store's full key for
    /// `key` as associated data). The default stores the entry as it is.
    fn seal(&self, key: &str, entry: Vec<u8>) -> Result<Vec<u8>, Error> {
        let _ = key;
        Ok(entry)
    }

    /// Opens what was stored at `key` back into an encoded entry; `None`
    /// for bytes that do not open (another key's value, a key id not
    /// held, altered bytes). The default reads the bytes as they are.
    fn open<'a>(&self, key: &str, stored: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        let _ = key;
        Some(Cow::Borrowed(stored))
    }

    /// The entry at `key`, if any.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Vec<u8>>, Error>> + Send;

    /// The entries at `keys`, in order. By default one [`Store::get`] per
    /// key; stores that can batch should.
    fn get_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<Vec<Option<Vec<u8>>>, Error>> + Send {
        async move {
            let mut out = Vec::with_capacity(keys.len());
            for k in keys {
                out.push(self.get(k).await?);
            }
            Ok(out)
        }
    }

    /// Writes `entry` at `key`, expiring after `ttl` (`None`: never) and
    /// tagged with `tags`; returns whether it was stored (always, for
    /// [`Put::Announce`]).
    fn put(
        &self,
        key: &str,
        entry: Vec<u8>,
        ttl: Option<Duration>,
        tags: &[String],
        mode: Put,
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Deletes `key` only if it still holds `entry` (an entry that did not
    /// decode, unless somebody replaced it meanwhile). Not announced.
    fn delete_if_equal(
        &self,
        key: &str,
        entry: &[u8],
    ) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Deletes `key` (and its counter); returns whether anything was there.
    /// Announced from `origin`.
    fn remove(&self, key: &str, origin: u64) -> impl Future<Output = Result<bool, Error>> + Send;

    /// Deletes every entry carrying any of `tags`; returns how many went.
    /// Announced from `origin`.
    fn invalidate_tags(
        &self,
        tags: &[String],
        origin: u64,
    ) -> impl Future<Output = Result<usize, Error>> + Send;

    /// Deletes every entry whose rendered key matches the glob `pattern`
    /// (`*`, `?`, `[...]`, `\` escapes); returns how many went. Announced
    /// from `origin`.
    ///
    /// Errors: [`Error::Glob`] for an invalid pattern (nothing announced).
    fn invalidate_glob(
        &self,
        pattern: &str,
        origin: u64,
    ) -> impl Future<Output = Result<usize, Error>> + Send;

    /// Deletes everything of this namespace and version; returns how many
    /// records went. Announced from `origin`.
    fn clear(&self, origin: u64) -> impl Future<Output = Result<usize, Error>> + Send;

    /// Whether [`Store::try_lease`] can succeed; without leases the cache
    /// skips cross-process singleflight. Default: no.
    fn supports_leases(&self) -> bool {
        false
    }

    /// Takes the lease on `key` for `ttl` if nobody holds it: `Some(token)`.
    fn try_lease(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<String>, Error>> + Send {
        let _ = (key, ttl);
        std::future::ready(Ok(None))
    }

    /// Releases the lease on `key` if `token` still holds it.
    fn release_lease(
        &self,
        key: &str,
        token: &str,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let _ = (key, token);
        std::future::ready(Ok(()))
    }

    /// One poll of a process waiting on a lease: the entry at `key`, and
    /// whether the lease is still held.
    fn poll_lease(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(Option<Vec<u8>>, bool), Error>> + Send {
        async move { Ok((self.get(key).await?, false)) }
    }

    /// Adds `delta` to the counter at `key` (created at 0, expiring after
    /// `ttl_on_create` when it is created; later calls keep its expiry)
    /// and returns the new value, atomically. Counters are not entries:
    /// [`Store::get`] does not see them; [`Store::remove`] and
    /// [`Store::clear`] delete them.
    fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl_on_create: Option<Duration>,
    ) -> impl Future<Output = Result<i64, Error>> + Send;

    /// A round trip to the store.
    fn ping(&self) -> impl Future<Output = Result<Duration, Error>> + Send;

    /// The store's counters.
    fn stats(&self) -> StoreStats;

    /// Counts what a read found, or a failure seen above the store.
    fn count(&self, outcome: Outcome);

    /// Whether calls are being refused after repeated failures. Default:
    /// never.
    fn is_breaker_open(&self) -> bool {
        false
    }

    /// The invalidation feed of this namespace; `heartbeat` is how often
    /// it checks that its connection still answers.
    fn subscribe(&self, heartbeat: Duration) -> Self::Feed;
}

/// Milliseconds for a store TTL: rounded up, at least 1.
pub(crate) fn px(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// A value read from the store, with what the local tier needs to hold it.
#[derive(Debug)]
pub(crate) struct Fetched<V> {
    pub(crate) value: V,
    pub(crate) tags: Vec<String>,
    /// Time left, from the expiry in the entry's envelope (never more than
    /// the TTL it was written with); `None` when the entry does not expire.
    pub(crate) ttl: Option<Duration>,
}

/// One tick of the clocks an entry's life is counted on: stores keep
/// expiries in whole milliseconds and their clocks are read truncated to
/// the millisecond, so a time left measured on them may be up to one tick
/// more than what is really left.
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// How long a local copy of an entry with `left` of its life in the store
/// may be kept: one [`TICK`] less, so that it never outlives the entry.
pub(crate) fn local_ttl(left: Duration) -> Duration {
    left.saturating_sub(TICK)
}

/// How long a local copy of an entry read at `now_ms` may be kept: until
/// the entry's end on the store's clock less one [`TICK`] (`now_ms` is
/// truncated), never more than the TTL it was written with (which bounds
/// the harm of a wrong clock estimate, here or at the writer).
pub(crate) fn time_left(now_ms: u64, expiry: Expiry) -> Duration {
    let left = expiry.at_ms.saturating_sub(now_ms).min(expiry.ttl_ms);
    local_ttl(Duration::from_millis(left))
}

/// Reads and decodes the entry at `rendered`.
pub(crate) async fn fetch<S: Store, V: DeserializeOwned>(
    store: &S,
    rendered: &str,
) -> Result<Option<Fetched<V>>, Error> {
    let raw = store.get(rendered).await?;
    Ok(decode_fetched(store, rendered, raw).await)
}

/// Decodes what a read found: a value that does not decode is deleted
/// (unless replaced meanwhile) and read as a miss. The store's clock is
/// read once, after the reply: the time left is measured from then.
pub(crate) async fn decode_fetched<S: Store, V: DeserializeOwned>(
    store: &S,
    rendered: &str,
    raw: Option<Vec<u8>>,
) -> Option<Fetched<V>> {
    let Some(raw) = raw else {
        store.count(Outcome::Miss);
        return None;
    };
    let decoded = match store.open(rendered, &raw) {
        Some(entry) => codec::decode::<V>(&entry),
        None => Decoded::Corrupt,
    };
    match decoded {
        Decoded::Entry(e) => {
            store.count(Outcome::Hit);
            let ttl = match e.expiry {
                // A clock that cannot be read leaves no time: the entry is
                // served, not kept locally.
                Some(x) => Some(time_left(store.now_ms().await.unwrap_or(u64::MAX), x)),
                None => None,
            };
            Some(Fetched {
                value: e.value,
                tags: e.tags,
                ttl,
            })
        }
        outcome => {
            store.count(Outcome::Miss);
            // An outdated envelope is no error: the next write of the key
            // replaces it.
            if matches!(outcome, Decoded::Corrupt) {
                store.count(Outcome::Error);
            }
            // Failure to delete is already counted by the store.
            let _ = store.delete_if_equal(rendered, &raw).await;
            None
        }
    }
}

/// Encodes `value` with its end on the store's clock and writes it.
pub(crate) async fn put_value<S: Store, V: Serialize + ?Sized>(
    store: &S,
    rendered: &str,
    value: &V,
    ttl: Option<Duration>,
    tags: &[String],
    mode: Put,
) -> Result<bool, Error> {
    let expiry = match ttl {
        Some(t) => Some(Expiry {
            at_ms: store.now_ms().await?.saturating_add(px(t)),
            ttl_ms: px(t),
        }),
        None => None,
    };
    let bytes = store.seal(rendered, codec::encode(store.codec(), value, expiry, tags)?)?;
    store.put(rendered, bytes, ttl, tags, mode).await
}

/// One poll of a waiter: the value if it has landed, and whether the lease
/// is still held.
pub(crate) async fn poll_leased<S: Store, V: DeserializeOwned>(
    store: &S,
    rendered: &str,
) -> Result<(Option<Fetched<V>>, bool), Error> {
    let (raw, held) = store.poll_lease(rendered).await?;
    if raw.is_none() {
        // Not a miss of the cache: the leader is still computing.
        return Ok((None, held));
    }
    Ok((decode_fetched(store, rendered, raw).await, held))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_milliseconds() {
        assert_eq!(px(Duration::from_micros(1)), 1);
        assert_eq!(px(Duration::ZERO), 1);
        assert_eq!(px(Duration::from_micros(150_001)), 151);
        assert_eq!(px(Duration::from_millis(150)), 150);
    }

    #[test]
    fn time_left_comes_from_the_envelope_less_a_tick_and_never_exceeds_the_ttl() {
        let now = 1_000_000;
        let left = |at_ms, ttl_ms| time_left(now, Expiry { at_ms, ttl_ms });
        assert_eq!(left(now + 1_500, 1_500), Duration::from_millis(1_499));
        assert_eq!(left(now + 1, 1_500), Duration::ZERO, "within a tick");
        assert_eq!(left(now - 10, 1_500), Duration::ZERO, "ended");
        assert_eq!(
            left(u64::MAX, 1_500),
            Duration::from_millis(1_499),
            "capped"
        );
        assert_eq!(
            local_ttl(Duration::from_micros(2_500)),
            Duration::from_micros(1_500)
        );
        assert_eq!(local_ttl(Duration::from_micros(500)), Duration::ZERO);
    }
}
