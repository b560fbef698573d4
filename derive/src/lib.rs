//! `#[replaylog::record]`: one line on a struct makes it a ring record that describes itself.
//! Use it through the `replaylog` crate, which re-exports it as `replaylog::record`; the code it
//! generates names `::replaylog`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{ToTokens, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Error, Fields, LitStr, Path, Token};

/// Longest record or field name a layout stores, in bytes (`replaylog::format::layout::NAME_BYTES_MAX`).
const NAME_BYTES_MAX: usize = 255;

/// The zerocopy traits the attribute derives (and the ones those derives imply).
const ZEROCOPY_DERIVES: [&str; 6] = ["FromBytes", "IntoBytes", "Immutable", "KnownLayout", "FromZeros", "TryFromBytes"];

/// # What it emits and checks
///
/// Use it as `replaylog::record`, which re-exports it. On a struct with named fields it emits
/// `#[repr(C)]` (unless already written), zerocopy's `FromBytes`, `IntoBytes`, `Immutable` and
/// `KnownLayout` derives (through `replaylog::zerocopy`), `impl replaylog::RecordLayout` and
/// `impl replaylog::RecordField` (so the struct can be a field of another record). Other
/// attributes and derives (`Clone`, `Copy`, `Debug`, `PartialEq`, ...) stay on the struct, above
/// or below the attribute.
///
/// The layout's name is the struct's name, or `#[replaylog::record(name = "...")]`. Each field's
/// type, offset and count come from the compiler: the type through `replaylog::RecordField`
/// (`u8`..`u64`, `i8`..`i64`, `f32`, `f64`, arrays of them, `[u8; N]` as bytes, nested records
/// flattened as `outer.inner`), the offset from `core::mem::offset_of!`. Fields whose name starts
/// with `_` are explicit padding: they stay in the struct and out of the layout.
///
/// Compile errors, each saying what to write instead: a field type that is not a record field
/// (`bool`, `usize`, `String`, a tuple, ...), implicit padding between or after fields, an enum,
/// a union, a tuple or unit struct, a generic struct, a `repr` other than `C`, and the zerocopy
/// derives or `#[zerocopy]` attribute written by hand.
#[proc_macro_attribute]
pub fn record(args: TokenStream, item: TokenStream) -> TokenStream {
    let item = TokenStream2::from(item);
    match expand(args.into(), item.clone()) {
        Ok(out) => out.into(),
        // Keep the item itself so its uses do not add errors of their own, less the zerocopy
        // derives the error may be about (they would fail for want of `zerocopy` at the root).
        Err(e) => {
            let mut out = e.to_compile_error();
            match syn::parse2::<DeriveInput>(item.clone()) {
                Ok(mut input) => {
                    input.attrs.retain(|attr| !attr.path().is_ident("zerocopy") && !derives_zerocopy(attr));
                    out.extend(input.into_token_stream());
                }
                Err(_) => out.extend(item),
            }
            out.into()
        }
    }
}

/// Whether `attr` is a `#[derive(...)]` naming one of [`ZEROCOPY_DERIVES`].
fn derives_zerocopy(attr: &syn::Attribute) -> bool {
    attr.path().is_ident("derive")
        && attr
            .parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated)
            .is_ok_and(|paths| paths.iter().any(is_zerocopy_derive))
}

fn is_zerocopy_derive(path: &Path) -> bool {
    path.segments.last().is_some_and(|last| ZEROCOPY_DERIVES.iter().any(|z| last.ident == z))
}

/// Collects errors so one compile shows all of them.
#[derive(Default)]
struct Errors(Option<Error>);

impl Errors {
    fn push(&mut self, e: Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }

    fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

fn expand(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let mut layout_name: Option<LitStr> = None;
    let args_parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            layout_name = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error("unknown `#[replaylog::record]` argument; the one argument is `name = \"...\"`"))
        }
    });
    args_parser.parse2(args)?;

    let input: DeriveInput = syn::parse2(item).map_err(|e| {
        Error::new(
            e.span(),
            "`#[replaylog::record]` applies to a struct with named fields (`struct Tick { seq: u64 }`)",
        )
    })?;
    let mut errors = Errors::default();

    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) if named.named.is_empty() => {
                errors.push(Error::new_spanned(named, "a record needs at least one field"));
                Vec::new()
            }
            Fields::Named(named) => named.named.iter().collect(),
            Fields::Unnamed(unnamed) => {
                errors.push(Error::new_spanned(
                    unnamed,
                    "a record cannot be a tuple struct: its layout stores every field's name; \
                     name the fields (`struct Sample { value: f64 }`)",
                ));
                Vec::new()
            }
            Fields::Unit => {
                errors.push(Error::new(
                    input.ident.span(),
                    "a record cannot be a unit struct: it has no fields to store; give it named fields",
                ));
                Vec::new()
            }
        },
        Data::Enum(e) => {
            return Err(Error::new(
                e.enum_token.span,
                "`#[replaylog::record]` cannot describe an enum: a record is a struct of fixed-size fields; \
                 store the variant as an integer field (e.g. `kind: u8`) and its data in further fields",
            ));
        }
        Data::Union(u) => {
            return Err(Error::new(
                u.union_token.span,
                "`#[replaylog::record]` cannot describe a union: its fields overlap; use a struct, with a \
                 `[u8; N]` field for raw bytes",
            ));
        }
    };

    if !input.generics.params.is_empty() || input.generics.where_clause.is_some() {
        errors.push(Error::new_spanned(
            &input.generics,
            "a record cannot be generic: the layout stored in a ring file describes one concrete type; \
             declare one struct per concrete type",
        ));
    }

    let has_repr_c = check_attrs(&input, &mut errors);

    let ident = &input.ident;
    let layout_name = match layout_name {
        Some(lit) => {
            let value = lit.value();
            if value.is_empty() || value.len() > NAME_BYTES_MAX {
                errors.push(Error::new(lit.span(), format!("a record name must be 1..={NAME_BYTES_MAX} bytes")));
            }
            value
        }
        None => ident.unraw().to_string(),
    };

    let mut described = Vec::new();
    let mut bounds = Vec::new();
    for field in &fields {
        for attr in &field.attrs {
            if attr.path().is_ident("cfg") || attr.path().is_ident("cfg_attr") {
                errors.push(Error::new_spanned(
                    attr,
                    "a record field cannot be conditional: the stored layout would change with the build \
                     configuration; make the whole struct conditional instead",
                ));
            }
        }
        let field_ident = field.ident.as_ref().expect("named field");
        let name = field_ident.unraw().to_string();
        if name.starts_with('_') {
            continue; // explicit padding: in the struct, not in the layout
        }
        if name.len() > NAME_BYTES_MAX {
            errors.push(Error::new(field_ident.span(), format!("a field name must be at most {NAME_BYTES_MAX} bytes")));
        }
        let ty = &field.ty;
        // Spanned on the field's type, so an unsupported type is reported there.
        bounds.push(quote_spanned! {ty.span()=> #ty: ::replaylog::RecordField });
        described.push(quote! {
            <#ty as ::replaylog::RecordField>::push_fields(
                &if prefix.is_empty() {
                    ::std::string::String::from(#name)
                } else {
                    ::std::format!("{}.{}", prefix, #name)
                },
                base + ::core::mem::offset_of!(#ident, #field_ident) as u32,
                fields,
            );
        });
    }
    errors.finish()?;

    let padding_checks = padding_checks(ident, &fields);
    let unused = described.is_empty().then(|| quote! { let _ = (prefix, base, fields); });
    let repr = (!has_repr_c).then(|| quote! { #[repr(C)] });

    // The checks are bounds of items placed before the struct: rustc checks those before the
    // bounds of zerocopy's impls, so our messages come first.
    let padding_check = (!padding_checks.is_empty()).then(|| {
        quote! {
            const _: () = {
                #[allow(dead_code)]
                struct RecordChecks where #(#padding_checks),*;
            };
        }
    });

    Ok(quote! {
        #padding_check

        // The field types' bounds on both impls: an unsupported type is reported once, at the
        // field's type (the bodies may assume them), and before zerocopy's messages about it.
        impl ::replaylog::RecordField for #ident where #(#bounds),* {
            fn push_fields(prefix: &str, base: u32, fields: &mut ::std::vec::Vec<::replaylog::Field>) {
                #unused
                #(#described)*
            }
        }

        impl ::replaylog::RecordLayout for #ident where #(#bounds),* {
            fn layout() -> ::replaylog::Layout {
                let mut fields = ::std::vec::Vec::new();
                <Self as ::replaylog::RecordField>::push_fields("", 0, &mut fields);
                ::replaylog::Layout::new(#layout_name, fields)
            }
        }

        #[derive(
            ::replaylog::zerocopy::FromBytes,
            ::replaylog::zerocopy::IntoBytes,
            ::replaylog::zerocopy::Immutable,
            ::replaylog::zerocopy::KnownLayout
        )]
        #[zerocopy(crate = "::replaylog::zerocopy")]
        #repr
        #input
    })
}

/// Rejects `repr`s other than `C`, hand-written zerocopy derives and `#[zerocopy]`; returns
/// whether `#[repr(C)]` is already there.
fn check_attrs(input: &DeriveInput, errors: &mut Errors) -> bool {
    let mut has_repr_c = false;
    for attr in &input.attrs {
        let path = attr.path();
        if path.is_ident("repr") {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("C") {
                    has_repr_c = true;
                    return Ok(());
                }
                let repr = meta.path.to_token_stream().to_string();
                if meta.input.peek(syn::token::Paren) {
                    let content;
                    syn::parenthesized!(content in meta.input);
                    content.parse::<TokenStream2>()?;
                }
                let why = match repr.as_str() {
                    "packed" => "packed fields can be unaligned, and a record is read in place",
                    "align" => "a larger alignment adds implicit trailing padding",
                    _ => "a record's bytes are laid out by `#[repr(C)]`",
                };
                errors.push(Error::new(
                    meta.path.span(),
                    format!(
                        "`#[repr({repr})]` is not allowed on a record: {why}; remove it \
                         (`#[replaylog::record]` adds `#[repr(C)]`; pad with explicit `_pad: [u8; N]` fields)"
                    ),
                ));
                Ok(())
            });
            if let Err(e) = parsed {
                errors.push(e);
            }
        } else if path.is_ident("zerocopy") {
            errors.push(Error::new_spanned(
                attr,
                "remove `#[zerocopy(...)]`: `#[replaylog::record]` derives zerocopy's traits through \
                 `replaylog::zerocopy` itself",
            ));
        } else if path.is_ident("derive") {
            let Ok(derives) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated) else {
                continue; // rustc reports a malformed derive itself
            };
            for derive in derives.iter().filter(|d| is_zerocopy_derive(d)) {
                let name = &derive.segments.last().expect("a derive path has a segment").ident;
                errors.push(Error::new_spanned(
                    derive,
                    format!(
                        "remove `{name}` from this derive: `#[replaylog::record]` already derives \
                         FromBytes, IntoBytes, Immutable and KnownLayout"
                    ),
                ));
            }
        }
    }
    has_repr_c
}

/// One const item per field that fails to compile, with a message naming the field and the
/// padding field to add, when implicit padding follows that field (before the next field or at
/// the end of the struct).
fn padding_checks(ident: &syn::Ident, fields: &[&syn::Field]) -> Vec<TokenStream2> {
    let mut out = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let field_ident = field.ident.as_ref().expect("named field");
        let ty = &field.ty;
        let next = match fields.get(i + 1) {
            Some(next) => {
                let next_ident = next.ident.as_ref().expect("named field");
                quote! { ::core::mem::offset_of!(#ident, #next_ident) }
            }
            None => quote! { ::core::mem::size_of::<#ident>() },
        };
        let name = field_ident.unraw().to_string();
        let place = if i + 1 == fields.len() { "at the end of" } else { "inside" };
        let arms = (1..=15usize).map(|pad| {
            let msg = format!(
                "`{ident}` has {pad} byte{s} of implicit padding after field `{name}` ({place} the struct), \
                 which a record cannot hold: add an explicit field `_pad: [u8; {pad}]` after `{name}` \
                 (fields named `_...` are padding, left out of the layout), or order the fields from \
                 largest to smallest alignment",
                s = if pad == 1 { "" } else { "s" },
            );
            quote_spanned! {field_ident.span()=> #pad => ::core::panic!(#msg), }
        });
        let other = format!(
            "`{ident}` has implicit padding after field `{name}`, which a record cannot hold: add explicit \
             `_pad: [u8; N]` fields after `{name}` up to the next field's alignment"
        );
        // Spanned on the field, so the error points at it.
        out.push(quote_spanned! {field_ident.span()=>
            [(); {
                let end = ::core::mem::offset_of!(#ident, #field_ident) + ::core::mem::size_of::<#ty>();
                match #next - end {
                    0 => {}
                    #(#arms)*
                    _ => ::core::panic!(#other),
                }
                0
            }]: ::core::marker::Sized
        });
    }
    if !fields.is_empty() {
        out.push(quote_spanned! {ident.span()=>
            [(); {
                ::core::assert!(
                    ::core::mem::size_of::<#ident>() <= u32::MAX as usize,
                    "a record must be smaller than 4 GiB"
                );
                0
            }]: ::core::marker::Sized
        });
    }
    out
}
