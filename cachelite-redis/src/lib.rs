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
//!   ([`remote`] says what a store must guarantee). `TieredCache<K, V, S>`
//!   and `BlockingTieredCache<K, V, S>` take any store `S` (`RedisStore` by
//!   default). `#[memoize(store = ..)]` takes every store of this crate;
//!   its cache's store type is the `store` expression's.
//!
//! # Stores
//!
//! | Store | Shared by | For |
//! |---|---|---|
//! | [`RedisStore`] | every process using the server | services with several replicas |
//! | `PostgresStore` (feature `postgres`) | every process using the database; invalidation by `LISTEN`/`NOTIFY` | services that keep their data in PostgreSQL and run no Redis |
//! | `MySqlStore` (feature `mysql`) | every process using the database; invalidation by polling a changes log | the same, on MySQL or MariaDB |
//! | [`MemoryStore`] | the handles of one [`MemoryStore::new`], in one process | tests, and single-process programs that want the two-tier API; no server |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), cachelite_redis::Error> {
//! use cachelite_redis::{MemoryStore, TieredCache};
//! // Two caches over one backing: coherent like two processes over Redis.
//! let store = MemoryStore::new().with_namespace("profiles");
//! let a: TieredCache<u64, String, MemoryStore> = TieredCache::builder(store.clone()).build()?;
//! let b: TieredCache<u64, String, MemoryStore> = TieredCache::builder(store).build()?;
//! a.insert(&1, "Ada".into()).await?;
//! assert_eq!(b.get(&1).await.as_deref(), Some("Ada"));
//! # Ok(()) }
//! ```
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
//! # Compression and encryption
//!
//! Layers on the envelope's bytes, in a fixed order: [`Compression`] (lz4,
//! or zstd with the `zstd` feature, above a size threshold and only when it
//! makes the value smaller), then encryption with a [`Keyring`]
//! (XChaCha20-Poly1305, a random 24-byte nonce per write, the full Redis
//! key as associated data). Both are set on [`RedisStoreBuilder`].
//!
//! - A compressed value is marked with its algorithm, so every store reads
//!   it, whatever it writes.
//! - An encrypted value carries its key's id in the clear: the current key
//!   encrypts, older keys still decrypt, so keys rotate without a flush.
//! - A value copied to another key, altered, cut short, or encrypted with a
//!   key the store does not hold is a miss, counted as an error and deleted,
//!   as any value that does not decode. A store with a keyring reads only
//!   encrypted values; a store without one reads none.
//! - Keys come as 32 bytes, or from a variable or a file in hex or base64
//!   ([`Keyring::key_from_env`], [`Keyring::key_from_file`]); `Debug` shows
//!   key ids only.
//!
//! ```
//! use cachelite_redis::{Compression, Keyring, RedisStore};
//! let store = RedisStore::builder("redis://127.0.0.1/")
//!     .compression(Compression::lz4())
//!     .encryption(Keyring::new(1, [42u8; 32]).with_old(0, [7u8; 32]))
//!     .build()?;
//! assert_eq!(store.keyring().map(Keyring::current_id), Some(1));
//! # Ok::<(), cachelite_redis::Error>(())
//! ```
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
//! # Redis Cluster and Sentinel
//!
//! [`RedisStore::builder_cluster`] takes some of a cluster's nodes;
//! [`RedisStore::builder_sentinel`] takes sentinels and the service name
//! they watch. The store and the two-tier cache behave the same on each:
//!
//! - In a cluster, keys carry no hash tag, so a namespace spreads over
//!   every master, and no command names keys of two slots (`CROSSSLOT`):
//!   a tagged write updates each tag set and the entry with one command per
//!   key (tag sets, entry, tag sets again, so that an invalidation of the
//!   tag running meanwhile sees the entry or comes before it); members of a
//!   tag and keys found by a scan are unlinked in groups of one slot, and
//!   several keys are read with one `MGET` per slot; globs and clears scan
//!   every master. A `PUBLISH` reaches every node, so the
//!   subscriber listens on one node and moves to another (listed, or
//!   learned from `CLUSTER NODES`) when that node fails, with the local
//!   tier off in between.
//! - Through sentinels, the store asks for the master on connecting, after a
//!   failed call or a `READONLY` reply, and in the background once a second;
//!   a connection to a master they no longer name is replaced. The
//!   subscriber checks the master with each heartbeat: after a failover it
//!   drops its connection (clearing the local tier) and subscribes on the
//!   new master.
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
mod conn;
mod env;
mod error;
mod key;
mod layers;
mod memory;
#[cfg(feature = "mysql")]
pub mod mysql;
#[cfg(feature = "postgres")]
pub mod postgres;
pub mod remote;
mod sentinel;
#[cfg(any(feature = "postgres", feature = "mysql"))]
mod sql;
mod store;
mod tiered;
mod tls;

pub use __memoize::StoreSource;
pub use blocking::BlockingTieredCache;
pub use channel::{Message, Op};
pub use codec::Codec;
pub use error::Error;
pub use layers::{Compression, Keyring};
pub use memory::{MemoryFeed, MemoryStore};
#[cfg(feature = "mysql")]
pub use mysql::{MySqlFeed, MySqlStore, MySqlStoreBuilder};
#[cfg(feature = "postgres")]
pub use postgres::{PostgresFeed, PostgresStore, PostgresStoreBuilder};
pub use remote::{Event, Feed, Outcome, Put, Store};
pub use store::{RedisFeed, RedisStore, RedisStoreBuilder, StoreStats};
pub use tiered::{Insertion, LoadStats, TieredCache, TieredCacheBuilder, TieredKey, TieredStats};
