#![doc = include_str!("../../README.md")]
#![forbid(unsafe_code)]

pub use cachelite_macros::DeepSize;
pub use cachelite_runtime::*;

/// The Redis tier: a two-tier cache shared across processes (feature `redis`).
#[cfg(feature = "redis")]
pub use cachelite_redis as redis;

#[doc = include_str!("memoize.md")]
pub use cachelite_macros::memoize;

/// Items that generated code names as `::cachelite::__private::...`.
///
/// Not public API: anything here may change in a patch release.
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
