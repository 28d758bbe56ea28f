//! The cache key: its type and the expression that builds it from the
//! arguments.
//!
//! By default the key is the arguments' owned forms: `()` for none, the
//! argument itself for one, a tuple for several. A borrowed argument is
//! keyed by what it points to, made owned with `ToOwned`: `&str` becomes a
//! `String`, `&[T]` a `Vec<T>`, `&Path` a `PathBuf`, `&T` a `T`, `&&str` a
//! `String`, and `Option<&T>` an `Option` of `T`'s owned form. `_`
//! arguments are left out (the body cannot read them); destructured
//! arguments are keyed whole.
//!
//! `key = expr` replaces the default. Its type is taken from the
//! signature when the expression is an argument or a tuple of arguments,
//! is `String` for `format!(..)`, `.to_string()` and `String::from(..)`,
//! and `T` for `expr as T`; anything else declares it: `key: T = expr`.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{Expr, GenericArgument, Ident, Lit, PathArguments, Type};

use crate::Errors;
use crate::attr::{Arg, KeySpec};
use crate::item::{Binding, Func, OwnedCheck, Param, peel};

/// The key of one memoized fn.
pub(crate) struct KeyPlan {
    /// Its type.
    pub(crate) ty: TokenStream,
    /// Builds it from the arguments, which stay usable afterwards.
    pub(crate) expr: TokenStream,
    /// The arguments it reads, by index into `Func::params`.
    pub(crate) params: Vec<usize>,
    /// Whether it reads `self`.
    pub(crate) uses_self: bool,
}

/// Plans the key, reporting every argument that cannot be part of it.
pub(crate) fn plan(
    func: &Func,
    key: Option<&Arg<KeySpec>>,
    errors: &mut Errors,
) -> Option<KeyPlan> {
    match key {
        None => default_key(func, errors),
        Some(spec) => custom_key(func, spec, errors),
    }
}

fn default_key(func: &Func, errors: &mut Errors) -> Option<KeyPlan> {
    let mut parts = Vec::new();
    let mut failed = false;
    for (index, param) in func.params.iter().enumerate() {
        if matches!(param.binding, Binding::Wild) {
            continue;
        }
        match owned(&param.ty, &param.name) {
            Ok(part) => parts.push((index, part)),
            Err(e) => {
                errors.push(e);
                failed = true;
            }
        }
    }
    if failed {
        return None;
    }
    let params = parts.iter().map(|(i, _)| *i).collect();
    let (ty, expr) = match parts.len() {
        1 => {
            let (_, part) = parts.remove(0);
            (part.ty, part.expr)
        }
        _ => {
            let types = parts.iter().map(|(_, p)| &p.ty);
            let exprs = parts.iter().map(|(_, p)| &p.expr);
            let mut ty = Group::new(Delimiter::Parenthesis, quote!(#(#types,)*));
            // Errors about the whole tuple (`(u64, NoHash)` is not `Hash`)
            // underline the parameter list.
            ty.set_span(func.sig.paren_token.span.join());
            (ty.into_token_stream(), quote!((#(#exprs,)*)))
        }
    };
    Some(KeyPlan {
        ty,
        expr,
        params,
        uses_self: false,
    })
}

fn custom_key(func: &Func, spec: &Arg<KeySpec>, errors: &mut Errors) -> Option<KeyPlan> {
    let KeySpec { ty, expr } = &spec.value;
    let reads = Reads::of(func, expr.to_token_stream());
    if let Some(name) = reads.destructured.first() {
        errors.push(syn::Error::new(
            name.span(),
            format!(
                "`key` cannot use `{name}`, a name bound by a destructuring pattern: bind the argument to a name \
                 (`pair: (u8, u8)`) and use that"
            ),
        ));
        return None;
    }
    if reads.params.is_empty() && !reads.self_ {
        errors.push(syn::Error::new_spanned(
            expr,
            "this `key` names no argument, so every call would share one entry: build it from the arguments \
             that identify the result, e.g. `key = format!(\"user:{id}\")`",
        ));
        return None;
    }
    let owned_args = |e: &Expr| -> Option<Part> {
        let index = argument(func, e)?;
        let param = &func.params[index];
        owned(&param.ty, &param.name).ok()
    };
    // An argument (or a tuple of them) is keyed by its owned form, so the
    // key never moves an argument the body needs.
    let (built, inferred) = match peel_expr(expr) {
        Expr::Tuple(t) => {
            let parts: Vec<_> = t.elems.iter().map(|e| (e, owned_args(e))).collect();
            let exprs = parts.iter().map(|(e, part)| match part {
                Some(p) => p.expr.clone(),
                None => e.to_token_stream(),
            });
            let built = quote!((#(#exprs,)*));
            let types: Option<Vec<TokenStream>> = parts
                .iter()
                .map(|(e, part)| match part {
                    Some(p) => Some(p.ty.clone()),
                    None => infer(e),
                })
                .collect();
            (built, types.map(|t| quote!((#(#t,)*))))
        }
        e => match owned_args(e) {
            Some(p) => (p.expr, Some(p.ty)),
            None => (expr.to_token_stream(), infer(e)),
        },
    };
    let ty = match (ty, inferred) {
        (Some(declared), _) => declared.to_token_stream(),
        (None, Some(inferred)) => inferred,
        (None, None) => {
            let example = declared_example(func, expr);
            errors.push(syn::Error::new_spanned(
                expr,
                format!(
                    "cannot tell the type of this `key` expression: declare it as `key: Type = expr`, \
                     e.g. `{example}` (the type is inferred for an argument, a tuple of arguments, \
                     `format!(..)`, `.to_string()`, `String::from(..)` and `expr as T`)"
                ),
            ));
            return None;
        }
    };
    Some(KeyPlan {
        ty,
        expr: built,
        params: reads.params,
        uses_self: reads.self_,
    })
}

/// `key: (T, u32) = (self.id, x)`: the key as written, with the types the
/// signature shows and `T` for the others.
fn declared_example(func: &Func, expr: &Expr) -> String {
    let text = |t: &dyn ToTokens| {
        t.to_token_stream()
            .to_string()
            .replace(" . ", ".")
            .replace(" , ", ", ")
            .replace("( ", "(")
            .replace(" )", ")")
            .replace(" < ", "<")
            .replace(" >", ">")
            .replace("& ", "&")
    };
    let ty_of = |e: &Expr| match argument(func, e) {
        Some(i) => match peel(&func.params[i].ty) {
            Type::Reference(r) if text(&r.elem) == "str" => "String".to_owned(),
            Type::Reference(r) => text(&r.elem),
            other => text(other),
        },
        None => "T".to_owned(),
    };
    let ty = match peel_expr(expr) {
        Expr::Tuple(t) => format!(
            "({})",
            t.elems.iter().map(ty_of).collect::<Vec<_>>().join(", ")
        ),
        e => ty_of(e),
    };
    format!("key: {ty} = {}", text(expr))
}

/// The index of the argument `e` names, if it is just an argument.
fn argument(func: &Func, e: &Expr) -> Option<usize> {
    let Expr::Path(p) = peel_expr(e) else {
        return None;
    };
    let ident = p.path.get_ident()?;
    if p.qself.is_some() {
        return None;
    }
    func.params
        .iter()
        .position(|param| matches!(&param.binding, Binding::Ident(i) if i == ident))
}

fn peel_expr(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => peel_expr(&p.expr),
        Expr::Group(g) => peel_expr(&g.expr),
        e => e,
    }
}

/// The type of a key expression, when it shows.
fn infer(e: &Expr) -> Option<TokenStream> {
    let string = |span: Span| Some(quote_spanned!(span=> ::cachelite::__private::String));
    match peel_expr(e) {
        Expr::Macro(m)
            if m.mac
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "format") =>
        {
            string(m.span())
        }
        Expr::MethodCall(m) if m.method == "to_string" && m.args.is_empty() => {
            string(m.method.span())
        }
        Expr::Call(c) => match peel_expr(&c.func) {
            Expr::Path(p) => {
                let mut segments = p.path.segments.iter().rev();
                let last = segments.next()?;
                let ty = segments.next()?;
                (ty.ident == "String" && (last.ident == "from" || last.ident == "new"))
                    .then(|| quote_spanned!(ty.ident.span()=> ::cachelite::__private::String))
            }
            _ => None,
        },
        Expr::Cast(c) => Some(c.ty.to_token_stream()),
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) if !i.suffix().is_empty() => {
                let ty = Ident::new(i.suffix(), i.span());
                Some(ty.into_token_stream())
            }
            Lit::Bool(b) => Some(quote_spanned!(b.span=> bool)),
            Lit::Char(c) => Some(quote_spanned!(c.span()=> char)),
            _ => None,
        },
        Expr::Tuple(t) => {
            let types: Option<Vec<_>> = t.elems.iter().map(infer).collect();
            types.map(|t| quote!((#(#t,)*)))
        }
        _ => None,
    }
}

/// One argument's part of the key.
struct Part {
    ty: TokenStream,
    expr: TokenStream,
}

/// The owned form of an argument of type `ty` named `name`.
fn owned(ty: &Type, name: &Ident) -> syn::Result<Part> {
    let ty = peel(ty);
    let part = match ty {
        Type::Reference(r) if r.mutability.is_some() => {
            return Err(syn::Error::new_spanned(
                r,
                format!(
                    "a `&mut` argument cannot be part of the cache key: give `key = ...` naming the arguments that \
                     identify the result, which leaves `{name}` out (a cache hit then skips the body and its writes \
                     through `{name}`)"
                ),
            ));
        }
        Type::Reference(r) => {
            // `&&T` reads through every reference: `to_owned(*x)`.
            let mut target = peel(&r.elem);
            let mut derefs = TokenStream::new();
            while let Type::Reference(inner) = target {
                if inner.mutability.is_some() {
                    return Err(syn::Error::new_spanned(
                        inner,
                        "this argument cannot be part of the cache key: it reaches its data through `&mut`; \
                         leave it out with `key = ...`",
                    ));
                }
                derefs.extend(quote!(*));
                target = peel(&inner.elem);
            }
            Part {
                ty: owned_target(target)?,
                expr: quote!(::cachelite::__private::ToOwned::to_owned(#derefs #name)),
            }
        }
        Type::Path(p) => match option_of_ref(p) {
            Some(inner) => {
                let target = owned_target(peel(inner))?;
                Part {
                    ty: quote_spanned!(ty.span()=> ::cachelite::__private::Option<#target>),
                    expr: quote!(::cachelite::__private::Option::map(
                        #name,
                        ::cachelite::__private::ToOwned::to_owned
                    )),
                }
            }
            None => by_clone(ty, name)?,
        },
        _ => by_clone(ty, name)?,
    };
    Ok(part)
}

/// An argument taken by value: keyed by a clone.
fn by_clone(ty: &Type, name: &Ident) -> syn::Result<Part> {
    check_owned(ty)?;
    Ok(Part {
        ty: ty.to_token_stream(),
        expr: quote!(::cachelite::__private::Clone::clone(&#name)),
    })
}

/// `&T` of `Option<&T>`.
fn option_of_ref(p: &syn::TypePath) -> Option<&Type> {
    let last = p.path.segments.last()?;
    if last.ident != "Option" || p.qself.is_some() {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(Type::Reference(r)) if r.mutability.is_none() => Some(&r.elem),
        _ => None,
    }
}

/// What a borrowed `target` becomes when owned: `<target as ToOwned>::Owned`
/// spelled out for the standard unsized types.
fn owned_target(target: &Type) -> syn::Result<TokenStream> {
    let span = target.span();
    let owned = match target {
        Type::Slice(s) => {
            let elem = &s.elem;
            quote_spanned!(span=> ::cachelite::__private::std::vec::Vec<#elem>)
        }
        Type::TraitObject(t) => {
            return Err(syn::Error::new_spanned(
                t,
                "a trait object cannot be part of the cache key: leave this argument out with `key = ...`",
            ));
        }
        Type::Path(p) if p.qself.is_none() && p.path.segments.len() <= 3 => {
            let last = p.path.segments.last().map(|s| s.ident.to_string());
            match last.as_deref() {
                Some("str") => quote_spanned!(span=> ::cachelite::__private::String),
                Some("Path") => quote_spanned!(span=> ::cachelite::__private::std::path::PathBuf),
                Some("OsStr") => quote_spanned!(span=> ::cachelite::__private::std::ffi::OsString),
                Some("CStr") => quote_spanned!(span=> ::cachelite::__private::std::ffi::CString),
                _ => target.to_token_stream(),
            }
        }
        _ => target.to_token_stream(),
    };
    check_owned(target)?;
    Ok(owned)
}

/// A key outlives the call: no borrows, no `Self`.
fn check_owned(ty: &Type) -> syn::Result<()> {
    let mut check = OwnedCheck {
        errors: Errors::default(),
        what: "this argument's part of the cache key",
        fix: "leave the argument out with `key = ...`, or take it owned",
    };
    check.visit_type(ty);
    check.errors.finish()
}

/// What an expression reads of the fn's arguments.
pub(crate) struct Reads {
    /// Indices into `Func::params`, in order.
    pub(crate) params: Vec<usize>,
    pub(crate) self_: bool,
    /// Names bound by destructuring patterns that it uses.
    pub(crate) destructured: Vec<Ident>,
}

impl Reads {
    /// Scans tokens for the arguments' names, including inline
    /// `format!` arguments (`"{id}"`).
    pub(crate) fn of(func: &Func, tokens: TokenStream) -> Reads {
        let mut names = Vec::new();
        collect_names(tokens, &mut names);
        let named = |n: &str| names.iter().any(|m| m == n);
        let params = func
            .params
            .iter()
            .enumerate()
            .filter(|(_, p)| matches!(&p.binding, Binding::Ident(i) if named(&i.to_string())))
            .map(|(i, _)| i)
            .collect();
        let destructured = func
            .params
            .iter()
            .flat_map(|p: &Param| p.bound.iter())
            .filter(|b| named(&b.to_string()))
            .cloned()
            .collect();
        Reads {
            params,
            self_: func.receiver.is_some() && named("self"),
            destructured,
        }
    }
}

fn collect_names(tokens: TokenStream, out: &mut Vec<String>) {
    for tt in tokens {
        match tt {
            TokenTree::Ident(i) => out.push(i.to_string()),
            TokenTree::Group(g) => collect_names(g.stream(), out),
            TokenTree::Literal(l) => {
                if let Lit::Str(s) = Lit::new(l) {
                    format_captures(&s.value(), out);
                }
            }
            TokenTree::Punct(_) => {}
        }
    }
}

/// The names a format string captures: `id` in `"user:{id}"` and `"{id:>4}"`.
fn format_captures(s: &str, out: &mut Vec<String>) {
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        rest = &rest[open + 1..];
        if let Some(escaped) = rest.strip_prefix('{') {
            rest = escaped;
            continue;
        }
        let end = rest.find(['}', ':']).unwrap_or(rest.len());
        let name = rest[..end].trim();
        let ident_like = name
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_alphanumeric() || c == '_');
        if ident_like {
            out.push(name.to_string());
        }
        rest = &rest[end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::item::Func;

    fn func(tokens: TokenStream) -> Func {
        let item = syn::parse2(tokens).unwrap_or_else(|e| panic!("{e}"));
        let mut errors = Errors::default();
        Func::from_syn(item, &mut errors).unwrap_or_else(|| panic!("not a fn"))
    }

    fn key(f: TokenStream, spec: Option<TokenStream>) -> Result<(String, String), String> {
        typed_key(f, None, spec)
    }

    fn typed_key(
        f: TokenStream,
        ty: Option<TokenStream>,
        spec: Option<TokenStream>,
    ) -> Result<(String, String), String> {
        let func = func(f);
        let spec = spec.map(|s| Arg {
            name: Ident::new("key", Span::call_site()),
            value: KeySpec {
                ty: ty.map(|t| syn::parse2(t).unwrap_or_else(|e| panic!("{e}"))),
                expr: syn::parse2(s).unwrap_or_else(|e| panic!("{e}")),
            },
        });
        let mut errors = Errors::default();
        match plan(&func, spec.as_ref(), &mut errors) {
            Some(p) => Ok((p.ty.to_string(), p.expr.to_string())),
            None => Err(errors
                .finish()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()),
        }
    }

    #[test]
    fn default_keys_use_owned_forms() {
        let k = key(
            quote!(
                fn f(a: &str, b: &[u8], c: &Point, d: u64) -> u8 {
                    0
                }
            ),
            None,
        );
        let (ty, expr) = k.unwrap_or_default();
        assert_eq!(
            ty,
            "(:: cachelite :: __private :: String , :: cachelite :: __private :: std :: vec :: Vec < u8 > , Point , u64 ,)"
        );
        assert!(expr.contains("ToOwned :: to_owned (a)"), "{expr}");
        assert!(expr.contains("Clone :: clone (& d)"), "{expr}");
    }

    #[test]
    fn one_argument_is_the_key_itself_and_none_is_unit() {
        assert_eq!(
            key(
                quote!(
                    fn f(n: u64) -> u64 {
                        n
                    }
                ),
                None
            )
            .map(|k| k.0),
            Ok("u64".into())
        );
        assert_eq!(
            key(
                quote!(
                    fn f() -> u64 {
                        1
                    }
                ),
                None
            )
            .map(|k| k.0),
            Ok("()".into())
        );
        assert_eq!(
            key(
                quote!(
                    fn f(_: u8, n: u64) -> u64 {
                        n
                    }
                ),
                None
            )
            .map(|k| k.0),
            Ok("u64".into())
        );
    }

    #[test]
    fn nested_and_optional_references() {
        let k = key(
            quote!(
                fn f(a: &&str) -> u8 {
                    0
                }
            ),
            None,
        )
        .unwrap_or_default();
        assert!(k.1.contains("to_owned (* a)"), "{}", k.1);
        let k = key(
            quote!(
                fn f(a: Option<&str>) -> u8 {
                    0
                }
            ),
            None,
        )
        .unwrap_or_default();
        assert!(
            k.0.contains("Option < :: cachelite :: __private :: String >"),
            "{}",
            k.0
        );
    }

    #[test]
    fn borrowed_parts_are_refused() {
        let e = key(
            quote!(
                fn f(a: Vec<&str>) -> u8 {
                    0
                }
            ),
            None,
        )
        .unwrap_err();
        assert!(e.contains("cannot borrow"), "{e}");
        let e = key(
            quote!(
                fn f(a: &mut Vec<u8>) -> u8 {
                    0
                }
            ),
            None,
        )
        .unwrap_err();
        assert!(e.contains("`&mut`"), "{e}");
    }

    #[test]
    fn custom_keys_infer_simple_types() {
        let f = quote!(
            fn f(id: u64, db: &Db) -> u8 {
                0
            }
        );
        assert_eq!(
            key(f.clone(), Some(quote!(format!("user:{id}")))).map(|k| k.0),
            Ok(":: cachelite :: __private :: String".into())
        );
        assert_eq!(
            key(f.clone(), Some(quote!(id))).map(|k| k.0),
            Ok("u64".into())
        );
        assert_eq!(
            key(f.clone(), Some(quote!(id as i64))).map(|k| k.0),
            Ok("i64".into())
        );
        assert_eq!(
            key(f.clone(), Some(quote!(id.to_string()))).map(|k| k.0),
            Ok(":: cachelite :: __private :: String".into())
        );
        assert_eq!(
            typed_key(f.clone(), Some(quote!(u32)), Some(quote!(id as u32))).map(|k| k.0),
            Ok("u32".into())
        );
        let e = key(f.clone(), Some(quote!(db.shard_of(id)))).unwrap_err();
        assert!(e.contains("key: Type = expr"), "{e}");
        let e = key(
            quote!(
                fn f(&self, x: u32, name: &str) -> u8 {
                    0
                }
            ),
            Some(quote!((self.id, x, name))),
        )
        .unwrap_err();
        assert!(
            e.contains("`key: (T, u32, String) = (self.id, x, name)`"),
            "{e}"
        );
        let e = key(f, Some(quote!(format!("all")))).unwrap_err();
        assert!(e.contains("names no argument"), "{e}");
    }

    #[test]
    fn custom_keys_remember_what_they_read() {
        let func = func(quote!(
            fn f(&self, id: u64, name: &str, db: &Db) -> u8 {
                0
            }
        ));
        let r = Reads::of(&func, quote!(format!("{}:{id}:{name:?}", self.prefix)));
        assert_eq!(r.params, vec![0, 1]);
        assert!(r.self_);
    }

    #[test]
    fn format_captures_skip_escapes_and_positions() {
        let mut out = Vec::new();
        format_captures("{{x}} {a} {0} {b:>4} {} {c_1:?}", &mut out);
        assert_eq!(out, ["a", "b", "c_1"]);
    }
}
