#![doc = include_str!("../README.md")]
//!
//! ## Cargo features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `serde` | off | snapshots: `Cache::snapshot` and `Cache::restore` (files), `snapshot_to` and `restore_from` (any `io::Write` / `io::Read`), in JSON or MessagePack (`SnapshotFormat`, `SnapshotError`); keys and values must be `Serialize` to save and `DeserializeOwned` to restore |
//! | `redis` | off | `cachelite::redis`: a two-tier cache, local in front of a shared Redis, coherent across processes (see *Sharing a cache across processes* above) |
//! | `redis-tls` | off | `redis` plus `rediss://` (TLS) URLs, through rustls with its `ring` provider |
//! | `tracing` | off | a `cachelite.load` span (fields `cache`, `outcome`) around every load, memoized body or read-through, and `DEBUG` events for evictions and expirations (see *Tracing and metrics* above) |
//! | `metrics` | off | the stats counters through the `metrics` facade, labelled `cache`, published on every stats read and active-expiry round; nothing on the hit path |
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

#[doc = include_str!("memoize.md")]
pub use cachelite_macros::memoize;

/// Items that generated code names as `::cachelite::__private::...`.
///
/// Not public API: anything here may change in a patch release.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
