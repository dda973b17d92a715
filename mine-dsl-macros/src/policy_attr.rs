//! `#[policy(produces(..), memory = .., latents = ..)]`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Ident, Item, ItemStruct, Path, Token, Type};

use crate::args::{ArgValue, first_time, known_name, parse_args, value_as};
use crate::errors::{Errors, item_keyword};
use crate::keys::{assert_is_key, key_bounds, key_type, near_miss};

const KNOWN: &[&str] = &["produces", "memory", "latents"];
const EXPECTED: &str = "`produces(..)`, `memory = Type`, `latents = Name`";

struct PolicyArgs {
    /// The keys that resolved; a bad one is reported and left out.
    produces: Vec<Path>,
    memory: Option<Type>,
    /// `memory = ..` was given but is not a type: the declaration would be wrong.
    memory_failed: bool,
    latents: Option<Ident>,
}

/// Emits the user's item unchanged, every error, and the generated items that do not depend on
/// what failed: the latents struct with the keys that resolved, and the policy declaration
/// unless the struct is generic or its memory unknown. One mistake is then one error, not one
/// for every use of the policy.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_policy_args(args, &mut errors);
    let strukt = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Struct(strukt)) => strukt,
        Ok(other) => {
            errors.at(
                item_keyword(&other),
                "`#[policy]` applies to a struct (a burn `Module`); put it on the policy's struct definition",
            );
            return quote!(#errors #other);
        }
        Err(error) => {
            errors.push(error);
            return quote!(#errors #item);
        }
    };
    let generic = !strukt.generics.params.is_empty();
    if generic {
        errors.at(
            &strukt.generics,
            "`#[policy]` structs cannot be generic: burn 0.22 modules need no backend parameter, \
             and the compile-time wiring check needs one concrete policy type",
        );
    }
    let declare = !generic && !args.memory_failed;
    let generated = generate(&strukt, args, declare);
    quote!(#errors #strukt #generated)
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
        memory_failed: false,
        latents: None,
    };
    let mut seen = Vec::new();
    for arg in parse_args(args, errors) {
        let Some(name) = known_name(&arg, "policy", KNOWN, EXPECTED, errors) else {
            continue;
        };
        if !first_time(&mut seen, name, &arg.name, errors) {
            continue;
        }
        match name {
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
                    value_as::<Type>(&arg, "a memory type, like `memory = VptMemory`", errors);
                out.memory_failed = out.memory.is_none();
            }
            "latents" => {
                out.latents =
                    value_as::<Ident>(&arg, "a struct name, like `latents = MyLatents`", errors)
            }
            _ => unreachable!("`known_name` returns one of KNOWN"),
        }
    }
    if !seen.contains(&"produces") {
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

/// The latents struct and its `LatentSet`; with `declare`, the `PolicyDecl` and `Provides`
/// implementations too.
fn generate(strukt: &ItemStruct, args: PolicyArgs, declare: bool) -> TokenStream {
    let ident = &strukt.ident;
    let vis = &strukt.vis;
    let latents = args
        .latents
        .unwrap_or_else(|| format_ident!("{}Latents", ident));
    let fields: Vec<Ident> = args.produces.iter().map(field_name).collect();
    let keys: Vec<TokenStream> = args.produces.iter().map(key_type).collect();
    let bounds = key_bounds(&args.produces);
    let asserts = args.produces.iter().map(assert_is_key);
    let docs = fields.iter().zip(&keys).map(|(f, k)| {
        let doc = format!("The `{f}` latent.");
        quote_spanned!(f.span()=> #[doc = #doc] pub #f: <#k as ::mine_dsl::latent::LatentKey>::Value)
    });
    let struct_doc = format!(
        "The latents [`{ident}`] produces, one field per key in `#[policy(produces(..))]`."
    );
    let declaration = declare.then(|| {
        let memory = args.memory.map_or_else(|| quote!(()), |m| quote!(#m));
        let name = ident.to_string();
        quote! {
            impl ::mine_dsl::policy::PolicyDecl for #ident where #bounds {
                type Latents = #latents;
                type Memory = #memory;
                const NAME: &'static str = #name;
            }

            #(
                impl<__O> ::mine_dsl::policy::Provides<#keys, __O> for #ident where #bounds {
                    #[inline(always)]
                    fn latent(latents: &#latents) -> &<#keys as ::mine_dsl::latent::LatentKey>::Value {
                        &latents.#fields
                    }
                }
            )*
        }
    });
    quote! {
        #[doc = #struct_doc]
        #[derive(Clone, Debug)]
        #vis struct #latents where #bounds {
            #(#docs,)*
        }

        #(#asserts)*

        impl ::mine_dsl::latent::LatentSet for #latents where #bounds {
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

        #declaration
    }
}
