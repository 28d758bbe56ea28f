//! The fn shapes `#[memoize]` accepts: sync fns, `async fn`s, fns returning
//! `impl Future<Output = T>`, and methods taking `&self`; and what each
//! returns: a `Result` (cache `Ok`), an `Option` (cache `Some`) or a value
//! (cache it as is).

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{
    AttrStyle, Attribute, Block, FnArg, GenericArgument, GenericParam, Ident, ItemFn, Lifetime,
    Pat, PathArguments, ReceiverKind, ReturnType, Safety, Signature, Type, TypeParamBound,
    Visibility,
};

use crate::Errors;

/// How the fn produces its value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// `fn f(..) -> T`.
    Sync,
    /// `async fn f(..) -> T`.
    Async,
    /// `fn f(..) -> impl Future<Output = T>`.
    ImplFuture,
    /// `fn f(..) -> Pin<Box<dyn Future<Output = T> + ..>>` (or `BoxFuture<T>`):
    /// as `ImplFuture`, the wrapped future boxed again.
    BoxFuture,
}

/// What the return value is, for deciding what to cache.
#[derive(Clone, Debug)]
pub(crate) enum Shape {
    /// Cached as it is.
    Plain,
    /// `Option<T>`: `T` when visible in the signature.
    Option(Option<Type>),
    /// `Result<T, E>` (or an alias ending in `Result`): `T` when visible.
    Result(Option<Type>),
}

/// How an argument is bound.
pub(crate) enum Binding {
    /// `x: T` or `mut x: T`: the key reads `x`.
    Ident(Ident),
    /// `_: T`: the body cannot read it, so it is not part of the key.
    Wild,
    /// `(a, b): (T, U)` and other patterns: renamed in the signature and
    /// destructured at the start of the body; the key reads the whole value.
    Pattern(Box<Pat>),
}

/// One typed argument.
pub(crate) struct Param {
    pub(crate) binding: Binding,
    /// The name the expanded signature gives it (the user's, or `argN`).
    pub(crate) name: Ident,
    pub(crate) ty: Type,
    /// The names a destructuring pattern binds (not usable in `key`).
    pub(crate) bound: Vec<Ident>,
}

/// `&self` or `&mut self`.
pub(crate) struct SelfArg {
    pub(crate) token: syn::token::SelfValue,
    pub(crate) mutable: Option<syn::token::Mut>,
}

/// A fn `#[memoize]` can wrap.
pub(crate) struct Func {
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    pub(crate) block: Block,
    pub(crate) kind: Kind,
    pub(crate) receiver: Option<SelfArg>,
    pub(crate) params: Vec<Param>,
    /// The value callers get: the return type, or the future's output.
    pub(crate) output: Type,
    pub(crate) shape: Shape,
    /// Expanded as an associated fn: its accessors are `Self::..`.
    pub(crate) assoc: bool,
}

impl Func {
    /// Reads the item under `#[memoize]`, reporting every unsupported
    /// shape. Errors that leave the fn unusable come back as `Err`.
    pub(crate) fn from_syn(item: ItemFn, errors: &mut Errors) -> Option<Func> {
        let ItemFn {
            mut attrs,
            vis,
            sig,
            block,
            ..
        } = item;
        // Inner attributes (`#![allow(..)]` in the body) apply to the fn:
        // the expansion keeps them as outer ones.
        for attr in &mut attrs {
            attr.style = AttrStyle::Outer;
        }
        let before = errors.len();
        check_signature(&sig, errors);
        let receiver = receiver(&sig, errors);
        let params = params(&sig, errors);
        let (kind, output) = errors.check(output(&sig))?;
        errors.check(owned_value(&output));
        // A fn that cannot be memoized as written gets no further checks:
        // they would only repeat the problem.
        if errors.len() > before {
            return None;
        }
        let assoc = receiver.is_some()
            || mentions_self_type(sig.to_token_stream())
            || mentions_self_type(block.to_token_stream());
        Some(Func {
            attrs,
            vis,
            shape: shape(&output),
            sig,
            block: *block,
            kind,
            receiver,
            params,
            output,
            assoc,
        })
    }

    /// The fn's name.
    pub(crate) fn ident(&self) -> &Ident {
        &self.sig.ident
    }
}

/// An item that is not a fn: a clear error naming what it is.
pub(crate) fn not_a_fn(item: &TokenStream) -> syn::Error {
    let what = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Struct(s)) => return wrong_item(s.struct_token.span, "a struct"),
        Ok(syn::Item::Enum(e)) => return wrong_item(e.enum_token.span, "an enum"),
        Ok(syn::Item::Const(c)) => return wrong_item(c.const_token.span, "a `const`"),
        Ok(syn::Item::Static(s)) => return wrong_item(s.static_token.span, "a `static`"),
        Ok(syn::Item::Impl(i)) => {
            return wrong_item(
                i.impl_token.span,
                "an impl block (put it on each method to memoize)",
            );
        }
        Ok(syn::Item::Trait(t)) => return wrong_item(t.trait_token.span, "a trait"),
        Ok(syn::Item::Mod(m)) => return wrong_item(m.mod_token.span, "a module"),
        Ok(other) => other.span(),
        Err(e) => e.span(),
    };
    wrong_item(what, "this item")
}

fn wrong_item(span: Span, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!("`#[memoize]` goes on a fn (or a method taking `&self`), not on {what}"),
    )
}

fn check_signature(sig: &Signature, errors: &mut Errors) {
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "`#[memoize]` cannot wrap a `const fn`: a cache lives at run time; remove `const`",
        ));
    }
    if let Safety::Unsafe(u) = &sig.safety {
        errors.push(syn::Error::new(
            u.span,
            "`#[memoize]` cannot wrap an `unsafe fn`: memoize a safe fn that upholds the contract, and call it from the `unsafe fn`",
        ));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new(
            abi.extern_token.span,
            "`#[memoize]` cannot wrap an `extern` fn: memoize a Rust fn and call it from the `extern` one",
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new(
            v.dots.spans[0],
            "`#[memoize]` cannot wrap a variadic fn",
        ));
    }
    for param in &sig.generics.params {
        let span = match param {
            GenericParam::Lifetime(_) => continue,
            GenericParam::Type(t) => t.ident.span(),
            GenericParam::Const(c) => c.const_token.span,
        };
        errors.push(generic(span, &sig.ident, "its generic parameters"));
    }
}

fn generic(span: Span, ident: &Ident, what: &str) -> syn::Error {
    syn::Error::new(
        span,
        format!(
            "`#[memoize]` cannot cache a generic fn: `{ident}` has one cache, whose key and value types must be concrete, but {what} would change them per call; \
             memoize a concrete wrapper instead, e.g. `#[memoize] fn {ident}_u64(x: u64) -> u64 {{ {ident}(x) }}`"
        ),
    )
}

/// An `impl Trait` argument: the wrapper to memoize instead, written from
/// the fn's own signature with each `impl Trait` replaced by a concrete type.
fn impl_trait_argument(span: Span, sig: &Signature) -> syn::Error {
    let ident = &sig.ident;
    let mut params = Vec::new();
    let mut args = Vec::new();
    for arg in &sig.inputs {
        match arg {
            FnArg::Receiver(r) => {
                params.push(r.to_token_stream().to_string().replace("& ", "&"));
                args.push(None);
            }
            FnArg::Typed(t) => {
                let name = match &*t.pat {
                    Pat::Ident(p) => p.ident.to_string(),
                    other => other.to_token_stream().to_string(),
                };
                let ty = concrete(&t.ty);
                params.push(format!("{name}: {ty}"));
                args.push(Some(name));
            }
        }
    }
    let call_args = args
        .iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let call = if sig.receiver().is_some() {
        format!("self.{ident}({call_args})")
    } else {
        format!("{ident}({call_args})")
    };
    let output = match &sig.output {
        ReturnType::Default => String::new(),
        ReturnType::Type(_, ty) => format!(" -> {}", tidy(&ty.to_token_stream().to_string())),
    };
    let asyncness = if sig.asyncness.is_some() {
        "async "
    } else {
        ""
    };
    let awaited = if sig.asyncness.is_some() {
        ".await"
    } else {
        ""
    };
    syn::Error::new(
        span,
        format!(
            "`#[memoize]` cannot cache a generic fn: `{ident}` has one cache, whose key type must be concrete, but an \
             `impl Trait` argument would change it per call; memoize a concrete wrapper instead and call it:\n\
             #[memoize] {asyncness}fn {ident}_cached({}){output} {{ {call}{awaited} }}",
            params.join(", ")
        ),
    )
}

/// A concrete stand-in for a type holding `impl Trait`: the owned type its
/// bound names (`impl AsRef<str>`, `impl Into<String>`, `impl Display` give
/// `String`), else `u64` as an example.
fn concrete(ty: &Type) -> String {
    let Type::ImplTrait(t) = peel(ty) else {
        return tidy(&ty.to_token_stream().to_string());
    };
    let bound = t.bounds.iter().find_map(|b| match b {
        TypeParamBound::Trait(t) => t.path.segments.last(),
        _ => None,
    });
    let Some(last) = bound else {
        return "u64".to_owned();
    };
    let inner = match &last.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(t) => Some(tidy(&t.to_token_stream().to_string())),
            _ => None,
        }),
        _ => None,
    };
    match (last.ident.to_string().as_str(), inner.as_deref()) {
        ("Display" | "ToString" | "Debug", _) | (_, Some("str" | "String")) => "String".to_owned(),
        (_, Some("Path" | "PathBuf")) => "PathBuf".to_owned(),
        (_, Some("[u8]")) => "Vec<u8>".to_owned(),
        ("Into" | "AsRef" | "Borrow", Some(other)) => other.to_owned(),
        _ => "u64".to_owned(),
    }
}

/// Token text without the spaces `to_string` puts around punctuation.
fn tidy(text: &str) -> String {
    text.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace("& ", "&")
        .replace("[ ", "[")
        .replace(" ]", "]")
}

fn receiver(sig: &Signature, errors: &mut Errors) -> Option<SelfArg> {
    let r = sig.receiver()?;
    let by_value = || {
        let (what, tokens) = match &r.kind {
            ReceiverKind::Typed(_, ty) => (
                format!(
                    "`self: {}`",
                    ty.to_token_stream().to_string().replace(' ', "")
                ),
                ty.to_token_stream(),
            ),
            _ => ("`self` by value".to_owned(), r.self_token.to_token_stream()),
        };
        syn::Error::new_spanned(
            tokens,
            format!(
                "`#[memoize]` cannot take {what}: a memoized method takes `&self`, which a smart pointer \
                 (`Arc<Self>`, `Box<Self>`, `Rc<Self>`) derefs to at the call site; write `&self` \
                 (it is not part of the key: put what identifies the instance in `key = ...` if the result depends on it)"
            ),
        )
    };
    match &r.kind {
        ReceiverKind::Reference(_, _, mutable) => Some(SelfArg {
            token: r.self_token,
            mutable: *mutable,
        }),
        ReceiverKind::Typed(_, ty) => match &**ty {
            Type::Reference(reference) if is_self(&reference.elem) => Some(SelfArg {
                token: r.self_token,
                mutable: reference.mutability,
            }),
            _ => {
                errors.push(by_value());
                None
            }
        },
        _ => {
            errors.push(by_value());
            None
        }
    }
}

fn is_self(ty: &Type) -> bool {
    matches!(ty, Type::Path(p) if p.qself.is_none() && p.path.is_ident("Self"))
}

fn params(sig: &Signature, errors: &mut Errors) -> Vec<Param> {
    let mut out = Vec::new();
    for (index, arg) in sig.inputs.iter().enumerate() {
        let FnArg::Typed(typed) = arg else { continue };
        let ty = (*typed.ty).clone();
        if let Some(span) = impl_trait(&ty) {
            errors.push(impl_trait_argument(span, sig));
        }
        let (binding, name, bound) = match &*typed.pat {
            Pat::Ident(p) if p.by_ref.is_none() && p.subpat.is_none() => {
                (Binding::Ident(p.ident.clone()), p.ident.clone(), Vec::new())
            }
            Pat::Wild(w) => (
                Binding::Wild,
                Ident::new("_", w.underscore_token.span),
                Vec::new(),
            ),
            pat => {
                let mut names = BoundNames(Vec::new());
                names.visit_pat(pat);
                let name = Ident::new(&format!("arg{index}"), Span::mixed_site());
                (Binding::Pattern(Box::new(pat.clone())), name, names.0)
            }
        };
        out.push(Param {
            binding,
            name,
            ty,
            bound,
        });
    }
    out
}

/// The names a pattern binds.
struct BoundNames(Vec<Ident>);

impl<'ast> Visit<'ast> for BoundNames {
    fn visit_pat_ident(&mut self, p: &'ast syn::PatIdent) {
        self.0.push(p.ident.clone());
        visit::visit_pat_ident(self, p);
    }
}

/// The span of an `impl Trait` anywhere in `ty`.
fn impl_trait(ty: &Type) -> Option<Span> {
    struct Find(Option<Span>);
    impl<'ast> Visit<'ast> for Find {
        fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
            self.0.get_or_insert(t.impl_token.span);
        }
    }
    let mut f = Find(None);
    f.visit_type(ty);
    f.0
}

/// The fn's kind and the type of the value its callers get.
fn output(sig: &Signature) -> syn::Result<(Kind, Type)> {
    let ty = match &sig.output {
        ReturnType::Default => {
            return Err(syn::Error::new(
                sig.paren_token.span.close(),
                format!(
                    "`#[memoize]` needs a return value to cache, but `{}` returns nothing: add `-> T`",
                    sig.ident
                ),
            ));
        }
        ReturnType::Type(_, ty) => peel(ty),
    };
    if let Type::Tuple(t) = ty
        && t.elems.is_empty()
    {
        return Err(syn::Error::new(
            t.span(),
            "`#[memoize]` needs a return value to cache, but `()` carries nothing",
        ));
    }
    if let Type::Never(n) = ty {
        return Err(syn::Error::new(
            n.span(),
            "`#[memoize]` needs a return value to cache, but `!` never returns",
        ));
    }
    match (sig.asyncness.is_some(), ty) {
        (true, Type::ImplTrait(t)) => Err(syn::Error::new(
            t.impl_token.span,
            "a memoized `async fn` must return a concrete type: the cache has to name it",
        )),
        (false, Type::ImplTrait(t)) => match future_output(&t.bounds) {
            Some(Type::ImplTrait(inner)) => Err(syn::Error::new(
                inner.impl_token.span,
                "the future's output must be a concrete type: the cache has to name it",
            )),
            Some(out) => Ok((Kind::ImplFuture, peel(out).clone())),
            None => Err(syn::Error::new(
                t.impl_token.span,
                "`#[memoize]` cannot cache an `impl Trait` value: the cache has to name its type; return a concrete type, \
                 or `impl Future<Output = T>` for an async computation",
            )),
        },
        (true, ty) => Ok((Kind::Async, ty.clone())),
        (false, ty) => match boxed_future_output(ty) {
            Some(out) => Ok((Kind::BoxFuture, peel(out).clone())),
            None => Ok((Kind::Sync, ty.clone())),
        },
    }
}

/// `T` of `Pin<Box<dyn Future<Output = T> + ..>>`, `BoxFuture<'a, T>` and
/// `LocalBoxFuture<'a, T>`.
fn boxed_future_output(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = peel(ty) else {
        return None;
    };
    let last = p.path.segments.last()?;
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let first_type = || {
        args.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        })
    };
    if last.ident == "BoxFuture" || last.ident == "LocalBoxFuture" {
        return first_type();
    }
    if last.ident != "Pin" {
        return None;
    }
    let Type::Path(boxed) = peel(first_type()?) else {
        return None;
    };
    let boxed = boxed.path.segments.last()?;
    if boxed.ident != "Box" {
        return None;
    }
    let PathArguments::AngleBracketed(inner) = &boxed.arguments else {
        return None;
    };
    let dyn_future = inner.args.iter().find_map(|a| match a {
        GenericArgument::Type(Type::TraitObject(t)) => Some(t),
        _ => None,
    })?;
    future_output(&dyn_future.bounds)
}

/// `T` of `impl Future<Output = T> + ..`.
fn future_output<'a>(bounds: impl IntoIterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
    bounds.into_iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else {
            return None;
        };
        let last = t.path.segments.last()?;
        if last.ident != "Future" && last.ident != "IntoFuture" {
            return None;
        }
        let PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(&assoc.ty),
            _ => None,
        })
    })
}

/// Strips parentheses and invisible groups around a type.
pub(crate) fn peel(ty: &Type) -> &Type {
    match ty {
        Type::Paren(p) => peel(&p.elem),
        Type::Group(g) => peel(&g.elem),
        t => t,
    }
}

/// Classifies a return value by the last segment of its path.
pub(crate) fn shape(ty: &Type) -> Shape {
    let Type::Path(p) = peel(ty) else {
        return Shape::Plain;
    };
    if p.qself.is_some() {
        return Shape::Plain;
    }
    let Some(last) = p.path.segments.last() else {
        return Shape::Plain;
    };
    let first_arg = || match &last.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|arg| match arg {
            GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }),
        _ => None,
    };
    if last.ident == "Result" {
        Shape::Result(first_arg())
    } else if last.ident == "Option" {
        Shape::Option(first_arg())
    } else {
        Shape::Plain
    }
}

impl Func {
    /// Whether the arguments can outlive the call, so that a stale refresh
    /// can run after it returns: no receiver, and no borrow, lifetime,
    /// `Self` or `impl Trait` in any argument's type.
    pub(crate) fn args_outlive_call(&self) -> bool {
        self.receiver.is_none()
            && self.params.iter().all(|p| {
                let mut check = OwnedCheck {
                    errors: Errors::default(),
                    what: "",
                    fix: "",
                };
                check.visit_type(&p.ty);
                check.errors.len() == 0
            })
    }
}

/// A cached value outlives the call: it cannot borrow, nor name `Self`.
pub(crate) fn owned_value(ty: &Type) -> syn::Result<()> {
    let mut check = OwnedCheck {
        errors: Errors::default(),
        what: "the cached value",
        fix: "return an owned type (e.g. `String` rather than `&str`)",
    };
    check.visit_type(ty);
    check.errors.finish()
}

/// Finds borrows, `Self` and `impl Trait` in a type that must be `'static`.
pub(crate) struct OwnedCheck {
    pub(crate) errors: Errors,
    pub(crate) what: &'static str,
    pub(crate) fix: &'static str,
}

impl<'ast> Visit<'ast> for OwnedCheck {
    fn visit_type_reference(&mut self, r: &'ast syn::TypeReference) {
        match &r.lifetime {
            Some(l) if l.ident == "static" => {}
            _ => self.borrow(r),
        }
        self.visit_type(&r.elem);
    }

    fn visit_lifetime(&mut self, l: &'ast Lifetime) {
        if l.ident != "static" {
            self.borrow(l);
        }
    }

    fn visit_type_path(&mut self, p: &'ast syn::TypePath) {
        if p.qself.is_none()
            && let Some(first) = p.path.segments.first()
            && first.ident == "Self"
        {
            self.errors.push(syn::Error::new(
                first.ident.span(),
                format!(
                    "{} cannot name `Self`: its cache is a `static`, which cannot use `Self`; write the type's name",
                    self.what
                ),
            ));
        }
        visit::visit_type_path(self, p);
    }

    fn visit_type_impl_trait(&mut self, t: &'ast syn::TypeImplTrait) {
        self.errors.push(syn::Error::new(
            t.impl_token.span,
            format!(
                "{} must be a concrete type: its cache has to name it",
                self.what
            ),
        ));
    }
}

impl OwnedCheck {
    fn borrow(&mut self, tokens: impl ToTokens) {
        self.errors.push(syn::Error::new_spanned(
            tokens,
            format!(
                "{} cannot borrow: its cache outlives the call; {}",
                self.what, self.fix
            ),
        ));
    }
}

/// Whether `Self` appears anywhere: then the fn is an associated fn.
fn mentions_self_type(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == "Self",
        TokenTree::Group(g) => mentions_self_type(g.stream()),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn func(tokens: TokenStream) -> (Option<Func>, Errors) {
        let mut errors = Errors::default();
        let item: ItemFn = match syn::parse2(tokens) {
            Ok(i) => i,
            Err(e) => {
                errors.push(e);
                return (None, errors);
            }
        };
        (Func::from_syn(item, &mut errors), errors)
    }

    fn message(tokens: TokenStream) -> String {
        let (_, errors) = func(tokens);
        errors
            .finish()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn recognises_the_kinds() {
        let (f, _) = func(quote!(
            fn f(x: u64) -> u64 {
                x
            }
        ));
        assert_eq!(f.map(|f| f.kind), Some(Kind::Sync));
        let (f, _) = func(quote!(
            async fn f(x: u64) -> u64 {
                x
            }
        ));
        assert_eq!(f.map(|f| f.kind), Some(Kind::Async));
        let (f, _) = func(quote!(
            fn f(x: u64) -> impl Future<Output = u64> + Send {
                async move { x }
            }
        ));
        let f = f.map(|f| (f.kind, f.output.to_token_stream().to_string()));
        assert_eq!(f, Some((Kind::ImplFuture, "u64".to_string())));
        let (f, _) = func(quote!(
            fn f(x: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
                Box::pin(async move { x })
            }
        ));
        let f = f.map(|f| (f.kind, f.output.to_token_stream().to_string()));
        assert_eq!(f, Some((Kind::BoxFuture, "u64".to_string())));
    }

    #[test]
    fn classifies_return_shapes() {
        let s =
            |t: TokenStream| shape(&syn::parse2(t).unwrap_or(Type::Verbatim(TokenStream::new())));
        assert!(matches!(s(quote!(io::Result<u8>)), Shape::Result(Some(_))));
        assert!(matches!(
            s(quote!(std::result::Result<u8, E>)),
            Shape::Result(Some(_))
        ));
        assert!(matches!(s(quote!(Option<u8>)), Shape::Option(Some(_))));
        assert!(matches!(s(quote!(Vec<u8>)), Shape::Plain));
        assert!(matches!(s(quote!((Option<u8>))), Shape::Option(Some(_))));
    }

    #[test]
    fn methods_and_associated_fns_are_assoc() {
        let (f, _) = func(quote!(
            fn f(&self, x: u64) -> u64 {
                x
            }
        ));
        assert!(f.is_some_and(|f| f.assoc && f.receiver.is_some()));
        let (f, _) = func(quote!(
            fn f(x: u64) -> u64 {
                Self::g(x)
            }
        ));
        assert!(f.is_some_and(|f| f.assoc && f.receiver.is_none()));
        let (f, _) = func(quote!(
            fn f(x: u64) -> u64 {
                x
            }
        ));
        assert!(f.is_some_and(|f| !f.assoc));
    }

    #[test]
    fn rejects_unsupported_shapes() {
        assert!(
            message(quote!(
                fn f(x: u64) {}
            ))
            .contains("returns nothing")
        );
        assert!(
            message(quote!(
                fn f<T>(x: T) -> u64 {
                    1
                }
            ))
            .contains("generic")
        );
        assert!(
            message(quote!(
                fn f(x: impl Display) -> u64 {
                    1
                }
            ))
            .contains("generic")
        );
        let wrapper = message(quote!(
            fn greet(name: impl AsRef<str>, times: usize) -> String {
                name.as_ref().repeat(times)
            }
        ));
        assert!(
            wrapper.contains(
                "#[memoize] fn greet_cached(name: String, times: usize) -> String { greet(name, times) }"
            ),
            "{wrapper}"
        );
        assert!(
            message(quote!(
                fn f(self: Arc<Self>) -> u64 {
                    1
                }
            ))
            .contains("`self: Arc<Self>`")
        );
        assert!(
            message(quote!(
                fn f(self) -> u64 {
                    1
                }
            ))
            .contains("by value")
        );
        assert!(
            message(quote!(
                const fn f() -> u64 {
                    1
                }
            ))
            .contains("const fn")
        );
        assert!(
            message(quote!(
                fn f() -> impl Display {
                    1
                }
            ))
            .contains("impl Trait")
        );
        assert!(
            message(quote!(
                fn f(x: &str) -> &str {
                    x
                }
            ))
            .contains("cannot borrow")
        );
        assert!(
            message(quote!(
                fn f() -> Option<Self> {
                    None
                }
            ))
            .contains("`Self`")
        );
        assert!(
            message(quote!(
                fn f<'a>(x: &'a str) -> usize {
                    x.len()
                }
            ))
            .is_empty()
        );
    }

    #[test]
    fn patterns_are_renamed_and_their_names_remembered() {
        let (f, _) = func(quote!(
            fn f((a, b): (u8, u8), _: u8) -> u8 {
                a + b
            }
        ));
        let f = f.map(|f| {
            f.params
                .iter()
                .map(|p| (p.name.to_string(), p.bound.len()))
                .collect::<Vec<_>>()
        });
        assert_eq!(f, Some(vec![("arg0".to_string(), 2), ("_".to_string(), 0)]));
    }
}
