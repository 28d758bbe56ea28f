//! Code generation: the fn with its body wrapped in a read-through of its
//! cache, and the accessors.
//!
//! ```text
//! fn fib(n: u64) -> u64 {                     // attributes, docs, visibility kept
//!     let cache = CACHE;                      // the block below
//!     let key = Clone::clone(&n);
//!     run::<u64, u64, _>(GetOrCompute {         // one check of the key and value types
//!         cache, shared: true, key,
//!         on_hit: identity, store: whole, keep: always,
//!         compute: move || {
//!             let tags = NO_TAGS;
//!             (call(move || -> u64 { /* the original body */ }), tags)
//!         },
//!     })
//! }
//! fn fib_cache() -> &'static Cache<u64, u64> { CACHE }
//! fn fib_cache_clear() { .. CACHE .. }   fn fib_cache_info() -> CacheInfo { .. CACHE .. }
//! fn fib_cache_invalidate(n: u64) -> bool { .. CACHE .. }
//! fn fib_cache_refresh(n: u64) -> u64 { /* the fn again, its read-through a refresh */ }
//!
//! CACHE = {
//!     static CACHE: OnceLock<Erased> = OnceLock::new();        // one per place
//!     typed::<u64, u64>(*CACHE.get_or_init(|| {
//!         *site("crate::fib#..").get_or_init(|| run(Build { builder: .., name: "crate::fib" }))
//!     }))                                                     // `site`: one slot per fn
//! }
//! ```
//!
//! Everything is a fn item that names none of its siblings, so the same
//! expansion works at module level and in an impl block (accessors become
//! associated fns), and adds no other name to the user's module. Generated
//! code names only `::cachelite::__private::...`; its local variables are
//! hygienic.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, Pat, PatIdent, PatType};

use crate::attr::{Count, MemoizeArgs, Seconds};
use crate::item::{Binding, Func, Kind};
use crate::validate::{Plan, Stored};

/// The capacity of a cache given no bound.
const DEFAULT_CAPACITY: usize = 10_000;

/// Hygienic local names: user code cannot see them, nor they it.
pub(crate) fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The fn and its accessors.
pub(crate) fn expand(plan: &Plan) -> TokenStream {
    if plan.args.store.is_some() {
        return crate::redis::expand(plan);
    }
    let names = Names::new(plan.func.ident());
    let value = ValuePlan::new(plan);
    let cache = cache_expr(plan, &names, &value);
    let func = memoized_fn(plan, &value, &cache);
    let accessors = accessors(plan, &names, &value, &cache);
    quote! {
        #func
        #accessors
    }
}

/// Stand-ins for the accessors of a fn whose attribute has an error: their
/// signatures as close to the real ones as the fn allows, so that calls to
/// them add no errors of their own. The build fails anyway, on the error.
pub(crate) fn stubs(item: &syn::ItemFn) -> TokenStream {
    let names = Names::new(&item.sig.ident);
    let mut scratch = crate::Errors::default();
    let func = Func::from_syn(item.clone(), &mut scratch);
    let types = func.as_ref().and_then(|func| {
        let key = crate::key::plan(func, None, &mut scratch)?;
        let v = &func.output;
        Some((key.ty, quote!(#v)))
    });
    let (k, v) = types.unwrap_or_else(|| (quote!(()), quote!(())));
    let vis = &item.vis;
    let (generics, where_clause) = (&item.sig.generics, &item.sig.generics.where_clause);
    let receiver = item.sig.receiver().map(|r| {
        let self_token = r.self_token;
        quote!(&#self_token,)
    });
    let params = item.sig.inputs.iter().filter_map(|arg| match arg {
        FnArg::Typed(t) => Some(t),
        FnArg::Receiver(_) => None,
    });
    let Names {
        cache,
        clear,
        info,
        invalidate,
        refresh,
        ..
    } = &names;
    let mut refresh_sig = item.sig.clone();
    refresh_sig.ident = refresh.clone();
    // A diverging body is no `impl Trait`: such fns get no refresh stub.
    let returns_impl = matches!(&item.sig.output, syn::ReturnType::Type(_, ty) if matches!(**ty, syn::Type::ImplTrait(_)));
    let refresh_stub = (!returns_impl).then(|| {
        quote! {
            #[allow(dead_code, unused_variables, unused_mut, unreachable_pub, clippy::all)]
            #vis #refresh_sig {
                ::cachelite::__private::core::unreachable!()
            }
        }
    });
    let p = quote!(::cachelite::__private);
    quote! {
        #[allow(dead_code, unused_variables, unreachable_pub, clippy::all)]
        #vis fn #cache() -> &'static #p::Cache<#k, #v> {
            #p::core::unreachable!()
        }
        #[allow(dead_code, unreachable_pub, clippy::all)]
        #vis fn #clear() {}
        #[allow(dead_code, unreachable_pub, clippy::all)]
        #vis fn #info() -> #p::CacheInfo {
            #p::core::unreachable!()
        }
        #[allow(dead_code, unused_variables, unreachable_pub, clippy::all)]
        #vis fn #invalidate #generics (#receiver #(#params),*) -> bool #where_clause {
            false
        }
        #refresh_stub
    }
}

/// The accessors' names: `fib_cache`, `fib_cache_clear`, ...
pub(crate) struct Names {
    pub(crate) fn_name: String,
    pub(crate) cache: Ident,
    pub(crate) clear: Ident,
    pub(crate) info: Ident,
    pub(crate) invalidate: Ident,
    pub(crate) refresh: Ident,
}

impl Names {
    pub(crate) fn new(ident: &Ident) -> Names {
        let base = ident.unraw();
        let span = ident.span();
        Names {
            fn_name: base.to_string(),
            cache: format_ident!("{}_cache", base, span = span),
            clear: format_ident!("{}_cache_clear", base, span = span),
            info: format_ident!("{}_cache_info", base, span = span),
            invalidate: format_ident!("{}_cache_invalidate", base, span = span),
            refresh: format_ident!("{}_cache_refresh", base, span = span),
        }
    }
}

/// The cached value's type, and the two conversions between it and the
/// fn's return value.
pub(crate) struct ValuePlan {
    /// `V`, spanned on the return type so that "must be Clone" lands there.
    pub(crate) ty: TokenStream,
    /// `fn(&Out) -> Option<&V>`: what to cache of a computed result.
    store: TokenStream,
    /// `fn(V) -> Out`: the return value for a cached value.
    on_hit: TokenStream,
}

impl ValuePlan {
    pub(crate) fn new(plan: &Plan) -> ValuePlan {
        let out = &plan.func.output;
        let span = out.span();
        let p = quote_spanned!(span=> ::cachelite::__private);
        match &plan.stored {
            Stored::Whole => ValuePlan {
                ty: out.to_token_stream(),
                store: quote_spanned!(span=> #p::whole),
                on_hit: quote_spanned!(span=> #p::identity),
            },
            Stored::Ok(inner) => ValuePlan {
                ty: inner.as_ref().map_or_else(
                    || quote_spanned!(span=> <#out as #p::ResultShape>::Ok),
                    ToTokens::to_token_stream,
                ),
                store: quote_spanned!(span=> <#out as #p::ResultShape>::ok_ref),
                on_hit: quote_spanned!(span=> <#out as #p::ResultShape>::from_ok),
            },
            Stored::Some(inner) => ValuePlan {
                ty: inner.as_ref().map_or_else(
                    || quote_spanned!(span=> <#out as #p::OptionShape>::Some),
                    ToTokens::to_token_stream,
                ),
                store: quote_spanned!(span=> <#out as #p::OptionShape>::some_ref),
                on_hit: quote_spanned!(span=> <#out as #p::OptionShape>::from_some),
            },
        }
    }
}

/// How the fn body and each accessor reach the cache: a `static` of their
/// own, holding the cache that it found (or made) in the one slot of this
/// fn in `__private::site`, so that a call reads one `OnceLock`. Neither the body nor an accessor names
/// another item, so the expansion is the same at module level and in an
/// impl block, whether or not the fn mentions `Self`.
fn cache_expr(plan: &Plan, names: &Names, value: &ValuePlan) -> TokenStream {
    let k = &plan.key.ty;
    let v = &value.ty;
    let builder = builder(plan, k, v);
    let name = registry_name(plan, &names.fn_name);
    let id = site_id(plan);
    let cache = Ident::new("__CACHELITE_MEMOIZE_CACHE", Span::mixed_site());
    // Errors about the static land on the return type.
    let out_span = plan.func.output.span();
    let cache_ty = quote_spanned! {out_span=>
        ::cachelite::__private::OnceLock<::cachelite::__private::Erased>
    };
    quote! {
        {
            static #cache: #cache_ty = ::cachelite::__private::OnceLock::new();
            ::cachelite::__private::typed::<#k, #v>(*#cache.get_or_init(|| {
                *::cachelite::__private::site(#id).get_or_init(|| {
                    ::cachelite::__private::run::<#k, #v, _>(::cachelite::__private::Build {
                        builder: #builder,
                        name: #name,
                    })
                })
            }))
        }
    }
}

/// A name for this fn's cache that no other memoized fn of the program
/// has: its module, its name, where it is written, and a hash of its
/// tokens with a count of this crate's expansions (two fns of one module
/// may share a name in different impl blocks, or come from one macro
/// invocation). Everything in it is deterministic, so builds stay
/// reproducible.
pub(crate) fn site_id(plan: &Plan) -> TokenStream {
    use std::hash::{Hash, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static EXPANSIONS: AtomicU64 = AtomicU64::new(0);
    // `DefaultHasher::new()` has fixed keys: the same tokens, the same hash.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    plan.func
        .sig
        .to_token_stream()
        .to_string()
        .hash(&mut hasher);
    plan.func
        .block
        .to_token_stream()
        .to_string()
        .hash(&mut hasher);
    let suffix = format!(
        "::{}#{:x}.{}@",
        plan.func.ident().unraw(),
        hasher.finish(),
        EXPANSIONS.fetch_add(1, Ordering::Relaxed)
    );
    quote!(::cachelite::__private::core::concat!(
        ::cachelite::__private::core::module_path!(),
        #suffix,
        ::cachelite::__private::core::file!(),
        ":",
        ::cachelite::__private::core::line!(),
        ":",
        ::cachelite::__private::core::column!()
    ))
}

/// The memoized fn: the original signature (destructuring patterns renamed),
/// its body wrapped.
pub(crate) fn memoized_fn(plan: &Plan, value: &ValuePlan, cache_call: &TokenStream) -> TokenStream {
    wrapped_fn(plan, value, cache_call, None)
}

/// `<fn>_cache_refresh(args)`: the fn again under the accessor's name, its
/// read-through a refresh. An accessor cannot call the fn (in an impl
/// block it is `Self::f`, elsewhere `f`, and a fn that never mentions
/// `Self` does not say which), so it has the body too; rustc reports each
/// mistake in it once, the two copies' diagnostics being identical.
fn refresh_fn(
    plan: &Plan,
    value: &ValuePlan,
    cache_call: &TokenStream,
    names: &Names,
) -> TokenStream {
    wrapped_fn(plan, value, cache_call, Some(names))
}

fn wrapped_fn(
    plan: &Plan,
    value: &ValuePlan,
    cache_call: &TokenStream,
    refresh: Option<&Names>,
) -> TokenStream {
    let func = &plan.func;
    let args = &plan.args;
    let vis = &func.vis;
    let mut sig = func.sig.clone();
    rename_patterns(&mut sig, func);
    let attrs = match refresh {
        None => {
            let attrs = &func.attrs;
            quote!(#(#attrs)*)
        }
        Some(names) => {
            sig.ident = names.refresh.clone();
            let shown = if func.assoc {
                format!("Self::{}", names.fn_name)
            } else {
                names.fn_name.clone()
            };
            let doc = format!(
                " Runs `{shown}` now for these arguments and replaces its cached value with \
                 the result (a result the cache would not keep, such as an `Err`, leaves the \
                 old value in place). Meanwhile other callers keep getting the old value."
            );
            // The accessors follow the fn in and out of `cfg`, and out of
            // the docs; this one also carries the body, so the lint levels
            // the user set on it apply to the copy too.
            let lint_levels = ["allow", "warn", "deny", "forbid"];
            let inherited = func.attrs.iter().filter(|a| {
                a.path().is_ident("cfg")
                    || is_doc_hidden(a)
                    || lint_levels.iter().any(|l| a.path().is_ident(l))
            });
            quote! {
                #[doc = #doc]
                #(#inherited)*
                #[allow(
                    dead_code,
                    unreachable_pub,
                    clippy::type_complexity,
                    clippy::must_use_candidate,
                    clippy::missing_errors_doc,
                    clippy::missing_panics_doc
                )]
            }
        }
    };

    let k = &plan.key.ty;
    let v = &value.ty;
    let out = &func.output;
    let key_expr = &plan.key.expr;
    let on_hit = &value.on_hit;
    let store = &value.store;
    let shared = args.singleflight.as_ref().is_none_or(|s| s.value.value);
    let keep = match &args.condition {
        Some(c) => {
            let condition = &c.value;
            quote_spanned!(condition.span()=> ::cachelite::__private::keep::<#v, _>(#condition))
        }
        None => quote!(::cachelite::__private::always),
    };
    let tags = match &args.tags {
        Some(t) => {
            let tags = &t.value;
            quote_spanned!(tags.span()=> ::cachelite::__private::tags(#tags))
        }
        None => quote!(::cachelite::__private::NO_TAGS),
    };
    let cache = local("cache");
    let key = local("key");
    let out_var = local("out");
    let tags_var = local("tags");
    let future = local("future");
    // `tags_from_result`: more tags, from the value about to be cached. A
    // closure's body is evaluated in place (inside a closure of its own,
    // for its `return`s) rather than called: its tags may then borrow
    // from the value, `ids.iter().map(..)`, which a closure over `&V`
    // cannot return.
    let result_tags = args.tags_from_result.as_ref().map(|t| {
        let f = &t.value;
        let val = local("value");
        let all = local("all");
        let tags_of = match peel(f) {
            syn::Expr::Closure(c) if c.inputs.len() == 1 => {
                let pat = &c.inputs[0];
                let (output, body) = (&c.output, &c.body);
                // A type mismatch is reported on the closure's argument.
                let arg = Ident::new("value", Span::mixed_site().located_at(pat.span()));
                quote_spanned! {f.span()=> {
                    let #pat = #arg;
                    ::cachelite::__private::call(move || #output { #body })
                }}
            }
            _ => quote_spanned!(f.span()=> (#f)(#val)),
        };
        quote! {
            let #tags_var = {
                let mut #all = ::cachelite::__private::tags(#tags_var);
                if let ::cachelite::__private::core::option::Option::Some(#val) = #store(&#out_var) {
                    #all.extend(::cachelite::__private::result_tags(#tags_of));
                }
                #all
            };
        }
    });
    let destructure = func.params.iter().filter_map(|p| match &p.binding {
        Binding::Pattern(pat) => {
            let name = &p.name;
            Some(quote!(let #pat = #name;))
        }
        _ => None,
    });
    let stmts = &func.block.stmts;
    let body = quote!(#(#destructure)* #(#stmts)*);

    // The read-through and its entry points: the local cache's, or the
    // Redis tier's, which take the same fields.
    let glue = expand_glue(args, Span::call_site());
    // Only a local cache has refreshes (and the field).
    let refresh_field = args.store.is_none().then(|| {
        let on = refresh.is_some();
        quote!(refresh: #on,)
    });
    let op = |compute: TokenStream| {
        quote! {
            #glue::GetOrCompute {
                cache: #cache,
                shared: #shared,
                #refresh_field
                key: #key,
                on_hit: #on_hit,
                store: #store,
                keep: #keep,
                compute: #compute,
            }
        }
    };

    // The read-through of async fns; awaiting it re-checks the key and
    // value types, which is reported on the return type too.
    let run_async = |op: TokenStream| {
        let span = out.span();
        let glue = expand_glue(args, span);
        quote_spanned! {span=>
            #glue::run_async::<#k, #v, _, _, _, _, _, _>(#op).await
        }
    };
    // Stale refreshes leave the caller's path when the arguments can
    // outlive the call (and, for async fns, a spawner is named); the
    // refresh accessor itself always runs inline.
    let background = args.stale_ttl.is_some()
        && args.store.is_none()
        && refresh.is_none()
        && func.args_outlive_call();
    let run_async = |op: TokenStream| {
        if background && args.spawn.is_some() {
            let span = out.span();
            quote_spanned! {span=>
                ::cachelite::__private::run_async_revalidating::<#k, #v, _, _, _, _, _, _>(#op).await
            }
        } else {
            run_async(op)
        }
    };
    let inner = match func.kind {
        Kind::Sync => {
            let op = op(quote! {
                move || {
                    let #tags_var = #tags;
                    let #out_var = ::cachelite::__private::call(move || -> #out { #body });
                    #result_tags
                    (#out_var, #tags_var)
                }
            });
            let arg_tys = func.params.iter().map(|p| &p.ty);
            let run = if background {
                // On a thread when the body can be sent to one; inline
                // otherwise (autoref picks the first impl that applies).
                quote! {{
                    #[allow(unused_imports)]
                    use ::cachelite::__private::{RevalidateInBackground as _, RevalidateInline as _};
                    (&::cachelite::__private::Revalidate::<#k, #v, (#(#arg_tys,)*), _>::new(#op)).run_revalidating()
                }}
            } else {
                quote!(#glue::run::<#k, #v, _>(#op))
            };
            quote! {
                let #cache = #cache_call;
                let #key = #key_expr;
                #run
            }
        }
        Kind::Async => {
            let fake_return = fake_return(out);
            let op = op(quote! {
                async move {
                    let #tags_var = #tags;
                    let #out_var = async move { #fake_return #body }.await;
                    #result_tags
                    (#out_var, #tags_var)
                }
            });
            let run_async = run_async(op);
            quote! {
                let #cache = #cache_call;
                let #key = #key_expr;
                #run_async
            }
        }
        // The body runs at call time to make its future, as it would
        // without the cache; the future is polled only on a miss.
        Kind::ImplFuture | Kind::BoxFuture => {
            let op = op(quote! {
                async move {
                    let #out_var: #out = #future.await;
                    #result_tags
                    (#out_var, #tags_var)
                }
            });
            let run_async = run_async(op);
            // A boxed future is named: its branches coerce to the `dyn`.
            let returns = match (&func.kind, &func.sig.output) {
                (Kind::BoxFuture, syn::ReturnType::Type(arrow, ty)) => quote!(#arrow #ty),
                _ => TokenStream::new(),
            };
            let setup = quote! {
                let #cache = #cache_call;
                let #key = #key_expr;
                let #tags_var = #tags;
                let #future = ::cachelite::__private::call(move || #returns { #body });
            };
            let wrapped = quote! {
                async move {
                    #run_async
                }
            };
            if func.kind == Kind::BoxFuture {
                quote! {
                    #setup
                    ::cachelite::__private::std::boxed::Box::pin(#wrapped)
                }
            } else {
                quote!(#setup #wrapped)
            }
        }
    };
    // Checked once, in the fn, not again in its refresh accessor.
    let checks = refresh.is_none().then(|| const_checks(args));
    let inner = quote!(#checks #inner);
    // The body keeps the user's braces: the fn item then spans the user's
    // code, so lints such as `dead_code` report it as theirs.
    let mut block = proc_macro2::Group::new(proc_macro2::Delimiter::Brace, inner);
    block.set_span(func.block.brace_token.span.join());
    quote! {
        #attrs
        #vis #sig #block
    }
}

/// Strips parentheses and invisible groups.
fn peel(expr: &syn::Expr) -> &syn::Expr {
    match expr {
        syn::Expr::Paren(p) => peel(&p.expr),
        syn::Expr::Group(g) => peel(&g.expr),
        e => e,
    }
}

/// The path of the read-through's entry points, spanned on `span`.
fn expand_glue(args: &MemoizeArgs, span: Span) -> TokenStream {
    if args.store.is_some() {
        quote_spanned!(span=> ::cachelite::__private::redis)
    } else {
        quote_spanned!(span=> ::cachelite::__private)
    }
}

/// A `return` of the fn's type that never runs, first in an async body: it
/// fixes the body's type before the body is checked, so a mistake in the
/// body is reported there (and `?` knows what error to convert into).
fn fake_return(out: &syn::Type) -> TokenStream {
    let fake = local("fake_return");
    quote_spanned! {out.span()=>
        #[allow(
            unreachable_code,
            clippy::diverging_sub_expression,
            clippy::empty_loop,
            clippy::let_unit_value,
            clippy::needless_return,
            clippy::unreachable
        )]
        if false {
            let #fake: #out = loop {};
            return #fake;
        }
    }
}

/// Gives destructured arguments a name in the signature; the body
/// destructures them.
fn rename_patterns(sig: &mut syn::Signature, func: &Func) {
    let mut params = func.params.iter();
    for arg in &mut sig.inputs {
        let FnArg::Typed(PatType { pat, .. }) = arg else {
            continue;
        };
        let Some(param) = params.next() else { break };
        if let Binding::Pattern(_) = param.binding {
            **pat = Pat::Ident(PatIdent {
                attrs: Vec::new(),
                by_ref: None,
                mutability: None,
                ident: param.name.clone(),
                subpat: None,
            });
        }
    }
}

/// `fib_cache`, `fib_cache_clear`, `fib_cache_info`, `fib_cache_invalidate`,
/// `fib_cache_refresh`.
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
    // The accessors follow the fn in and out of `cfg`, and out of the docs.
    let inherited = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("cfg") || is_doc_hidden(a));
    let common = quote! {
        #(#inherited)*
        #[allow(dead_code, unreachable_pub, clippy::type_complexity)]
    };
    let out_span = func.output.span();
    let cache_ty = quote_spanned! {out_span=>
        &'static ::cachelite::__private::Cache<#k, #v>
    };
    let key = local("key");

    let cache_doc = format!(
        " The cache behind `{shown}`: the full [`Cache`](::cachelite::Cache) API, to read, \
         insert, invalidate (by key, tag or glob) or inspect its entries."
    );
    let clear_doc = format!(" Empties the cache of `{shown}`: later calls compute again.");
    let info_doc = format!(" Hits, misses, size and configuration of the cache of `{shown}`.");
    let invalidate_doc = format!(
        " Removes the cached result of `{shown}` for these arguments; returns whether there was one."
    );

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
    let refresh_fn = refresh_fn(plan, value, cache_call, names);

    quote! {
        #[doc = #cache_doc]
        #common
        #[must_use]
        #vis fn #cache() -> #cache_ty {
            #cache_call
        }

        #[doc = #clear_doc]
        #common
        #vis fn #clear() {
            ::cachelite::__private::run::<#k, #v, _>(::cachelite::__private::Clear(#cache_call));
        }

        #[doc = #info_doc]
        #common
        #[must_use]
        #vis fn #info() -> ::cachelite::__private::CacheInfo {
            ::cachelite::__private::run::<#k, #v, _>(::cachelite::__private::Info(#cache_call))
        }

        #[doc = #invalidate_doc]
        #common
        #[allow(unused_variables, clippy::needless_pass_by_value, clippy::trivially_copy_pass_by_ref)]
        #vis fn #invalidate #generics (#receiver #(#params),*) -> bool #where_clause {
            let #key = #key_expr;
            ::cachelite::__private::run::<#k, #v, _>(::cachelite::__private::Invalidate(#cache_call, #key))
        }

        #refresh_fn
    }
}

pub(crate) fn is_doc_hidden(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("doc")
        && matches!(&attr.meta, syn::Meta::List(l) if l.tokens.to_string() == "hidden")
}

/// The name in the registry: `name = ".."`, else the fn's path.
pub(crate) fn registry_name(plan: &Plan, fn_name: &str) -> TokenStream {
    if let Some(name) = &plan.args.name {
        return name.value.to_token_stream();
    }
    if plan.func.assoc {
        quote!(::cachelite::__private::method_name::<Self>(#fn_name))
    } else {
        let suffix = format!("::{fn_name}");
        quote!(::cachelite::__private::core::concat!(
            ::cachelite::__private::core::module_path!(),
            #suffix
        ))
    }
}

/// The configured `CacheBuilder`.
fn builder(plan: &Plan, k: &TokenStream, v: &TokenStream) -> TokenStream {
    let args: &MemoizeArgs = &plan.args;
    let p = quote!(::cachelite::__private);
    let mut b = quote!(#p::Cache::<#k, #v>::builder());
    match (&args.capacity, &args.unbounded, &args.max_bytes) {
        (Some(c), _, _) => {
            let n = count(&c.value);
            b = quote!(#b.max_items(#n));
        }
        (None, None, None) => b = quote!(#b.max_items(#DEFAULT_CAPACITY)),
        _ => {}
    }
    if let Some(policy) = &args.policy {
        let name = &policy.value;
        b = quote_spanned!(policy.span()=> #b.policy(const { #p::policy(#name) }));
    }
    if let Some(ttl) = &args.ttl {
        let d = duration(&ttl.value);
        b = quote!(#b.default_ttl(#d));
    }
    if let Some(jitter) = &args.jitter {
        let d = duration(&jitter.value);
        b = quote!(#b.ttl_jitter(#d));
    }
    if let Some(scope) = &args.scope {
        let levels = crate::scope::levels(scope);
        b = quote!(#b.scope_levels(#levels));
    }
    if let Some(version) = &args.version {
        let n = &version.value;
        b = quote_spanned!(n.span()=> #b.version(#n));
    }
    if let Some(stale) = &args.stale_ttl {
        let d = duration(&stale.value);
        b = quote!(#b.stale_ttl(#d));
    }
    if let Some(spawn) = &args.spawn {
        let e = &spawn.value;
        b = quote_spanned!(e.span()=> #b.spawner(#e));
    }
    if let Some(clock) = &args.clock {
        let c = &clock.value;
        b = quote!(#b.clock(#c));
    }
    if let Some(max) = &args.max_bytes {
        // "needs DeepSize" errors land on the `max_bytes` token.
        let span = max.span();
        let n = count(&max.value);
        let k = respan(k, span);
        let v = respan(v, span);
        b = quote_spanned!(span=> #p::max_bytes::<#k, #v>(#b, #n));
    }
    b
}

pub(crate) fn count(c: &Count) -> TokenStream {
    match c {
        Count::Lit(lit) => lit.to_token_stream(),
        Count::Expr(e) => quote!((#e)),
    }
}

/// Compile-time checks that durations given as constant expressions
/// (`TTL`, `TTL * 60`) are positive: once, in the memoized fn.
pub(crate) fn const_checks(args: &MemoizeArgs) -> TokenStream {
    let durations = [
        (&args.ttl, "ttl"),
        (&args.jitter, "jitter"),
        (&args.stale_ttl, "stale_ttl"),
    ];
    durations
        .into_iter()
        .filter_map(|(arg, attr)| match arg.as_ref().map(|a| &a.value) {
            Some(Seconds::Expr(e)) if is_const_expr(e) => {
                let message = format!(
                    "#[memoize({attr} = ...)] must be greater than zero; leave `{attr}` out to disable it"
                );
                Some(quote_spanned! {e.span()=>
                    const {
                        ::cachelite::__private::core::assert!(
                            !::cachelite::__private::NonZero(#e).is_zero(),
                            #message
                        );
                    };
                })
            }
            _ => None,
        })
        .collect()
}

/// A `Duration` for literal seconds in the largest exact unit; for an
/// expression, a conversion that accepts a `Duration` or seconds.
pub(crate) fn duration(s: &Seconds) -> TokenStream {
    match s {
        Seconds::Nanos(nanos) => {
            let units = [
                (1_000_000_000, "from_secs"),
                (1_000_000, "from_millis"),
                (1_000, "from_micros"),
                (1, "from_nanos"),
            ];
            let (per, unit) = units
                .into_iter()
                .find(|(per, _)| nanos % per == 0)
                .unwrap_or((1, "from_nanos"));
            let unit = Ident::new(unit, Span::call_site());
            let n = proc_macro2::Literal::u64_unsuffixed(nanos / per);
            quote!(::cachelite::__private::Duration::#unit(#n))
        }
        Seconds::Expr(e) => {
            quote_spanned!(e.span()=> ::cachelite::__private::duration(#e))
        }
    }
}

/// An expression of paths (constants) and literals joined by operators:
/// evaluable at compile time. It needs a path, whose type picks the check:
/// `60 * 0` alone has no type until inference picks one, and is left to the
/// check at the cache's creation.
fn is_const_expr(e: &syn::Expr) -> bool {
    fn walk(e: &syn::Expr, paths: &mut usize) -> bool {
        match e {
            syn::Expr::Path(p) => {
                *paths += 1;
                p.qself.is_none()
            }
            syn::Expr::Lit(_) => true,
            syn::Expr::Binary(b) => walk(&b.left, paths) && walk(&b.right, paths),
            syn::Expr::Unary(u) => !matches!(u.op, syn::UnOp::Deref(_)) && walk(&u.expr, paths),
            syn::Expr::Paren(p) => walk(&p.expr, paths),
            syn::Expr::Group(g) => walk(&g.expr, paths),
            syn::Expr::Cast(c) => walk(&c.expr, paths),
            _ => false,
        }
    }
    let mut paths = 0;
    walk(e, &mut paths) && paths > 0
}

/// `tokens` with every span set to `span`.
fn respan(tokens: &TokenStream, span: Span) -> TokenStream {
    tokens
        .clone()
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}
