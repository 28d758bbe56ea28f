#![doc = include_str!("../../README.md")]
#![forbid(unsafe_code)]

pub use cachelite_macros::DeepSize;
pub use cachelite_runtime::*;

/// Items that generated code names as `::cachelite::__private::...`.
///
/// Not public API: anything here may change in a patch release.
#[doc(hidden)]
pub mod __private {
    pub use ::cachelite_runtime;
    pub use ::core;
    pub use ::std;
}
