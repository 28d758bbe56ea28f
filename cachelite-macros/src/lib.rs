//! Procedural macros for [cachelite](https://docs.rs/cachelite).
//!
//! Use them through the `cachelite` facade: `cachelite::memoize` and
//! `cachelite::DeepSize`. Generated code names only `::cachelite::__private`.

use proc_macro::TokenStream;

mod attr;
mod deep_size;
mod expand;
mod item;
mod key;
mod redis;
mod scope;
mod validate;

/// Caches a fn's results, keyed by its arguments.
///
/// See the `cachelite` crate's documentation of `memoize` for every
/// attribute with runnable examples.
///
/// ```ignore
/// use cachelite::memoize;
///
/// #[memoize(ttl = 60, capacity = 1_000)]
/// fn user(id: u64) -> Option<User> { /* .. */ }
///
/// user_cache_clear();
/// let info = user_cache_info();
/// user_cache_invalidate(7);
/// ```
#[proc_macro_attribute]
pub fn memoize(attr: TokenStream, item: TokenStream) -> TokenStream {
    memoize_impl(attr.into(), item.into()).into()
}

/// Parse, validate, expand. On any error: the errors, the fn as the user
/// wrote it, and stand-ins for its accessors, so that one mistake does not
/// become an error at every call site of the fn or of `<fn>_cache_*()`.
fn memoize_impl(
    attr: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> proc_macro2::TokenStream {
    let mut errors = Errors::default();
    let args = errors.check(syn::parse::Parser::parse2(attr::MemoizeArgs::parse, attr));
    let parsed = syn::parse2::<syn::ItemFn>(item.clone()).ok();
    let func = match &parsed {
        Some(f) => item::Func::from_syn(f.clone(), &mut errors),
        None => {
            errors.push(item::not_a_fn(&item));
            None
        }
    };
    let plan = match (args, func) {
        (Some(args), Some(func)) => validate::validate(args, func, &mut errors),
        _ => None,
    };
    match (plan, errors.finish()) {
        (Some(plan), Ok(())) => expand::expand(&plan),
        (_, Err(e)) => {
            let mut out = e.to_compile_error();
            out.extend(item);
            if let Some(f) = &parsed {
                out.extend(expand::stubs(f));
            }
            out
        }
        (None, Ok(())) => item,
    }
}

/// The policy names `#[memoize(policy = ..)]` accepts, as an array
/// expression: the facade's tests compare it with the runtime's list.
#[doc(hidden)]
#[proc_macro]
pub fn __memoize_policy_names(_: TokenStream) -> TokenStream {
    let names = attr::POLICIES;
    quote::quote!([#(#names),*]).into()
}

/// Derives `cachelite::DeepSize` for a struct or enum: the deep size of a
/// value is the sum of its fields' deep sizes (see the facade's docs).
#[proc_macro_derive(DeepSize, attributes(deep_size))]
pub fn derive_deep_size(input: TokenStream) -> TokenStream {
    deep_size::derive(input.into()).into()
}

/// Collects errors so that all of them are reported at once.
#[derive(Default)]
pub(crate) struct Errors {
    first: Option<syn::Error>,
    count: usize,
}

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        self.count += 1;
        match &mut self.first {
            Some(existing) => existing.combine(error),
            None => self.first = Some(error),
        }
    }

    /// Records the error, if any, and returns the value otherwise.
    pub(crate) fn check<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// How many errors so far.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn finish(self) -> syn::Result<()> {
        self.first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn expand(attr: proc_macro2::TokenStream, item: proc_macro2::TokenStream) -> String {
        memoize_impl(attr, item).to_string()
    }

    #[test]
    fn expands_a_plain_fn_with_accessors() {
        let out = expand(
            quote!(),
            quote!(
                fn fib(n: u64) -> u64 {
                    n
                }
            ),
        );
        for name in [
            "fn fib_cache ()",
            "fn fib_cache_clear ()",
            "fn fib_cache_info ()",
            "fn fib_cache_invalidate (n : u64)",
        ] {
            assert!(out.contains(name), "{name} in {out}");
        }
        assert!(out.contains("max_items (10000usize)"), "{out}");
        assert!(!out.contains("compile_error"), "{out}");
    }

    #[test]
    fn methods_name_their_cache_after_self_and_no_sibling() {
        let out = expand(
            quote!(),
            quote!(
                fn lookup(&self, id: u64) -> u64 {
                    id
                }
            ),
        );
        assert!(!out.contains("Self :: lookup_cache ()"), "{out}");
        assert!(out.contains("method_name :: < Self >"), "{out}");
        assert!(out.contains("__private :: site ("), "{out}");
    }

    #[test]
    fn errors_come_with_the_original_fn() {
        let out = expand(
            quote!(ttl = 0),
            quote!(
                fn f(n: u64) -> u64 {
                    n
                }
            ),
        );
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("fn f (n : u64) -> u64 { n }"), "{out}");
        for stub in [
            "fn f_cache () -> & 'static :: cachelite :: __private :: Cache < u64 , u64 >",
            "fn f_cache_clear ()",
            "fn f_cache_info ()",
            "fn f_cache_invalidate (n : u64)",
        ] {
            assert!(out.contains(stub), "{stub} in {out}");
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let cases = [
            (quote!(), quote!()),
            (
                quote!(,,),
                quote!(
                    fn f() -> u8 {
                        1
                    }
                ),
            ),
            (
                quote!(ttl =),
                quote!(
                    fn f() -> u8 {
                        1
                    }
                ),
            ),
            (
                quote!(key:),
                quote!(
                    fn f(x: u8) -> u8 {
                        x
                    }
                ),
            ),
            (
                quote!(),
                quote!(
                    struct S;
                ),
            ),
            (quote!(), quote!(fn)),
            (
                quote!(key = self),
                quote!(
                    fn f(x: u8) -> u8 {
                        x
                    }
                ),
            ),
            (
                quote!(tags = [], condition = f),
                quote!(
                    async fn f(x: &mut u8) -> u8 {
                        1
                    }
                ),
            ),
        ];
        for (attr, item) in cases {
            let out = expand(attr, item);
            assert!(out.contains("compile_error"), "{out}");
        }
    }
}
