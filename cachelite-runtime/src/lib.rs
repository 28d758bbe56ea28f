//! The cache engine behind [cachelite](https://docs.rs/cachelite): a
//! concurrent, sharded cache with O(1) eviction policies, TTL on a
//! monotonic clock with lazy and active expiry, bounds by item count and by
//! deep byte size, stats, events, tag and glob invalidation, and one
//! singleflight for threads and tasks.
//!
//! Most users depend on `cachelite`, which re-exports everything here
//! along with `#[memoize]`.
//!
//! ```
//! use cachelite_runtime::{Cache, Policy};
//! use std::time::Duration;
//!
//! let cache: Cache<String, u64> = Cache::builder()
//!     .max_items(1_000)
//!     .policy(Policy::Lfu)
//!     .default_ttl(Duration::from_secs(60))
//!     .build();
//! let v = cache.get_or_insert_with("answer".to_string(), || 42);
//! assert_eq!(v, 42);
//! assert_eq!(cache.get("answer"), Some(42));
//! ```
//!
//! The same options can come as data: a [`CacheConfig`] read from the
//! environment ([`CacheConfig::from_env`]) or, with the `serde` feature,
//! from a file, built with [`Cache::from_config`] and reported back in
//! [`Cache::info`] beside the [`Stats`].
//!
//! # Design
//! - Each shard is an index (hashbrown), a slab of entries, a policy
//!   working on slot indices, a TTL index and a tag index, behind a
//!   read-write lock: on machines with 8 or more hardware threads a striped
//!   one, whose readers write only their own stripe of it, and a plain one
//!   (cheaper writes) on smaller machines; see `CacheBuilder::striped_locks`.
//!   Small caches are a single shard, so eviction is exact across the cache.
//! - A hit takes the shard's lock shared and leaves the policy alone: it
//!   counts itself and records the access in its thread's stripe of a
//!   small ring buffer (one atomic add and one store), which whoever fills
//!   it applies to the policy if nobody else is doing so. Under contention
//!   a ring may lap before it is applied and the policy then misses some
//!   reads, never an insert or a removal. Every write applies the buffered
//!   reads first, so a single thread sees each policy's exact order.
//! - No user code runs under a shard lock except `Clone` of the key or
//!   value being returned: compute closures, listeners, weighers and the
//!   `Drop` of removed values all run after it is released.
//! - Reads of entries without a TTL never read the clock.
//!
//! # Observability
//! | feature | what it adds | cost |
//! | --- | --- | --- |
//! | `tracing` | an `INFO` span `cachelite.load` around every load (a read-through's compute, a memoized body), with fields `cache` (its [`CacheBuilder::name`]) and `outcome` (`ok`, `error`, `panic` or `cancelled`); `DEBUG` events for each eviction and expiration (fields `cache`, `cause`), emitted after the shard lock is released | a span per load; nothing on a hit |
//! | `metrics` | the [`Stats`] counters through the [`metrics`](https://docs.rs/metrics) facade, labelled `cache`: `cachelite_hits_total`, `cachelite_misses_total`, `cachelite_inserts_total`, `cachelite_evictions_total`, `cachelite_expirations_total`, `cachelite_invalidations_total`, `cachelite_load_successes_total`, `cachelite_load_failures_total`, `cachelite_load_nanoseconds_total`, `cachelite_refreshes_skipped_total`, and gauges `cachelite_entries`, `cachelite_bytes` | nothing on a hit or a write: the counters are published (as absolute values) once a second by one thread per process, started with the first cache built, and at once whenever stats are read ([`Cache::stats`], [`Cache::info`], [`registry`]) |

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod batch;
mod builder;
mod cache;
mod config;
mod counters;
mod events;
mod expiry;
mod glob;
mod housekeeping;
mod loads;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(test)]
mod model_tests;
mod policy;
mod refresher;
mod registry;
mod revalidate;
mod scope;
mod shard;
mod singleflight;
mod size;
mod slab;
#[cfg(feature = "serde")]
mod snapshot;
mod stats;
mod sync;
mod tags;
mod versions;

pub use builder::{BuildError, CacheBuilder, DefaultHashBuilder};
pub use cache::{Cache, Insertion, Misses};
pub use config::{CacheConfig, ConfigError};
pub use counters::{CounterError, CounterValue};
pub use events::{Event, RemovalCause};
pub use expiry::{Clock, ManualClock};
pub use glob::{Glob, GlobError};
pub use policy::{ParsePolicyError, Policy};
pub use registry::{CacheInfoSource, register, registry};
pub use revalidate::{BoxFuture, Spawner};
pub use scope::{ScopeError, ScopePath, Scoped};
pub use size::DeepSize;
#[cfg(feature = "serde")]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
pub use snapshot::{SnapshotError, SnapshotFormat};
pub use stats::{CacheInfo, Stats};
