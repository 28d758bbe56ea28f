//! Code generation for `#[memoize(store = ..)]`: the fn over a two-tier
//! cache (a local tier in front of a shared store: Redis, a
//! `MemoryStore`, any store) and its accessors.
//!
//! The fn's body is wrapped as for a local cache (see `expand.rs`), with
//! the Redis tier's entry points; the cache is a `Memo` built on first use
//! from the `store` expression. Everything is handed to
//! `__private::over_redis!`, which keeps it when the facade has its `redis`
//! feature, and otherwise says to enable it (and keeps the fn as written).
//!
//! ```text
//! fn user(id: u64) -> User { run(GetOrCompute { cache: MEMO, .. }) }
//! fn user_cache() -> &'static BlockingTieredCache<u64, User, impl Store>  // async: &TieredCache
//!                                               // (the store's type is the `store` expression's)
//! fn user_cache_clear() -> Result<usize, Error>                   // async fns: async
//! fn user_cache_info() -> TieredStats
//! fn user_cache_invalidate(id: u64) -> Result<bool, Error>        // async fns: async
//! ```

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use crate::expand::{self, Names, ValuePlan, local};
use crate::item::Kind;
use crate::validate::Plan;

pub(crate) fn expand(plan: &Plan) -> TokenStream {
    let names = Names::new(plan.func.ident());
    let value = ValuePlan::new(plan);
    let cache = cache_expr(plan, &names, &value);
    let func = expand::memoized_fn(plan, &value, &cache);
    let accessors = accessors(plan, &names, &value, &cache);
    let f = &plan.func;
    let (attrs, vis, sig, block) = (&f.attrs, &f.vis, &f.sig, &f.block);
    let original = quote!(#(#attrs)* #vis #sig #block);
    let stubs = syn::parse2::<syn::ItemFn>(original.clone())
        .map(|item| expand::stubs(&item))
        .unwrap_or_default();
    let span = plan
        .args
        .store
        .as_ref()
        .map_or_else(proc_macro2::Span::call_site, crate::attr::Arg::span);
    quote_spanned! {span=>
        ::cachelite::__private::over_redis! {
            { #func #accessors }
            { #original #stubs }
        }
    }
}

/// The fn's `Memo`: built on first use, once per fn, in the fn's slot.
fn cache_expr(plan: &Plan, names: &Names, value: &ValuePlan) -> TokenStream {
    let args = &plan.args;
    let k = &plan.key.ty;
    let v = &value.ty;
    let p = quote!(::cachelite::__private);
    let some = |d: Option<TokenStream>| match d {
        Some(d) => quote!(#p::Option::Some(#d)),
        None => quote!(#p::Option::None),
    };
    let ttl = some(args.ttl.as_ref().map(|a| expand::duration(&a.value)));
    let jitter = some(args.jitter.as_ref().map(|a| expand::duration(&a.value)));
    let local_args = args.local.as_ref().map(|l| &l.value);
    let local_capacity = some(
        local_args
            .and_then(|l| l.capacity.as_ref())
            .map(|c| expand::count(&c.value)),
    );
    let local_ttl = some(
        local_args
            .and_then(|l| l.ttl.as_ref())
            .map(|t| expand::duration(&t.value)),
    );
    let (store, store_span) = match &args.store {
        Some(s) => {
            let e = &s.value;
            (quote_spanned!(e.span()=> #p::redis::store(&(#e))), e.span())
        }
        None => (
            quote!(#p::core::unreachable!()),
            proc_macro2::Span::call_site(),
        ),
    };
    let name = expand::registry_name(plan, &names.fn_name);
    let id = expand::site_id(plan);
    let cache = Ident::new("__CACHELITE_MEMOIZE_CACHE", proc_macro2::Span::mixed_site());
    let build = local("build");
    let out_span = plan.func.output.span();
    let cache_ty = quote_spanned! {out_span=> #p::OnceLock<#p::Erased> };
    // Spanned at the expression: a type that is no store is reported
    // there, and only there.
    let build_closure = quote_spanned! {store_span=> || #p::redis::Build {
        store: #store,
        ttl: #ttl,
        jitter: #jitter,
        local_capacity: #local_capacity,
        local_ttl: #local_ttl,
        name: #name,
        types: #p::core::marker::PhantomData,
    } };
    // `build` is called once, by whichever of the fn and its accessors
    // comes first; `typed` reads the store's type off the closure's.
    quote! {
        {
            static #cache: #cache_ty = #p::OnceLock::new();
            let #build = #build_closure;
            #p::redis::typed::<#k, #v, _, _>(
                *#cache.get_or_init(|| {
                    *#p::site(#id).get_or_init(|| #p::redis::run::<#k, #v, _>(#build()))
                }),
                &#build,
            )
        }
    }
}

/// `user_cache`, `user_cache_clear`, `user_cache_info`,
/// `user_cache_invalidate`: blocking for sync fns, async (where they reach
/// Redis) for async fns.
fn accessors(
    plan: &Plan,
    names: &Names,
    value: &ValuePlan,
    cache_call: &TokenStream,
) -> TokenStream {
    let func = &plan.func;
    let vis = &func.vis;
    let k = &plan.key.ty;
    let v = &value.ty;
    let p = quote!(::cachelite::__private);
    let Names {
        fn_name,
        cache,
        clear,
        info,
        invalidate,
        ..
    } = names;
    let shown = if func.assoc {
        format!("Self::{fn_name}")
    } else {
        fn_name.clone()
    };
    let inherited = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || expand::is_doc_hidden(a));
    let common = quote! {
        #(#inherited)*
        #[allow(dead_code, unreachable_pub, clippy::type_complexity, clippy::missing_errors_doc)]
    };
    let key = local("key");
    let (generics, where_clause) = (&func.sig.generics, &func.sig.generics.where_clause);
    let receiver = plan.key.uses_self.then(|| {
        let self_token = func.receiver.as_ref().map(|r| r.token);
        quote!(&#self_token,)
    });
    let params = plan.key.params.iter().map(|&i| {
        let p = &func.params[i];
        let (name, ty) = (&p.name, &p.ty);
        quote!(#name: #ty)
    });
    let key_expr = &plan.key.expr;
    let out_span = func.output.span();

    let cache_doc = format!(
        " The two-tier cache behind `{shown}` (a local tier in front of its store): read, insert, \
         invalidate (by key, tag or glob) or inspect its entries."
    );
    let clear_doc = format!(
        " Empties the cache of `{shown}`: its namespace in the store and every local tier."
    );
    let info_doc = format!(" The counters of both tiers of the cache of `{shown}`.");
    let invalidate_doc = format!(
        " Removes the cached result of `{shown}` for these arguments, in the store and in every \
         local tier; returns whether the store held one."
    );
    let info_fn = quote! {
        #[doc = #info_doc]
        #common
        #[must_use]
        #vis fn #info() -> #p::redis::TieredStats {
            #p::redis::run::<#k, #v, _>(#p::redis::Info(#cache_call))
        }
    };
    if func.kind == Kind::Sync {
        let cache_ty = quote_spanned! {out_span=> &'static #p::redis::BlockingTieredCache<#k, #v, impl #p::redis::Store> };
        quote! {
            #[doc = #cache_doc]
            #common
            #[must_use]
            #vis fn #cache() -> #cache_ty {
                #cache_call.blocking()
            }

            #[doc = #clear_doc]
            #common
            #vis fn #clear() -> #p::core::result::Result<usize, #p::redis::Error> {
                #p::redis::run::<#k, #v, _>(#p::redis::Clear(#cache_call))
            }

            #info_fn

            #[doc = #invalidate_doc]
            #common
            #[allow(unused_variables, clippy::needless_pass_by_value, clippy::trivially_copy_pass_by_ref)]
            #vis fn #invalidate #generics (#receiver #(#params),*) -> #p::core::result::Result<bool, #p::redis::Error> #where_clause {
                let #key = #key_expr;
                #p::redis::run::<#k, #v, _>(#p::redis::Invalidate(#cache_call, #key))
            }
        }
    } else {
        let cache_ty = quote_spanned! {out_span=> &'static #p::redis::TieredCache<#k, #v, impl #p::redis::Store> };
        quote! {
            #[doc = #cache_doc]
            #common
            #[must_use]
            #vis fn #cache() -> #cache_ty {
                #cache_call.tiered()
            }

            #[doc = #clear_doc]
            #common
            #vis async fn #clear() -> #p::core::result::Result<usize, #p::redis::Error> {
                #p::redis::clear_async::<#k, #v, _>(#cache_call).await
            }

            #info_fn

            #[doc = #invalidate_doc]
            #common
            #[allow(unused_variables, clippy::needless_pass_by_value, clippy::trivially_copy_pass_by_ref)]
            #vis async fn #invalidate #generics (#receiver #(#params),*) -> #p::core::result::Result<bool, #p::redis::Error> #where_clause {
                let #key = #key_expr;
                #p::redis::invalidate_async::<#k, #v, _>(#cache_call, #key).await
            }
        }
    }
}
