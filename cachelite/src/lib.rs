#![doc = include_str!("../README.md")]
//!
//! ## Cargo features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `serde` | off | snapshots: `Cache::snapshot` and `Cache::restore` (files), `snapshot_to` and `restore_from` (any `io::Write` / `io::Read`), in JSON or MessagePack (`SnapshotFormat`, `SnapshotError`); keys and values must be `Serialize` to save and `DeserializeOwned` to restore |
//! | `redis` | off | `cachelite::redis`: a two-tier cache, local in front of a shared Redis, coherent across processes (see *Sharing a cache across processes* above) |
//! | `redis-tls` | off | `redis` plus `rediss://` (TLS) URLs, through rustls with its `ring` provider |
//! | `redis-zstd` | off | `redis` plus `Compression::Zstd` for the values in Redis, through the zstd C library (lz4 and encryption need no feature; see *Compression and encryption* above) |
//! | `postgres` | off | `redis` plus `cachelite::redis::PostgresStore`: the shared tier in PostgreSQL tables, coherent by `LISTEN`/`NOTIFY` (through tokio-postgres; see *PostgreSQL and MySQL* above) |
//! | `mysql` | off | `redis` plus `cachelite::redis::MySqlStore`: the shared tier in MySQL or MariaDB tables, coherent by polling a changes log (through mysql_async) |
//! | `tracing` | off | a `cachelite.load` span (fields `cache`, `outcome`) around every load, memoized body or read-through, and `DEBUG` events for evictions and expirations (see *Tracing and metrics* above) |
//! | `tokio` | off | [`tokio_spawner`]: async stale refreshes (`CacheBuilder::spawner`, `#[memoize(spawn = ...)]`) run as tokio tasks |
//! | `metrics` | off | the stats counters through the `metrics` facade, labelled `cache`, published once a second by one thread per process and on every stats read; nothing on the hit path |
//!
//! Items that need a feature are marked with it in these docs as built on
//! docs.rs, with every feature on.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

pub use cachelite_macros::DeepSize;
pub use cachelite_runtime::*;

/// The Redis tier: a two-tier cache shared across processes (feature `redis`).
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use cachelite_redis as redis;
// Named as well as globbed, so that the docs mark them with their feature.
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use cachelite_runtime::{SnapshotError, SnapshotFormat};

/// A spawner for async stale refreshes that runs them on the tokio
/// runtime of the thread that hands them over (feature `tokio`): give it
/// to [`CacheBuilder::spawner`] or to `#[memoize(spawn = ...)]`. Outside a
/// runtime the refresh is dropped unrun: the stale value stays, and the
/// next caller in the stale window tries again.
///
/// ```
/// use cachelite::{Cache, Insertion, ManualClock};
/// use std::time::Duration;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let clock = ManualClock::new();
/// let cache: Cache<u8, u8> = Cache::builder()
///     .clock(clock.clone())
///     .default_ttl(Duration::from_secs(10))
///     .stale_ttl(Duration::from_secs(5))
///     .spawner(cachelite::tokio_spawner())
///     .build();
/// cache.insert(1, 1);
/// clock.advance(Duration::from_secs(12));
/// let v = cache.get_or_compute_async_revalidating(1, |v| v, async { (2, Some(Insertion::new(2))) }).await;
/// assert_eq!(v, 1); // the stale value, while a task refreshes it
/// # });
/// ```
#[cfg(feature = "tokio")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
pub fn tokio_spawner() -> impl Fn(BoxFuture) + Send + Sync + 'static {
    |future| {
        if let Ok(runtime) = ::tokio::runtime::Handle::try_current() {
            drop(runtime.spawn(future));
        }
    }
}

#[doc = include_str!("memoize.md")]
pub use cachelite_macros::memoize;

/// Items that generated code names as `::cachelite::__private::...`.
///
/// Not public API: anything here may change in a patch release.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
