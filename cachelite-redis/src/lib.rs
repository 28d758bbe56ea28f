//! A Redis tier for cachelite: memoized results shared by every process
//! of a service, with a coherent local cache in front.
//!
//! - [`RedisStore`]: one namespace of a Redis server as a cache (typed
//!   values, millisecond TTLs, tags, globs, small timeouts, a circuit
//!   breaker).
//! - [`TieredCache`]: a local `cachelite::Cache` (L1) in front of the store
//!   (L2). Writes and invalidations are published on the namespace's
//!   channel and every process drops its local copy; without a live
//!   subscription the local tier is off. Reads fail open.
//! - [`BlockingTieredCache`]: the same for sync code.
//! - [`Store`]: what the two-tier cache needs from its remote tier
//!   ([`remote`] says what a store must guarantee). [`RedisStore`]
//!   implements it; `TieredCache<K, V, S>` and `BlockingTieredCache<K, V, S>`
//!   take any store `S` (`RedisStore` by default).
//! - `PostgresStore` (feature `postgres`, module `postgres`) and
//!   `MySqlStore` (feature `mysql`, module `mysql`): the remote tier in
//!   PostgreSQL or in MySQL/MariaDB, one set of tables per namespace, with
//!   invalidation across processes by `LISTEN`/`NOTIFY` or by polling a
//!   changes log.
//!
//! # Keys in Redis
//!
//! `cachelite:{namespace}:v{version}:{key}`, where `{key}` comes from the
//! key's serde form, never from its `Hash` (whose seed differs per
//! process): a string key as it is (a leading `#` or `%` percent-escaped),
//! anything else as `#` and its JSON (`42` → `#42`, `(1, "a")` →
//! `#[1,"a"]`). Globs match that rendered key.
//!
//! # Values
//!
//! MessagePack by default ([`Codec::Json`] to read them with `redis-cli`),
//! in a small envelope that carries the entry's tags and its end on the
//! Redis server's clock (each process measures its offset from the
//! server's `TIME`), so a read is one `GET` and a local copy still never
//! outlives the entry. A value that does not decode is a miss; it is
//! deleted and counted as an error. One in the envelope of earlier versions
//! (without the end) is a miss too, deleted and replaced by the next write.
//!
//! # The local tier
//!
//! Keyed by the keys themselves ([`TieredKey`]), so a local hit renders
//! nothing. Invalidation messages name keys in their Redis form and are
//! read back into keys; a key whose rendering does not read back as itself
//! is served from Redis and never held locally.
//!
//! # TLS
//!
//! With the `tls` feature (off by default; `redis-tls` on the `cachelite`
//! crate), `rediss://` URLs connect through rustls: the server is checked
//! against the system's root certificates or the CA given to
//! [`RedisStoreBuilder`]'s `tls_root_certificate`, and `#insecure` at the
//! end of the URL skips the check. Without it, such a URL is an
//! [`Error::Config`] that names the feature.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), cachelite_redis::Error> {
//! use std::time::Duration;
//! use cachelite_redis::{RedisStore, TieredCache};
//!
//! let store = RedisStore::builder("redis://127.0.0.1:6379/")
//!     .namespace("profiles")
//!     .build()?;
//! let profiles: TieredCache<u64, String> = TieredCache::builder(store)
//!     .local_capacity(10_000)
//!     .local_ttl(Duration::from_secs(5))
//!     .ttl(Duration::from_secs(300))
//!     .build()?;
//!
//! let p = profiles.get_or_insert_with(&42, || "Ada".to_string()).await;
//! profiles.invalidate_tags(&["team:7"]).await?;
//! # let _ = p; Ok(()) }
//! ```
#![forbid(unsafe_code)]

#[doc(hidden)]
#[path = "memoize.rs"]
pub mod __memoize;
mod blocking;
mod breaker;
mod channel;
mod codec;
mod error;
mod key;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod remote;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sql;
mod store;
mod tiered;
mod tls;

pub use blocking::BlockingTieredCache;
pub use channel::{Message, Op};
pub use codec::Codec;
pub use error::Error;
#[cfg(feature = "mysql")]
pub use mysql::{MySqlFeed, MySqlStore, MySqlStoreBuilder};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresFeed, PostgresStore, PostgresStoreBuilder};
pub use remote::{Event, Feed, Outcome, Put, Store};
pub use store::{RedisFeed, RedisStore, RedisStoreBuilder, StoreStats};
pub use tiered::{Insertion, LoadStats, TieredCache, TieredCacheBuilder, TieredKey, TieredStats};
