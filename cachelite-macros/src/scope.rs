//! `scope(org = org_id, user = user_id)`: the key goes under a scope path
//! built from the arguments, `["org:<org_id>", "user:<user_id>"]`, and
//! the cache declares those levels.

use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, Ident};

use crate::Errors;
use crate::attr::Arg;
use crate::item::Func;
use crate::key::{KeyPlan, Reads};

/// The key under its scope path: `Scoped<K>`, built from the key and the
/// levels' expressions. The arguments the levels read join the key's, so
/// `<fn>_cache_invalidate` takes them too.
pub(crate) fn wrap(
    func: &Func,
    scope: &Arg<Vec<(Ident, Expr)>>,
    key: KeyPlan,
    errors: &mut Errors,
) -> Option<KeyPlan> {
    let exprs = scope.value.iter().map(|(_, e)| e);
    let reads = Reads::of(func, quote!(#(#exprs)*));
    if let Some(name) = reads.destructured.first() {
        errors.push(syn::Error::new(
            name.span(),
            format!(
                "`scope` cannot use `{name}`, a name bound by a destructuring pattern: bind the argument \
                 to a name and use that"
            ),
        ));
        return None;
    }
    let mut params = key.params;
    params.extend(reads.params);
    params.sort_unstable();
    params.dedup();
    let p = quote!(::cachelite::__private);
    let segments = scope.value.iter().map(|(level, e)| {
        let level = level.unraw().to_string();
        quote_spanned!(e.span()=> #p::std::format!("{}:{}", #level, #e))
    });
    let inner_ty = key.ty;
    let inner_expr = key.expr;
    Some(KeyPlan {
        ty: quote_spanned!(scope.span()=> #p::Scoped<#inner_ty>),
        expr: quote!(#p::scoped(#p::std::vec![#(#segments),*], #inner_expr)),
        params,
        uses_self: key.uses_self || reads.self_,
    })
}

/// The declared levels, top first, for the builder.
pub(crate) fn levels(scope: &Arg<Vec<(Ident, Expr)>>) -> impl ToTokens {
    let names = scope.value.iter().map(|(l, _)| l.unraw().to_string());
    quote!([#(#names),*])
}
