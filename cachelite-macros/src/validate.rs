//! Rules that involve several arguments, or the arguments and the fn. Every
//! broken rule is reported, each on the token that breaks it.

use quote::ToTokens;
use syn::Type;
use syn::spanned::Spanned;

use crate::Errors;
use crate::attr::MemoizeArgs;
use crate::item::{Func, Kind, Shape};
use crate::key::{self, KeyPlan};

/// What of the return value is cached.
pub(crate) enum Stored {
    /// The whole return value.
    Whole,
    /// The `Ok` value of a `Result` (its type when the signature shows it).
    Ok(Option<Type>),
    /// The `Some` value of an `Option`.
    Some(Option<Type>),
}

/// Everything expansion needs, checked.
pub(crate) struct Plan {
    pub(crate) args: MemoizeArgs,
    pub(crate) func: Func,
    pub(crate) key: KeyPlan,
    pub(crate) stored: Stored,
}

/// Checks the rules; `None` when one is broken (all are in `errors`).
pub(crate) fn validate(args: MemoizeArgs, func: Func, errors: &mut Errors) -> Option<Plan> {
    let before = errors.len();
    bounds(&args, errors);
    expiry(&args, errors);
    remote(&args, errors);
    spawn(&args, &func, errors);
    let stored = stored(&args, &func, errors);
    if args.key.is_none() {
        mutable_receiver(&func, errors);
    }
    let key = key::plan(&func, args.key.as_ref(), errors);
    let key = match (&args.scope, key) {
        (Some(scope), Some(key)) => crate::scope::wrap(&func, scope, key, errors),
        (_, key) => key,
    };
    receiver_in_key(&args, &func, key.as_ref(), errors);
    if errors.len() > before {
        return None;
    }
    Some(Plan {
        key: key?,
        stored,
        args,
        func,
    })
}

/// `capacity`, `max_bytes`, `unbounded` and `policy` agree.
fn bounds(args: &MemoizeArgs, errors: &mut Errors) {
    let Some(unbounded) = &args.unbounded else {
        return;
    };
    if args.capacity.is_some() {
        errors.push(syn::Error::new(
            unbounded.span(),
            "`unbounded` contradicts `capacity`: give `capacity` for a bounded cache, or `unbounded` alone",
        ));
    }
    if args.max_bytes.is_some() {
        errors.push(syn::Error::new(
            unbounded.span(),
            "`unbounded` contradicts `max_bytes`: give `max_bytes` for a cache bounded by size, or `unbounded` alone",
        ));
    }
    if let Some(policy) = &args.policy {
        errors.push(syn::Error::new(
            policy.span(),
            "`policy` has no effect on an `unbounded` cache, which never evicts: remove it, or bound the cache with `capacity`",
        ));
    }
}

/// `jitter`, `stale_ttl` and `clock` refine a `ttl`.
fn expiry(args: &MemoizeArgs, errors: &mut Errors) {
    if args.ttl.is_none() {
        let needs = [
            args.jitter.as_ref().map(|a| {
                (
                    a.span(),
                    "`jitter` adds a random extra to each entry's time to live",
                )
            }),
            args.stale_ttl.as_ref().map(|a| {
                (
                    a.span(),
                    "`stale_ttl` serves entries for a while past their time to live",
                )
            }),
            args.clock.as_ref().map(|a| {
                (
                    a.span(),
                    "`clock` is the time source for expiry, and nothing expires",
                )
            }),
        ];
        for (span, what) in needs.into_iter().flatten() {
            errors.push(syn::Error::new(
                span,
                format!("{what}, so it needs `ttl`: e.g. `#[memoize(ttl = 60, ...)]`"),
            ));
        }
    }
    if let (Some(stale), Some(single)) = (&args.stale_ttl, &args.singleflight)
        && !single.value.value
    {
        errors.push(syn::Error::new(
            stale.span(),
            "`stale_ttl` needs singleflight: one caller refreshes while the others get the stale value; remove `singleflight = false`",
        ));
    }
}

/// `spawn` runs an async fn's stale refreshes: it needs `stale_ttl`, an
/// async fn, and arguments the refresh can keep after the call.
fn spawn(args: &MemoizeArgs, func: &Func, errors: &mut Errors) {
    let Some(spawn) = &args.spawn else {
        return;
    };
    if args.stale_ttl.is_none() {
        errors.push(syn::Error::new(
            spawn.span(),
            "`spawn` runs refreshes of stale values in the background, so it needs `stale_ttl`: \
             e.g. `#[memoize(ttl = 60, stale_ttl = 10, spawn = ...)]`",
        ));
    }
    if func.kind == Kind::Sync {
        errors.push(syn::Error::new(
            spawn.span(),
            "`spawn` is for async fns: a sync fn's stale refresh already runs on cachelite's background refresh threads; remove `spawn`",
        ));
    } else if !func.args_outlive_call() {
        errors.push(syn::Error::new(
            spawn.span(),
            "`spawn` needs arguments that outlive the call (no `self`, no borrowed or lifetime-bound types): \
             the refresh runs after the call returns; take owned arguments (`String` for `&str`), \
             or remove `spawn` to refresh inline",
        ));
    }
}

/// `store` (a cache over Redis) and the attributes that only make sense on
/// a local cache; `local(...)` needs `store`.
fn remote(args: &MemoizeArgs, errors: &mut Errors) {
    if args.store.is_none() {
        if let Some(local) = &args.local {
            errors.push(syn::Error::new(
                local.span(),
                "`local(...)` configures the local tier in front of Redis, so it needs `store = ...`; \
                 a cache that is only local takes `capacity` and `ttl` directly",
            ));
        }
        return;
    }
    let local_only = [
        args.capacity.as_ref().map(|a| {
            (
                a.span(),
                "`capacity` bounds a local cache; over Redis, bound the local tier with \
                 `local(capacity = 1_000)` (Redis is bounded by its own `maxmemory`)",
            )
        }),
        args.policy.as_ref().map(|a| {
            (
                a.span(),
                "`policy` picks how a local cache evicts; over Redis, the local tier is LRU and \
                 Redis evicts by its own `maxmemory-policy`: remove it",
            )
        }),
        args.max_bytes.as_ref().map(|a| {
            (
                a.span(),
                "`max_bytes` bounds a local cache by size; over Redis, bound the local tier with \
                 `local(capacity = ..)` and Redis with its `maxmemory`",
            )
        }),
        args.unbounded.as_ref().map(|a| {
            (
                a.span(),
                "`unbounded` lifts a local cache's bound; over Redis, the local tier is bounded by \
                 `local(capacity = ..)` (10 000 by default) and Redis by its `maxmemory`: remove it",
            )
        }),
        args.clock.as_ref().map(|a| {
            (
                a.span(),
                "`clock` is a local cache's time source; Redis expires entries by its own clock, \
                 which cannot be replaced: remove it",
            )
        }),
        args.stale_ttl.as_ref().map(|a| {
            (
                a.span(),
                "`stale_ttl` is not available over Redis: an entry past its TTL is gone from Redis, \
                 so there is no stale value to serve; remove it",
            )
        }),
        args.scope.as_ref().map(|a| {
            (
                a.span(),
                "`scope` files entries under scope paths in a local cache; over Redis, put the \
                 scope in the key, e.g. `key = format!(\"org:{org}:user:{user}\")`",
            )
        }),
        args.version.as_ref().map(|a| {
            (
                a.span(),
                "`version` versions a local cache's data; over Redis, put the version in the \
                 store's namespace instead: `RedisStore::builder(url).namespace(\"users:v3\")`",
            )
        }),
        args.name.as_ref().map(|a| {
            (
                a.span(),
                "`name` registers a local cache; a cache over Redis is named by its store's \
                 namespace: remove it",
            )
        }),
        args.singleflight
            .as_ref()
            .filter(|s| !s.value.value)
            .map(|a| {
                (
                    a.span(),
                    "a cache over Redis always runs one computation per key in each process: \
                     remove `singleflight = false`",
                )
            }),
    ];
    for (span, what) in local_only.into_iter().flatten() {
        errors.push(syn::Error::new(span, what));
    }
}

/// Resolves the return shape with the `result`/`option` flags, and checks
/// `cache_none`/`cache_err` against it.
fn stored(args: &MemoizeArgs, func: &Func, errors: &mut Errors) -> Stored {
    let syntactic = func.shape.clone();
    let shape = match (&args.result, &args.option) {
        (Some(_), Some(option)) => {
            errors.push(syn::Error::new(
                option.span(),
                "`result` and `option` contradict each other: a return type is one or the other",
            ));
            syntactic
        }
        (Some(flag), None) => match syntactic {
            Shape::Result(t) => Shape::Result(t),
            Shape::Option(_) => {
                errors.push(syn::Error::new(
                    flag.span(),
                    format!(
                        "`result` says the fn returns a `Result`, but it returns `{}`",
                        ty(func)
                    ),
                ));
                Shape::Plain
            }
            Shape::Plain => Shape::Result(None),
        },
        (None, Some(flag)) => match syntactic {
            Shape::Option(t) => Shape::Option(t),
            Shape::Result(_) => {
                errors.push(syn::Error::new(
                    flag.span(),
                    format!(
                        "`option` says the fn returns an `Option`, but it returns `{}`",
                        ty(func)
                    ),
                ));
                Shape::Plain
            }
            Shape::Plain => Shape::Option(None),
        },
        (None, None) => syntactic,
    };
    if let Some(flag) = &args.cache_none
        && !matches!(shape, Shape::Option(_))
    {
        errors.push(syn::Error::new(
            flag.span(),
            format!(
                "`cache_none` applies to fns returning `Option`, but `{}` returns `{}`; if that is an alias of `Option`, add the `option` flag",
                func.ident(),
                ty(func)
            ),
        ));
    }
    if let Some(flag) = &args.cache_err
        && !matches!(shape, Shape::Result(_))
    {
        errors.push(syn::Error::new(
            flag.span(),
            format!(
                "`cache_err` applies to fns returning `Result`, but `{}` returns `{}`; if that is an alias of `Result`, add the `result` flag",
                func.ident(),
                ty(func)
            ),
        ));
    }
    match shape {
        Shape::Result(_) if args.cache_err.is_some() => Stored::Whole,
        Shape::Option(_) if args.cache_none.is_some() => Stored::Whole,
        Shape::Result(t) => Stored::Ok(t),
        Shape::Option(t) => Stored::Some(t),
        Shape::Plain => Stored::Whole,
    }
}

/// The return value's type as written, for messages.
fn ty(func: &Func) -> String {
    func.output
        .to_token_stream()
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" ,", ",")
        .replace(" :: ", "::")
}

/// `&mut self` without `key`: the receiver is never part of the default key,
/// and a mutable one suggests the result depends on state the key misses.
fn mutable_receiver(func: &Func, errors: &mut Errors) {
    if let Some(receiver) = &func.receiver
        && let Some(m) = receiver.mutable
    {
        errors.push(syn::Error::new(
            m.span(),
            "a method taking `&mut self` is memoized only with an explicit `key = ...` (e.g. `key = (self.id, arg)`): \
             the receiver is not part of the default key, and a cache hit skips the body's writes through it",
        ));
    }
}

/// A method whose body reads `self` gives results that depend on the
/// instance, which the default key (the arguments) does not see: it needs
/// a `key` that reads `self`, or `shared_across_instances` to say that one
/// entry per argument is right for every instance.
fn receiver_in_key(args: &MemoizeArgs, func: &Func, key: Option<&KeyPlan>, errors: &mut Errors) {
    let shared = args.shared_across_instances.as_ref();
    let Some(receiver) = &func.receiver else {
        if let Some(flag) = shared {
            errors.push(syn::Error::new(
                flag.span(),
                format!(
                    "`shared_across_instances` applies to methods taking `&self`, and `{}` has no receiver: remove it",
                    func.ident()
                ),
            ));
        }
        return;
    };
    if let (Some(flag), Some(key)) = (shared, key)
        && key.uses_self
    {
        errors.push(syn::Error::new(
            flag.span(),
            "`shared_across_instances` contradicts a `key` that reads `self`: with the receiver in the key, \
             each instance has its own entries; remove one of them",
        ));
        return;
    }
    if args.key.is_some() || shared.is_some() || receiver.mutable.is_some() {
        return;
    }
    let Some(first) = first_self(func.block.to_token_stream()) else {
        return;
    };
    let name = func.ident();
    let args_list = func
        .params
        .iter()
        .filter(|p| matches!(p.binding, crate::item::Binding::Ident(_)))
        .map(|p| p.name.to_string())
        .collect::<Vec<_>>();
    let types = func
        .params
        .iter()
        .filter(|p| matches!(p.binding, crate::item::Binding::Ident(_)))
        .map(|p| type_name(&p.ty))
        .collect::<Vec<_>>();
    let (key_ty, key_expr) = if args_list.is_empty() {
        ("Id".to_owned(), "self.id".to_owned())
    } else {
        (
            format!("(Id, {})", types.join(", ")),
            format!("(self.id, {})", args_list.join(", ")),
        )
    };
    errors.push(syn::Error::new(
        first,
        format!(
            "`{name}` reads `self`, but its cache key is only its arguments: every instance would share one entry \
             per argument, so one instance could get a result another computed. Either put the receiver in the key, \
             e.g. `#[memoize(key: {key_ty} = {key_expr})]` (`Id` being the type of the field that identifies the \
             instance), or, if the result is the same for every instance, say so with \
             `#[memoize(shared_across_instances)]`"
        ),
    ));
}

/// The span of the first `self` in `tokens`.
fn first_self(tokens: proc_macro2::TokenStream) -> Option<proc_macro2::Span> {
    tokens.into_iter().find_map(|tt| match tt {
        proc_macro2::TokenTree::Ident(i) if i == "self" => Some(i.span()),
        proc_macro2::TokenTree::Group(g) => first_self(g.stream()),
        _ => None,
    })
}

/// A type as written, for messages.
fn type_name(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" ,", ",")
        .replace(" :: ", "::")
        .replace("& ", "&")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::TokenStream;
    use quote::quote;
    use syn::parse::Parser;

    fn check(attr: TokenStream, item: TokenStream) -> String {
        let mut errors = Errors::default();
        let args = MemoizeArgs::parse.parse2(attr);
        let item = syn::parse2(item);
        match (args, item) {
            (Ok(args), Ok(item)) => {
                if let Some(func) = Func::from_syn(item, &mut errors) {
                    validate(args, func, &mut errors);
                }
            }
            (Err(e), _) | (_, Err(e)) => errors.push(e),
        }
        errors
            .finish()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn contradictions() {
        let f = quote!(
            fn f(x: u8) -> u8 {
                x
            }
        );
        assert!(
            check(quote!(unbounded, capacity = 3), f.clone()).contains("contradicts `capacity`")
        );
        assert!(check(quote!(unbounded, policy = "lfu"), f.clone()).contains("no effect"));
        assert!(check(quote!(jitter = 1), f.clone()).contains("needs `ttl`"));
        assert!(
            check(
                quote!(ttl = 1, stale_ttl = 1, singleflight = false),
                f.clone()
            )
            .contains("needs singleflight")
        );
        assert!(check(quote!(ttl = 1, stale_ttl = 1), f).is_empty());
    }

    #[test]
    fn flags_must_match_the_return_type() {
        let f = quote!(
            fn f(x: u8) -> Vec<u8> {
                vec![x]
            }
        );
        assert!(check(quote!(cache_none), f.clone()).contains("returns `Vec<u8>`"));
        assert!(check(quote!(cache_err), f.clone()).contains("add the `result` flag"));
        assert!(check(quote!(result, cache_err), f).is_empty());
        let f = quote!(
            fn f(x: u8) -> Option<u8> {
                Some(x)
            }
        );
        assert!(check(quote!(result), f.clone()).contains("returns `Option<u8>`"));
        assert!(check(quote!(cache_none), f).is_empty());
    }

    #[test]
    fn methods_reading_self_need_the_receiver_in_the_key() {
        let f = quote!(
            fn f(&self, x: u8) -> u8 {
                self.base + x
            }
        );
        let e = check(quote!(), f.clone());
        assert!(e.contains("reads `self`"), "{e}");
        assert!(e.contains("key: (Id, u8) = (self.id, x)"), "{e}");
        assert!(e.contains("shared_across_instances"), "{e}");
        assert!(check(quote!(key: (u8, u8) = (self.base, x)), f.clone()).is_empty());
        assert!(check(quote!(shared_across_instances), f.clone()).is_empty());
        let e = check(
            quote!(shared_across_instances, key: (u8, u8) = (self.base, x)),
            f,
        );
        assert!(e.contains("contradicts"), "{e}");
        let untouched = quote!(
            fn f(&self, x: u8) -> u8 {
                x
            }
        );
        assert!(check(quote!(), untouched).is_empty());
        let free = quote!(
            fn f(x: u8) -> u8 {
                x
            }
        );
        assert!(check(quote!(shared_across_instances), free).contains("no receiver"));
    }

    #[test]
    fn mutable_receivers_need_a_key() {
        let f = quote!(
            fn f(&mut self, x: u8) -> u8 {
                x
            }
        );
        assert!(check(quote!(), f.clone()).contains("`&mut self`"));
        assert!(check(quote!(key = x), f).is_empty());
    }
}
