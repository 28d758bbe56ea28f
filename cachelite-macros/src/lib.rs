//! Procedural macros for [cachelite](https://docs.rs/cachelite).
//!
//! Use them through the `cachelite` facade: `cachelite::memoize` and
//! `cachelite::DeepSize`. Generated code names only `::cachelite::__private`.

use proc_macro::TokenStream;

mod deep_size;

/// Derives `cachelite::DeepSize` for a struct or enum: the deep size of a
/// value is the sum of its fields' deep sizes (see the facade's docs).
#[proc_macro_derive(DeepSize, attributes(deep_size))]
pub fn derive_deep_size(input: TokenStream) -> TokenStream {
    deep_size::derive(input.into()).into()
}
