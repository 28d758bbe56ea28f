//! `#[derive(DeepSize)]`.
//!
//! The deep size of a struct or enum value is the sum of its fields' heap
//! bytes: fields live inline in `Self`, so only their
//! `deep_size_of_children` is added. Every type parameter gets a
//! `DeepSize` bound; lifetimes and const parameters are kept as written.
//!
//! Field attribute: `#[deep_size(skip)]` makes a field contribute 0 (for
//! fields whose type does not implement `DeepSize`).
//!
//! The generated impl names the trait only as
//! `::cachelite::__private::cachelite_runtime::DeepSize`, so users need to
//! depend on `cachelite` alone.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, Generics, Member};

/// The options `#[deep_size(...)]` accepts on a field, for error messages.
const VALID_FIELD_OPTIONS: &str = "valid options: `skip`";

/// Entry point called by `#[proc_macro_derive(DeepSize)]`.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(input) {
        Ok(input) => expand(&input).unwrap_or_else(|error| error.to_compile_error()),
        Err(error) => error.to_compile_error(),
    }
}

/// The path of the trait, as generated code names it.
fn trait_path() -> TokenStream {
    quote!(::cachelite::__private::cachelite_runtime::DeepSize)
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    errors.check(reject_attrs(&input.attrs, "the type"));

    let body = match &input.data {
        Data::Struct(data) => {
            let fields = errors.check(field_plan(&data.fields));
            fields.map(|fields| struct_body(&fields))
        }
        Data::Enum(data) => {
            let mut arms = Vec::with_capacity(data.variants.len());
            for variant in &data.variants {
                errors.check(reject_attrs(&variant.attrs, "an enum variant"));
                if let Some(fields) = errors.check(field_plan(&variant.fields)) {
                    arms.push(variant_arm(&variant.ident, &variant.fields, &fields));
                }
            }
            Some(enum_body(&arms))
        }
        Data::Union(data) => {
            errors.push(syn::Error::new(
                data.union_token.span(),
                "`#[derive(DeepSize)]` does not support unions: which field is \
                 active is unknown, so their heap memory cannot be measured; \
                 implement `DeepSize` by hand instead",
            ));
            None
        }
    };
    errors.finish()?;
    let body = body.unwrap_or_default();

    let trait_path = trait_path();
    let ident = &input.ident;
    let generics = add_bounds(&input.generics, &trait_path);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #trait_path for #ident #ty_generics #where_clause {
            #[inline]
            fn deep_size_of_children(&self) -> usize {
                #body
            }
        }
    })
}

/// Adds `T: DeepSize` to the where clause for every type parameter `T`.
fn add_bounds(generics: &Generics, trait_path: &TokenStream) -> Generics {
    let mut generics = generics.clone();
    let params: Vec<_> = generics
        .type_params()
        .map(|param| param.ident.clone())
        .collect();
    if !params.is_empty() {
        let where_clause = generics.make_where_clause();
        for param in params {
            where_clause
                .predicates
                .push(syn::parse_quote!(#param: #trait_path));
        }
    }
    generics
}

/// How one field takes part in the sum.
struct FieldPlan {
    /// `name` or `0`: how to reach the field from `self` or a pattern.
    member: Member,
    /// Span used for the generated tokens that mention this field.
    span: Span,
    /// `#[deep_size(skip)]`: contributes 0.
    skip: bool,
}

fn field_plan(fields: &Fields) -> syn::Result<Vec<FieldPlan>> {
    let mut errors = Errors::default();
    let plans = fields
        .iter()
        .zip(fields.members())
        .map(|(field, member)| FieldPlan {
            member,
            span: field.ty.span(),
            skip: errors.check(field_skip(&field.attrs)).unwrap_or(false),
        })
        .collect();
    errors.finish()?;
    Ok(plans)
}

/// Parses the `#[deep_size(...)]` attributes of a field: is it skipped?
fn field_skip(attrs: &[Attribute]) -> syn::Result<bool> {
    let mut skip = false;
    let mut errors = Errors::default();
    for attr in attrs
        .iter()
        .filter(|attr| attr.path().is_ident("deep_size"))
    {
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                if skip {
                    return Err(meta.error("duplicate `deep_size(skip)` option"));
                }
                skip = true;
                Ok(())
            } else {
                let name = meta
                    .path
                    .get_ident()
                    .map_or_else(|| "this option".to_owned(), |ident| format!("`{ident}`"));
                Err(meta.error(format_args!(
                    "unknown `deep_size` option {name}; {VALID_FIELD_OPTIONS}"
                )))
            }
        });
        errors.check(parsed);
    }
    errors.finish()?;
    Ok(skip)
}

/// `#[deep_size(...)]` is only meaningful on fields.
fn reject_attrs(attrs: &[Attribute], what: &str) -> syn::Result<()> {
    let mut errors = Errors::default();
    for attr in attrs
        .iter()
        .filter(|attr| attr.path().is_ident("deep_size"))
    {
        errors.push(syn::Error::new_spanned(
            attr,
            format!(
                "`#[deep_size(...)]` is not supported on {what}; put it on a field \
                 ({VALID_FIELD_OPTIONS})"
            ),
        ));
    }
    errors.finish()
}

/// `DeepSize::deep_size_of_children(<expr>)`, spanned on the field's type so
/// that a missing impl is reported there rather than on the derive.
fn field_term(span: Span, expr: &TokenStream) -> TokenStream {
    quote_spanned! {span=>
        ::cachelite::__private::cachelite_runtime::DeepSize::deep_size_of_children(#expr)
    }
}

/// The terms joined by `+`, or `0` when there are none.
fn sum(terms: &[TokenStream]) -> TokenStream {
    if terms.is_empty() {
        quote!(0)
    } else {
        quote!(#(#terms)+*)
    }
}

fn struct_body(fields: &[FieldPlan]) -> TokenStream {
    let terms: Vec<_> = fields
        .iter()
        .filter(|field| !field.skip)
        .map(|field| {
            let member = &field.member;
            field_term(field.span, &quote_spanned!(field.span=> &self.#member))
        })
        .collect();
    sum(&terms)
}

/// `Self::Variant { 0: __deep_size_0, name: __deep_size_1, .. } => ...`.
fn variant_arm(variant: &syn::Ident, shape: &Fields, fields: &[FieldPlan]) -> TokenStream {
    let mut bindings = Vec::new();
    let mut terms = Vec::new();
    for (index, field) in fields.iter().enumerate().filter(|(_, field)| !field.skip) {
        let binding = format_ident!("__deep_size_{}", index, span = field.span);
        let member = &field.member;
        bindings.push(quote!(#member: #binding));
        terms.push(field_term(field.span, &binding.to_token_stream()));
    }
    let body = sum(&terms);
    // Braced patterns work for every shape (`V { 0: x, .. }`); a unit variant
    // keeps the plain form so that the pattern reads naturally.
    let pattern = match shape {
        Fields::Unit => quote!(Self::#variant),
        Fields::Named(_) | Fields::Unnamed(_) => quote!(Self::#variant { #(#bindings,)* .. }),
    };
    quote!(#pattern => #body,)
}

fn enum_body(arms: &[TokenStream]) -> TokenStream {
    if arms.is_empty() {
        // An enum without variants has no values.
        quote!(match *self {})
    } else {
        quote!(match self { #(#arms)* })
    }
}

/// Collects several errors so that all of them are reported at once.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(existing) => existing.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// Records the error, if any, and returns the value otherwise.
    fn check<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(input: TokenStream) -> String {
        derive(input).to_string()
    }

    #[test]
    fn named_struct_sums_fields() {
        let out = expand_str(quote! {
            struct User { name: String, #[deep_size(skip)] handle: Handle, age: u32 }
        });
        assert!(out.contains("automatically_derived"), "{out}");
        assert!(out.contains("& self . name"), "{out}");
        assert!(out.contains("& self . age"), "{out}");
        assert!(!out.contains("handle"), "{out}");
    }

    #[test]
    fn generics_get_bounds() {
        let out = expand_str(quote! {
            struct Wrapper<'a, T, const N: usize> where T: Clone { items: [T; N], name: &'a str }
        });
        assert!(
            out.contains(
                "T : Clone , T : :: cachelite :: __private :: cachelite_runtime :: DeepSize"
            ),
            "{out}"
        );
        assert!(out.contains("impl < 'a , T , const N : usize >"), "{out}");
    }

    #[test]
    fn unions_are_rejected() {
        let out = expand_str(quote!(union U { a: u32, b: f32 }));
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("does not support unions"), "{out}");
    }

    #[test]
    fn unknown_options_are_rejected() {
        let out = expand_str(quote!(
            struct S {
                #[deep_size(skipp)]
                a: u32,
            }
        ));
        assert!(out.contains("compile_error"), "{out}");
        assert!(out.contains("unknown `deep_size` option `skipp`"), "{out}");
        assert!(out.contains("valid options: `skip`"), "{out}");
    }

    #[test]
    fn several_errors_are_reported_together() {
        let out = expand_str(quote! {
            #[deep_size(skip)]
            enum E { A(#[deep_size(nope)] u32), B { #[deep_size = 1] b: u8 } }
        });
        assert_eq!(out.matches("compile_error").count(), 3, "{out}");
    }

    #[test]
    fn empty_enum_matches_nothing() {
        let out = expand_str(quote!(
            enum Never {}
        ));
        assert!(out.contains("match * self { }"), "{out}");
    }

    #[test]
    fn garbage_input_is_an_error_not_a_panic() {
        let out = expand_str(quote!(
            fn not_a_type() {}
        ));
        assert!(out.contains("compile_error"), "{out}");
    }
}
