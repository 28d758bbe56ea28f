//! `#[memoize(...)]` arguments: parsed into typed values, each kept with the
//! token that named it so that later errors point at it.
//!
//! Parsing has two steps. Syntax first: a comma-separated list of `name`,
//! `name = expr` or `key: Type = expr`. Then each value is read by the
//! small reader of its kind (seconds, a count, a string literal, a bool, a
//! closure...), and every mistake is collected rather than the first one
//! stopping the others.

use proc_macro2::Span;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, LitStr, Token, Type, UnOp};

use crate::Errors;

/// Keywords the parser peeks for.
mod kw {
    // `key` alone takes a type: `key: Type = expr`.
    syn::custom_keyword!(key);
}

/// Every attribute, for "unknown attribute" errors.
pub(crate) const VALID: &[&str] = &[
    "ttl",
    "policy",
    "capacity",
    "max_items",
    "max_bytes",
    "unbounded",
    "key",
    "cache_none",
    "cache_err",
    "tags",
    "tags_from_result",
    "condition",
    "jitter",
    "stale_ttl",
    "spawn",
    "singleflight",
    "name",
    "clock",
    "result",
    "option",
    "shared_across_instances",
    "store",
    "local",
    "version",
    "scope",
];

/// Names other memoization libraries use, with what to write here. Looked
/// up before the edit-distance guess, which would only find a lookalike.
const SYNONYMS: &[(&str, &str)] = &[
    // `cached`, moka, cachetools, functools, lru-cache and friends.
    ("time", "`ttl` (seconds, or a unit: `ttl = \"5m\"`)"),
    ("time_to_live", "`ttl`"),
    ("ttl_secs", "`ttl`"),
    ("ttl_seconds", "`ttl`"),
    ("expire", "`ttl`"),
    ("expires", "`ttl`"),
    ("expiry", "`ttl`"),
    ("expiration", "`ttl`"),
    ("timeout", "`ttl`"),
    ("lifetime", "`ttl`"),
    ("max_age", "`ttl`"),
    (
        "time_to_idle",
        "`ttl` (entries expire a fixed time after they are stored, not after their last use)",
    ),
    (
        "time_refresh",
        "`ttl` (a hit does not extend an entry's time to live)",
    ),
    (
        "refresh",
        "`stale_ttl` (serve the old value while one caller refreshes it)",
    ),
    ("size", "`capacity`"),
    ("maxsize", "`capacity`"),
    ("max_size", "`capacity`"),
    ("max_capacity", "`capacity`"),
    ("max_entries", "`capacity`"),
    ("max_len", "`capacity`"),
    ("limit", "`capacity`"),
    ("cap", "`capacity`"),
    ("lru_cache_size", "`capacity`"),
    ("max_weight", "`max_bytes`"),
    ("max_memory", "`max_bytes`"),
    (
        "weigher",
        "`max_bytes` (entries are weighed by their `DeepSize`)",
    ),
    ("unlimited", "`unbounded`"),
    ("unbound", "`unbounded`"),
    ("no_limit", "`unbounded`"),
    ("eviction", "`policy`"),
    ("eviction_policy", "`policy`"),
    ("strategy", "`policy`"),
    ("algorithm", "`policy`"),
    (
        "convert",
        "`key` (`key = format!(\"{id}\")` or `key: Type = expr`)",
    ),
    ("key_fn", "`key`"),
    (
        "ty",
        "`capacity`, `ttl` and `policy` (the cache type is chosen for you)",
    ),
    (
        "typed",
        "nothing: keys are always typed, `f(3u8)` and `f(3u16)` cannot share an entry",
    ),
    ("sync_writes", "`singleflight` (on by default)"),
    ("single_flight", "`singleflight`"),
    ("dedupe", "`singleflight`"),
    ("dedup", "`singleflight`"),
    ("coalesce", "`singleflight`"),
    ("stale", "`stale_ttl`"),
    ("stale_while_revalidate", "`stale_ttl`"),
    ("grace", "`stale_ttl`"),
    ("spawner", "`spawn`"),
    ("executor", "`spawn`"),
    ("ttl_jitter", "`jitter`"),
    ("predicate", "`condition`"),
    ("cache_if", "`condition`"),
    ("only_if", "`condition`"),
    ("filter", "`condition`"),
    ("cache_name", "`name`"),
    ("shared", "`shared_across_instances`"),
    (
        "redis",
        "`store` (`store = RedisStore::builder(url).namespace(\"users\")`)",
    ),
    ("backend", "`store`"),
    ("remote", "`store`"),
    ("l1", "`local(capacity = .., ttl = ..)`"),
    ("ignore_self", "`shared_across_instances`"),
];

/// The eviction policies the runtime offers, in `Policy::ALL` order.
///
/// Kept in sync with `cachelite_runtime::Policy::ALL`: the facade's tests
/// compare the two lists, and the generated code looks each name up in
/// the runtime at compile time.
pub(crate) const POLICIES: &[&str] = &["lru", "lfu", "fifo", "random", "tinylfu", "adaptive"];

/// A value together with the attribute name that introduced it.
pub(crate) struct Arg<T> {
    /// The attribute's name token, e.g. the `ttl` of `ttl = 60`.
    pub(crate) name: Ident,
    pub(crate) value: T,
}

impl<T> Arg<T> {
    pub(crate) fn span(&self) -> Span {
        self.name.span()
    }
}

/// A duration in seconds: `60`, `0.5`, or an expression (a `Duration`, or
/// a number of seconds).
pub(crate) enum Seconds {
    /// A literal, already converted to nanoseconds.
    Nanos(u64),
    /// An expression evaluated when the cache is built.
    Expr(Box<Expr>),
}

/// A positive count: a literal (checked here) or an expression.
pub(crate) enum Count {
    Lit(syn::LitInt),
    Expr(Box<Expr>),
}

/// `key = expr` or `key: Type = expr`.
pub(crate) struct KeySpec {
    pub(crate) ty: Option<Type>,
    pub(crate) expr: Expr,
}

/// A flag: present or not, remembered by its token.
pub(crate) type Flag = Option<Ident>;

/// The typed arguments of `#[memoize(...)]`.
#[derive(Default)]
pub(crate) struct MemoizeArgs {
    pub(crate) ttl: Option<Arg<Seconds>>,
    pub(crate) policy: Option<Arg<LitStr>>,
    pub(crate) capacity: Option<Arg<Count>>,
    pub(crate) max_bytes: Option<Arg<Count>>,
    pub(crate) unbounded: Flag,
    pub(crate) key: Option<Arg<KeySpec>>,
    pub(crate) cache_none: Flag,
    pub(crate) cache_err: Flag,
    pub(crate) tags: Option<Arg<Expr>>,
    /// `tags_from_result = |v: &T| ...`: more tags, computed from the value.
    pub(crate) tags_from_result: Option<Arg<Expr>>,
    pub(crate) condition: Option<Arg<Expr>>,
    pub(crate) jitter: Option<Arg<Seconds>>,
    pub(crate) stale_ttl: Option<Arg<Seconds>>,
    /// `spawn = expr`: what runs an async fn's stale refreshes.
    pub(crate) spawn: Option<Arg<Expr>>,
    pub(crate) singleflight: Option<Arg<LitBool>>,
    pub(crate) name: Option<Arg<LitStr>>,
    pub(crate) clock: Option<Arg<Expr>>,
    pub(crate) result: Flag,
    pub(crate) option: Flag,
    /// A method's results are shared by every instance (`self` is read but
    /// not part of the key, on purpose).
    pub(crate) shared_across_instances: Flag,
    /// `store = expr`: the cache is a two-tier cache over this Redis store.
    pub(crate) store: Option<Arg<Expr>>,
    /// `local(capacity = .., ttl = ..)`: the local tier in front of Redis.
    pub(crate) local: Option<Arg<LocalArgs>>,
    /// `version = 3`: the version of the cached data.
    pub(crate) version: Option<Arg<Expr>>,
    /// `scope(org = org_id, user = user_id)`: the levels, top first, and
    /// the expression giving each level's id.
    pub(crate) scope: Option<Arg<Vec<(Ident, Expr)>>>,
}

/// What `local(...)` accepts.
pub(crate) const LOCAL_VALID: &[&str] = &["capacity", "ttl"];

/// `local(capacity = .., ttl = ..)`.
#[derive(Default)]
pub(crate) struct LocalArgs {
    pub(crate) capacity: Option<Arg<Count>>,
    pub(crate) ttl: Option<Arg<Seconds>>,
}

/// One `name`, `name = value` or `key: Type = value`, before its value is read.
struct RawArg {
    name: Ident,
    ty: Option<Type>,
    value: Option<Expr>,
    /// `name(a = 1, b)`: a nested list.
    nested: Option<(Span, Punctuated<RawArg, Token![,]>)>,
}

impl Parse for RawArg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // Any identifier, keywords included, so that `type = 1` gets an
        // "unknown attribute" error rather than a parse error.
        let name = if input.peek(kw::key) {
            let k: kw::key = input.parse()?;
            Ident::new("key", k.span)
        } else {
            input.call(Ident::parse_any).map_err(|e| {
                syn::Error::new(
                    e.span(),
                    format!(
                        "expected a `#[memoize]` attribute such as `ttl = 60`; valid attributes: {}",
                        list(VALID)
                    ),
                )
            })?
        };
        let ty = if name == "key" && input.peek(Token![:]) && !input.peek(Token![::]) {
            input.parse::<Token![:]>()?;
            Some(input.parse::<Type>()?)
        } else {
            None
        };
        if ty.is_none() && input.peek(syn::token::Paren) {
            let content;
            let paren = syn::parenthesized!(content in input);
            let nested = Punctuated::<RawArg, Token![,]>::parse_terminated(&content)?;
            return Ok(RawArg {
                name,
                ty,
                value: None,
                nested: Some((paren.span.join(), nested)),
            });
        }
        let value = if input.peek(Token![=]) {
            input.parse::<Token![=]>()?;
            Some(input.parse::<Expr>()?)
        } else if ty.is_some() {
            return Err(input.error("expected `= expr` after the key's type: `key: Type = expr`"));
        } else {
            None
        };
        Ok(RawArg {
            name,
            ty,
            value,
            nested: None,
        })
    }
}

impl MemoizeArgs {
    /// Parses the attribute's tokens, reporting every mistake at once.
    pub(crate) fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let raw = Punctuated::<RawArg, Token![,]>::parse_terminated(input)?;
        let mut errors = Errors::default();
        let mut args = MemoizeArgs::default();
        let mut seen: Vec<Ident> = Vec::new();
        for arg in raw {
            let canonical = |i: &Ident| match i.unraw().to_string().as_str() {
                "max_items" => "capacity".to_owned(),
                other => other.to_owned(),
            };
            let name = canonical(&arg.name);
            if let Some(first) = seen.iter().find(|s| canonical(s) == name) {
                errors.push(duplicate(first, &arg.name));
                continue;
            }
            seen.push(arg.name.clone());
            args.add(arg, &mut errors);
        }
        errors.finish()?;
        Ok(args)
    }

    fn add(&mut self, raw: RawArg, errors: &mut Errors) {
        let RawArg {
            name,
            ty,
            value,
            nested,
        } = raw;
        let key = name.unraw().to_string();
        match (key.as_str(), nested) {
            ("local", Some((_, list))) => {
                let local = local_args(list, errors);
                self.local = Some(Arg { name, value: local });
                return;
            }
            ("scope", Some((span, list))) => {
                let levels = scope_args(span, list, errors);
                self.scope = Some(Arg {
                    name,
                    value: levels,
                });
                return;
            }
            ("scope", None) => {
                errors.push(syn::Error::new(
                    name.span(),
                    format!("`scope` takes a list of levels: {}", example("scope")),
                ));
                return;
            }
            ("local", None) => {
                errors.push(syn::Error::new(
                    name.span(),
                    "`local` takes a list: `local(capacity = 1_000, ttl = 5)`",
                ));
                return;
            }
            (_, Some((span, _))) => {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "`{name}` takes a value, not a list: {}",
                        example(&name.to_string())
                    ),
                ));
                return;
            }
            (_, None) => {}
        }
        match key.as_str() {
            "ttl" => set(&mut self.ttl, name, value, seconds, errors),
            "jitter" => set(&mut self.jitter, name, value, seconds, errors),
            "stale_ttl" => set(&mut self.stale_ttl, name, value, seconds, errors),
            "policy" => set(&mut self.policy, name, value, policy, errors),
            "capacity" | "max_items" => set(&mut self.capacity, name, value, count, errors),
            "max_bytes" => set(&mut self.max_bytes, name, value, count, errors),
            "name" => set(&mut self.name, name, value, registry_name, errors),
            "singleflight" => set(&mut self.singleflight, name, value, lit_bool, errors),
            "tags" => set(&mut self.tags, name, value, Ok, errors),
            "tags_from_result" => {
                set(
                    &mut self.tags_from_result,
                    name,
                    value,
                    tags_from_result,
                    errors,
                );
            }
            "clock" => set(&mut self.clock, name, value, Ok, errors),
            "spawn" => set(&mut self.spawn, name, value, Ok, errors),
            "condition" => set(&mut self.condition, name, value, condition, errors),
            "key" => {
                let read = |expr: Expr| Ok(KeySpec { ty, expr });
                set(&mut self.key, name, value, read, errors);
            }
            "unbounded" => flag(&mut self.unbounded, name, value, errors),
            "cache_none" => flag(&mut self.cache_none, name, value, errors),
            "cache_err" => flag(&mut self.cache_err, name, value, errors),
            "result" => flag(&mut self.result, name, value, errors),
            "option" => flag(&mut self.option, name, value, errors),
            "shared_across_instances" => {
                flag(&mut self.shared_across_instances, name, value, errors);
            }
            "store" => set(&mut self.store, name, value, Ok, errors),
            "version" => set(&mut self.version, name, value, version, errors),
            _ => errors.push(unknown(&name)),
        }
    }
}

/// The settings of `local(...)`, each mistake collected.
fn local_args(args: Punctuated<RawArg, Token![,]>, errors: &mut Errors) -> LocalArgs {
    let mut local = LocalArgs::default();
    let mut seen: Vec<Ident> = Vec::new();
    for arg in args {
        let RawArg {
            name,
            value,
            nested,
            ..
        } = arg;
        if let Some(first) = seen.iter().find(|s| s.unraw() == name.unraw()) {
            errors.push(duplicate(first, &name));
            continue;
        }
        seen.push(name.clone());
        if let Some((span, _)) = nested {
            errors.push(syn::Error::new(
                span,
                format!("`{name}` takes a value, not a list"),
            ));
            continue;
        }
        match name.unraw().to_string().as_str() {
            "capacity" | "max_items" => set(&mut local.capacity, name, value, count, errors),
            "ttl" => set(&mut local.ttl, name, value, seconds, errors),
            other => errors.push(syn::Error::new(
                name.span(),
                format!(
                    "unknown setting `{other}` of the local tier; `local(...)` takes {}, e.g. `local(capacity = 1_000, ttl = 5)`",
                    list(LOCAL_VALID)
                ),
            )),
        }
    }
    local
}

/// The levels of `scope(...)`, each `level = expr`, each mistake collected.
fn scope_args(
    span: Span,
    args: Punctuated<RawArg, Token![,]>,
    errors: &mut Errors,
) -> Vec<(Ident, Expr)> {
    let mut levels: Vec<(Ident, Expr)> = Vec::new();
    if args.is_empty() {
        errors.push(syn::Error::new(
            span,
            format!(
                "`scope(...)` needs at least one level: {}",
                example("scope")
            ),
        ));
    }
    for arg in args {
        let RawArg {
            name,
            value,
            nested,
            ty,
        } = arg;
        if levels.iter().any(|(s, _)| s.unraw() == name.unraw()) {
            errors.push(syn::Error::new(
                name.span(),
                format!("scope level `{name}` is given twice: each level comes once, top first"),
            ));
            continue;
        }
        let value = match (value, nested, ty) {
            (Some(v), None, None) => v,
            _ => {
                errors.push(syn::Error::new(
                    name.span(),
                    format!(
                        "scope level `{name}` needs the argument that names it: `{name} = {name}_id`, as in {}",
                        example("scope")
                    ),
                ));
                continue;
            }
        };
        levels.push((name, value));
    }
    levels
}

/// Fills an attribute's slot with its value, read by `read`.
fn set<T>(
    slot: &mut Option<Arg<T>>,
    name: Ident,
    value: Option<Expr>,
    read: impl FnOnce(Expr) -> syn::Result<T>,
    errors: &mut Errors,
) {
    let Some(value) = value else {
        errors.push(syn::Error::new(
            name.span(),
            format!("`{name}` needs a value: {}", example(&name.to_string())),
        ));
        return;
    };
    if let Some(value) = errors.check(read(value)) {
        *slot = Some(Arg { name, value });
    }
}

/// Sets a flag; flags take no value.
fn flag(slot: &mut Flag, name: Ident, value: Option<Expr>, errors: &mut Errors) {
    if let Some(value) = value {
        errors.push(syn::Error::new(
            value.span(),
            format!("`{name}` is a flag and takes no value: write `#[memoize({name})]`"),
        ));
    } else {
        *slot = Some(name);
    }
}

/// Any attribute given twice: an error on the second.
fn duplicate(first: &Ident, again: &Ident) -> syn::Error {
    if first.unraw() == again.unraw() {
        syn::Error::new(
            again.span(),
            format!("duplicate attribute `{again}`: give it once"),
        )
    } else {
        syn::Error::new(
            again.span(),
            format!(
                "`{again}` and `{first}` are the same attribute (`max_items` is an alias of `capacity`): give only one"
            ),
        )
    }
}

fn unknown(name: &Ident) -> syn::Error {
    let given = name.unraw().to_string();
    let synonym = SYNONYMS
        .iter()
        .find(|(other, _)| given.eq_ignore_ascii_case(other))
        .map(|(_, ours)| format!("did you mean {ours}? "));
    let hint = synonym.unwrap_or_else(|| {
        VALID
            .iter()
            .map(|v| (edit_distance(&given, v), *v))
            .filter(|(d, v)| *d <= 2.max(v.len() / 3))
            .min()
            .map(|(_, v)| format!("did you mean `{v}`? "))
            .unwrap_or_default()
    });
    syn::Error::new(
        name.span(),
        format!(
            "unknown `#[memoize]` attribute `{given}`; {hint}valid attributes: {}",
            list(VALID)
        ),
    )
}

/// An example of the attribute, for "needs a value" errors.
fn example(name: &str) -> &'static str {
    match name {
        "ttl" => {
            "`ttl = 60` (seconds), `ttl = \"5m\"`, `ttl = 0.5` or `ttl = Duration::from_millis(500)`"
        }
        "jitter" => "`jitter = 5` (seconds of random extra TTL)",
        "stale_ttl" => "`stale_ttl = 30` (seconds a stale value may still be served)",
        "policy" => "`policy = \"lfu\"`",
        "capacity" | "max_items" => "`capacity = 1_000`",
        "max_bytes" => "`max_bytes = 1_000_000`",
        "name" => "`name = \"users::by_id\"`",
        "store" => "`store = RedisStore::builder(url).namespace(\"users\")`",
        "version" => "`version = 3`",
        "scope" => {
            "`scope(org = org_id, user = user_id)` (levels top first, each with the argument that names it)"
        }
        "singleflight" => "`singleflight = false`",
        "tags" => "`tags = [format!(\"user:{id}\")]`",
        "tags_from_result" => {
            "`tags_from_result = |users: &Vec<User>| users.iter().map(|u| format!(\"user:{}\", u.id))`"
        }
        "clock" => "`clock = CLOCK.clone()`",
        "spawn" => "`spawn = cachelite::tokio_spawner()` or `spawn = |f| { tokio::spawn(f); }`",
        "condition" => "`condition = |value: &T| ...`",
        "key" => "`key = format!(\"user:{id}\")` or `key: u64 = id`",
        _ => "`name = value`",
    }
}

/// `a`, `b`, `c` as "`a`, `b`, `c`".
pub(crate) fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Strips parentheses and invisible groups.
fn peel(expr: &Expr) -> &Expr {
    match expr {
        Expr::Paren(p) => peel(&p.expr),
        Expr::Group(g) => peel(&g.expr),
        e => e,
    }
}

/// `ttl`, `jitter`, `stale_ttl`: positive seconds, or an expression.
fn seconds(expr: Expr) -> syn::Result<Seconds> {
    let inner = peel(&expr);
    match inner {
        Expr::Lit(ExprLit { lit, .. }) => match lit {
            Lit::Int(int) => {
                let secs: u128 = int.base10_parse().map_err(|_| {
                    syn::Error::new(int.span(), "expected a whole number of seconds")
                })?;
                if !matches!(int.suffix(), "" | "u64" | "u32" | "usize" | "u128") {
                    return Err(syn::Error::new(
                        int.span(),
                        "seconds take no type suffix: write `ttl = 60`",
                    ));
                }
                if secs == 0 {
                    return Err(zero_duration(int.span()));
                }
                let nanos = secs
                    .checked_mul(1_000_000_000)
                    .and_then(|n| u64::try_from(n).ok());
                nanos.map(Seconds::Nanos).ok_or_else(|| {
                    syn::Error::new(
                        int.span(),
                        "this duration is too long (at most about 584 years)",
                    )
                })
            }
            Lit::Float(float) => {
                let secs: f64 = float
                    .base10_parse()
                    .map_err(|_| syn::Error::new(float.span(), "expected a number of seconds"))?;
                if !secs.is_finite() || secs > 18_000_000_000.0 {
                    return Err(syn::Error::new(
                        float.span(),
                        "this duration is too long (at most about 584 years)",
                    ));
                }
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let nanos = (secs * 1e9).round() as u64;
                if nanos == 0 {
                    return Err(zero_duration(float.span()));
                }
                Ok(Seconds::Nanos(nanos))
            }
            Lit::Str(s) => duration_str(s),
            other => Err(syn::Error::new(
                other.span(),
                "expected a number of seconds (`60`, `0.5`) or a `Duration` expression",
            )),
        },
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => Err(syn::Error::new(
            expr.span(),
            "a duration cannot be negative: give a positive number of seconds",
        )),
        _ => Ok(Seconds::Expr(Box::new(expr))),
    }
}

/// The units a duration string may end with, as the CLI reads them.
const UNITS: &[(&str, u64)] = &[
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// `"500ms"`, `"30s"`, `"5m"`, `"2h"`, `"1d"`, `"1.5"` (seconds).
fn duration_str(lit: &LitStr) -> syn::Result<Seconds> {
    let text = lit.value();
    let t = text.trim();
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let per = match unit {
        "" => 1_000_000_000,
        _ => UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, per)| *per)
            .ok_or_else(|| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown unit `{unit}` in `\"{text}\"`; a duration string is a number and one of the units \
                         `ms`, `s`, `m`, `h`, `d` (e.g. `\"500ms\"`, `\"5m\"`), or write seconds without quotes"
                    ),
                )
            })?,
    };
    let number = number.trim().replace('_', "");
    if number.starts_with('-') {
        return Err(syn::Error::new(
            lit.span(),
            "a duration cannot be negative: give a positive number",
        ));
    }
    let nanos = if let Ok(whole) = number.parse::<u128>() {
        whole
            .checked_mul(u128::from(per))
            .and_then(|n| u64::try_from(n).ok())
    } else if let Ok(real) = number.parse::<f64>() {
        #[allow(clippy::cast_precision_loss)]
        let nanos = real * per as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        (nanos.is_finite() && nanos < 1.8e19).then(|| nanos.round() as u64)
    } else {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "expected a duration such as `\"500ms\"`, `\"30s\"`, `\"5m\"`, `\"2h\"` or `\"1d\"`, found `\"{text}\"`"
            ),
        ));
    };
    match nanos {
        Some(0) => Err(zero_duration(lit.span())),
        Some(n) => Ok(Seconds::Nanos(n)),
        None => Err(syn::Error::new(
            lit.span(),
            "this duration is too long (at most about 584 years)",
        )),
    }
}

fn zero_duration(span: Span) -> syn::Error {
    syn::Error::new(
        span,
        "a duration must be greater than zero; leave the attribute out to disable it",
    )
}

/// `capacity`, `max_items`, `max_bytes`: a positive count.
fn count(expr: Expr) -> syn::Result<Count> {
    match peel(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            let n: u128 = int
                .base10_parse()
                .map_err(|_| syn::Error::new(int.span(), "expected a whole number"))?;
            if n == 0 {
                return Err(syn::Error::new(
                    int.span(),
                    "must be at least 1; for a cache with no bound, use `unbounded`",
                ));
            }
            if n > u128::from(u64::MAX) {
                return Err(syn::Error::new(int.span(), "this number is too large"));
            }
            Ok(Count::Lit(int.clone()))
        }
        Expr::Lit(ExprLit { lit, .. }) => Err(syn::Error::new(
            lit.span(),
            "expected a whole number, e.g. `capacity = 1_000`",
        )),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => {
            Err(syn::Error::new(expr.span(), "a count cannot be negative"))
        }
        _ => Ok(Count::Expr(Box::new(expr))),
    }
}

/// `policy = "lfu"` in any case, or a path ending in the policy's name
/// (`Policy::Lfu`, `cachelite::Policy::TinyLfu`): the runtime's name.
fn policy(expr: Expr) -> syn::Result<LitStr> {
    let (given, span) = match peel(&expr) {
        Expr::Path(p) if p.qself.is_none() => match p.path.segments.last() {
            Some(last) => (last.ident.unraw().to_string(), p.span()),
            None => return Err(syn::Error::new(p.span(), "expected a policy")),
        },
        _ => {
            let lit = lit_str(expr, "`policy = \"lru\"` or `policy = Policy::Lru`")?;
            (lit.value(), lit.span())
        }
    };
    let canonical = given.trim().to_ascii_lowercase().replace(['_', '-'], "");
    match POLICIES.iter().find(|p| **p == canonical) {
        Some(name) => Ok(LitStr::new(name, span)),
        None => Err(syn::Error::new(
            span,
            format!(
                "unknown eviction policy `{given}`; valid policies: {} (in any case, or as `Policy::Lfu`)",
                list(POLICIES)
            ),
        )),
    }
}

fn registry_name(expr: Expr) -> syn::Result<LitStr> {
    let lit = lit_str(expr, "`name = \"users::by_id\"`")?;
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new(lit.span(), "the name cannot be empty"));
    }
    Ok(lit)
}

fn lit_str(expr: Expr, example: &str) -> syn::Result<LitStr> {
    match peel(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(
            other.span(),
            format!("expected a string literal, e.g. {example}"),
        )),
    }
}

fn lit_bool(expr: Expr) -> syn::Result<LitBool> {
    match peel(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(b), ..
        }) => Ok(b.clone()),
        other => Err(syn::Error::new(
            other.span(),
            "expected `true` or `false`, e.g. `singleflight = false`",
        )),
    }
}

/// `condition`: a closure (or the path of a fn) taking `&T`, returning `bool`.
fn condition(expr: Expr) -> syn::Result<Expr> {
    match peel(&expr) {
        Expr::Closure(_) | Expr::Path(_) => Ok(expr),
        other => Err(syn::Error::new(
            other.span(),
            "`condition` takes a closure over the value to cache, e.g. `condition = |user: &User| user.active`",
        )),
    }
}

/// `version`: a whole number (0 and up), or an expression of type `u64`.
fn version(expr: Expr) -> syn::Result<Expr> {
    match peel(&expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => {
            int.base10_parse::<u64>().map_err(|_| {
                syn::Error::new(
                    int.span(),
                    "`version` takes a whole number that fits a `u64`",
                )
            })?;
            Ok(expr)
        }
        Expr::Lit(ExprLit { lit, .. }) => Err(syn::Error::new(
            lit.span(),
            "`version` takes a whole number, e.g. `version = 3`; bump it when the cached data changes meaning",
        )),
        Expr::Unary(u) if matches!(u.op, UnOp::Neg(_)) => Err(syn::Error::new(
            expr.span(),
            "`version` cannot be negative: it counts up from 0, e.g. `version = 3`",
        )),
        _ => Ok(expr),
    }
}

/// `tags_from_result`: a closure (or fn path) over the value to cache.
fn tags_from_result(expr: Expr) -> syn::Result<Expr> {
    match peel(&expr) {
        Expr::Closure(c) if c.inputs.len() != 1 || c.asyncness.is_some() => Err(syn::Error::new(
            c.span(),
            "`tags_from_result` takes a closure of one argument, the value to cache (a reference to it), \
             e.g. `tags_from_result = |users: &Vec<User>| users.iter().map(|u| format!(\"user:{}\", u.id))`",
        )),
        Expr::Closure(_) | Expr::Path(_) => Ok(expr),
        other => Err(syn::Error::new(
            other.span(),
            "`tags_from_result` takes a closure from the value to cache to its tags, \
             e.g. `tags_from_result = |users: &Vec<User>| users.iter().map(|u| format!(\"user:{}\", u.id))`",
        )),
    }
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;
    use syn::parse::Parser;

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<MemoizeArgs> {
        MemoizeArgs::parse.parse2(tokens)
    }

    fn error(tokens: proc_macro2::TokenStream) -> String {
        match parse(tokens) {
            Ok(_) => String::from("no error"),
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    #[test]
    fn reads_every_kind_of_value() {
        let args = parse(quote!(
            ttl = 0.5, policy = "lfu", capacity = 10, unbounded, key: u64 = id,
            singleflight = false, name = "n", tags = ["a"], condition = |v: &u8| *v > 1
        ))
        .unwrap_or_default();
        assert!(matches!(
            args.ttl.map(|a| a.value),
            Some(Seconds::Nanos(500_000_000))
        ));
        assert_eq!(args.policy.map(|p| p.value.value()).as_deref(), Some("lfu"));
        assert!(
            matches!(args.capacity.map(|a| a.value), Some(Count::Lit(n)) if n.base10_digits() == "10")
        );
        assert!(args.unbounded.is_some());
        assert!(args.key.is_some_and(|k| k.value.ty.is_some()));
        assert!(args.singleflight.is_some_and(|b| !b.value.value));
    }

    #[test]
    fn reports_every_mistake_at_once() {
        let e = error(quote!(
            ttl = 0,
            ttl = 1,
            capacity = 0,
            policy = "mru",
            bogus
        ));
        assert!(e.contains("greater than zero"), "{e}");
        assert!(e.contains("duplicate attribute `ttl`"), "{e}");
        assert!(e.contains("use `unbounded`"), "{e}");
        assert!(
            e.contains("`lru`, `lfu`, `fifo`, `random`, `tinylfu`"),
            "{e}"
        );
        assert!(e.contains("unknown `#[memoize]` attribute `bogus`"), "{e}");
    }

    #[test]
    fn aliases_share_a_slot() {
        let e = error(quote!(capacity = 1, max_items = 2));
        assert!(e.contains("alias"), "{e}");
    }

    #[test]
    fn suggests_the_nearest_attribute() {
        assert!(error(quote!(tll = 5)).contains("did you mean `ttl`?"));
        assert!(error(quote!(capacty = 5)).contains("did you mean `capacity`?"));
        assert!(!error(quote!(zzzzzz = 5)).contains("did you mean"));
    }

    #[test]
    fn values_of_the_wrong_kind() {
        assert!(error(quote!(ttl = "60 sec")).contains("unknown unit `sec`"));
        assert!(error(quote!(ttl = "0s")).contains("greater than zero"));
        assert!(error(quote!(ttl = -1)).contains("negative"));
        assert!(error(quote!(singleflight = "yes")).contains("`true` or `false`"));
        assert!(error(quote!(name = users)).contains("string literal"));
        assert!(error(quote!(cache_none = true)).contains("is a flag"));
        assert!(error(quote!(ttl)).contains("needs a value"));
        assert!(error(quote!(condition = true)).contains("closure"));
    }

    #[test]
    fn other_libraries_names_get_ours() {
        assert!(error(quote!(time = 5)).contains("did you mean `ttl`"));
        assert!(error(quote!(size = 5)).contains("did you mean `capacity`"));
        assert!(error(quote!(maxsize = 5)).contains("did you mean `capacity`"));
        assert!(error(quote!(max_capacity = 5)).contains("did you mean `capacity`"));
        assert!(error(quote!(time_to_live = 5)).contains("did you mean `ttl`"));
        assert!(error(quote!(time_refresh = true)).contains("`ttl`"));
        assert!(error(quote!(typed = true)).contains("always typed"));
    }

    #[test]
    fn duration_strings_take_units() {
        let nanos = |t| match parse(t).ok().and_then(|a| a.ttl).map(|a| a.value) {
            Some(Seconds::Nanos(n)) => n,
            _ => 0,
        };
        assert_eq!(nanos(quote!(ttl = "500ms")), 500_000_000);
        assert_eq!(nanos(quote!(ttl = "30s")), 30_000_000_000);
        assert_eq!(nanos(quote!(ttl = "5m")), 300_000_000_000);
        assert_eq!(nanos(quote!(ttl = "2h")), 7_200_000_000_000);
        assert_eq!(nanos(quote!(ttl = "1d")), 86_400_000_000_000);
        assert_eq!(nanos(quote!(ttl = "1.5")), 1_500_000_000);
        assert!(error(quote!(ttl = "5 minutes")).contains("`ms`, `s`, `m`, `h`, `d`"));
    }

    #[test]
    fn policies_in_any_case_or_as_paths() {
        let name = |t| {
            parse(t)
                .ok()
                .and_then(|a| a.policy)
                .map(|p| p.value.value())
        };
        assert_eq!(name(quote!(policy = "LRU")).as_deref(), Some("lru"));
        assert_eq!(name(quote!(policy = Policy::Lfu)).as_deref(), Some("lfu"));
        assert_eq!(
            name(quote!(policy = cachelite::Policy::TinyLfu)).as_deref(),
            Some("tinylfu")
        );
        assert!(error(quote!(policy = Policy::Mru)).contains("unknown eviction policy `Mru`"));
    }

    #[test]
    fn local_takes_a_list_of_its_own_settings() {
        let args =
            parse(quote!(store = REDIS, local(capacity = 10, ttl = "5s"))).unwrap_or_default();
        assert!(args.store.is_some());
        let local = args.local.map(|l| l.value).unwrap_or_default();
        assert!(matches!(
            local.capacity.map(|c| c.value),
            Some(Count::Lit(_))
        ));
        assert!(matches!(
            local.ttl.map(|t| t.value),
            Some(Seconds::Nanos(5_000_000_000))
        ));
        assert!(error(quote!(local = 5)).contains("takes a list"));
        assert!(error(quote!(tags(a))).contains("takes a value, not a list"));
        assert!(error(quote!(local(capacity = 0))).contains("at least 1"));
        assert!(error(quote!(local(capacity = 1, capacity = 2))).contains("duplicate"));
        assert!(error(quote!(local(policy = "lfu"))).contains("`capacity`, `ttl`"));
        assert!(error(quote!(redis = X)).contains("did you mean `store`"));
    }

    #[test]
    fn keywords_are_unknown_attributes_not_parse_errors() {
        assert!(error(quote!(type = 1)).contains("unknown `#[memoize]` attribute `type`"));
    }

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("ttl", "ttl"), 0);
        assert_eq!(edit_distance("tll", "ttl"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}
