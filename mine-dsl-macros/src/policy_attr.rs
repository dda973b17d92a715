//! `#[policy(produces(..), memory = .., latents = ..)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, Item, ItemStruct, Path, Token, Type};

use crate::args::{ArgValue, first_time, parse_args, value_as};
use crate::errors::{Errors, into_tokens, item_keyword};
use crate::keys::{assert_is_key, key_type, near_miss};

const KNOWN: &str = "`produces(..)`, `memory = Type`, `latents = Name`";

struct PolicyArgs {
    produces: Vec<Path>,
    memory: Option<Type>,
    latents: Option<Ident>,
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    into_tokens(expand_inner(args, item))
}

fn expand_inner(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let parsed = parse_policy_args(args, &mut errors);
    let item: Item = syn::parse2(item)?;
    let Item::Struct(strukt) = item else {
        return Err(errors.fail_with(
            item_keyword(&item),
            "`#[policy]` applies to a struct (a burn `Module`); put it on the policy's struct definition",
        ));
    };
    if !strukt.generics.params.is_empty() {
        errors.at(
            &strukt.generics,
            "`#[policy]` structs cannot be generic: burn 0.22 modules need no backend parameter, \
             and the compile-time wiring check needs one concrete policy type",
        );
    }
    errors.finish()?;
    Ok(generate(&strukt, parsed))
}

fn parse_policy_args(args: TokenStream, errors: &mut Errors) -> PolicyArgs {
    let span = if args.is_empty() {
        proc_macro2::Span::call_site()
    } else {
        args.span()
    };
    let mut out = PolicyArgs {
        produces: Vec::new(),
        memory: None,
        latents: None,
    };
    let mut seen = Vec::new();
    for arg in parse_args(args, errors) {
        let name = arg.name.to_string();
        if !first_time(&mut seen, &arg.name, errors) {
            continue;
        }
        match name.as_str() {
            "produces" => {
                let ArgValue::List(tokens) = &arg.value else {
                    errors.at(
                        &arg.name,
                        "write the produced keys in parentheses: `produces(pi_logits, vpred)`",
                    );
                    continue;
                };
                match syn::parse::Parser::parse2(Punctuated::<Path, Token![,]>::parse_terminated, tokens.clone()) {
                    Ok(paths) => {
                        if paths.is_empty() {
                            errors.at(&arg.name, "a policy must produce at least one latent key: `produces(pi_logits, ..)`");
                        }
                        for path in paths {
                            let field = field_name(&path);
                            if let Some(error) = near_miss(&path) {
                                errors.push(error);
                            } else if out.produces.iter().any(|p| field_name(p) == field) {
                                errors.at(&path, format!("duplicate key `{field}` in `produces(..)`"));
                            } else {
                                out.produces.push(path);
                            }
                        }
                    }
                    Err(e) => errors.push(syn::Error::new(e.span(), "expected latent key names separated by commas, like `produces(pi_logits, vpred)`")),
                }
            }
            "memory" => {
                out.memory =
                    value_as::<Type>(&arg, "a memory type, like `memory = VptMemory`", errors)
            }
            "latents" => {
                out.latents =
                    value_as::<Ident>(&arg, "a struct name, like `latents = MyLatents`", errors)
            }
            _ => errors.at(
                &arg.name,
                format!("unknown `#[policy]` argument `{name}`; expected {KNOWN}"),
            ),
        }
    }
    if !seen.iter().any(|s| s == "produces") {
        errors.push(syn::Error::new(
            span,
            "`#[policy]` needs the keys it produces: `#[policy(produces(pi_logits, vpred))]`",
        ));
    }
    out
}

fn field_name(path: &Path) -> Ident {
    path.segments
        .last()
        .map(|s| s.ident.clone())
        .unwrap_or_else(|| format_ident!("_"))
}

fn generate(strukt: &ItemStruct, args: PolicyArgs) -> TokenStream {
    let ident = &strukt.ident;
    let vis = &strukt.vis;
    let latents = args
        .latents
        .unwrap_or_else(|| format_ident!("{}Latents", ident));
    let memory = args
        .memory
        .map(|m| quote!(#m))
        .unwrap_or_else(|| quote!(()));
    let fields: Vec<Ident> = args.produces.iter().map(field_name).collect();
    let keys: Vec<TokenStream> = args.produces.iter().map(key_type).collect();
    let asserts = args.produces.iter().map(assert_is_key);
    let docs = fields.iter().zip(&keys).map(|(f, k)| {
        let doc = format!("The `{f}` latent.");
        quote_spanned!(f.span()=> #[doc = #doc] pub #f: <#k as ::mine_dsl::latent::LatentKey>::Value)
    });
    let struct_doc = format!(
        "The latents [`{ident}`] produces, one field per key in `#[policy(produces(..))]`."
    );
    let name = ident.to_string();
    quote! {
        #strukt

        #[doc = #struct_doc]
        #[derive(Clone, Debug)]
        #vis struct #latents {
            #(#docs,)*
        }

        #(#asserts)*

        impl ::mine_dsl::latent::LatentSet for #latents {
            fn keys() -> ::std::vec::Vec<::mine_dsl::latent::KeyInfo> {
                ::std::vec![#(<#keys as ::mine_dsl::latent::LatentKey>::info()),*]
            }

            fn get_any(&self, name: &str) -> ::std::option::Option<&dyn ::std::any::Any> {
                #(
                    if name == <#keys as ::mine_dsl::latent::LatentKey>::NAME {
                        return ::std::option::Option::Some(&self.#fields);
                    }
                )*
                ::std::option::Option::None
            }
        }

        impl ::mine_dsl::policy::PolicyDecl for #ident {
            type Latents = #latents;
            type Memory = #memory;
            const NAME: &'static str = #name;
        }

        #(
            impl<__O> ::mine_dsl::policy::Provides<#keys, __O> for #ident {
                #[inline(always)]
                fn latent(latents: &#latents) -> &<#keys as ::mine_dsl::latent::LatentKey>::Value {
                    &latents.#fields
                }
            }
        )*
    }
}
