//! The items `#[objective]` generates: the config struct and the objective's implementations.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitStr, Path, ReturnType};

use crate::keys::{key_bounds, key_type};
use crate::params::{Param, Source};

/// An objective function as understood, with the names of what it generates.
pub struct Objective<'a> {
    /// The function, as it is emitted.
    pub func: &'a ItemFn,
    /// The parameters whose source was understood.
    pub params: &'a [Param],
    /// The config struct's name.
    pub config: Ident,
    /// The objective's registered name.
    pub name: LitStr,
    /// The batch hook, if any.
    pub before_step: Option<Path>,
    /// Whether the function can be called with one argument per parameter: no error in its
    /// parameters, `async`ness or return type. Otherwise the implementations are generated
    /// with a body that never runs (the program does not compile), so uses of the objective
    /// still type-check.
    pub callable: bool,
}

/// All generated items.
pub fn generate(o: Objective) -> TokenStream {
    let latents: Vec<(&Ident, &Path)> = o
        .params
        .iter()
        .filter_map(|p| match &p.source {
            Source::Latent { key, .. } => Some((&p.ident, key)),
            _ => None,
        })
        .collect();
    let config_struct = config_struct(&o);
    let evaluate = evaluate(&o, &latents);
    let impls = trait_impls(&o, &latents);
    quote! {
        #config_struct
        #evaluate
        #impls
    }
}

/// The config struct: one public field per hyperparameter, defaults, `with_*` setters.
fn config_struct(o: &Objective) -> TokenStream {
    let config = &o.config;
    let vis = &o.func.vis;
    let hparams: Vec<(&Param, Option<&syn::Expr>)> = o
        .params
        .iter()
        .filter_map(|p| match &p.source {
            Source::Hparam(default) => Some((p, default.as_ref())),
            _ => None,
        })
        .collect();
    let default_fn = |p: &Param| format_ident!("__mine_dsl_default_{}", p.ident);
    let fields = hparams.iter().map(|(p, default)| {
        let (ident, ty) = (&p.ident, &p.ty);
        let doc = format!(
            "Hyperparameter `{ident}` of objective `{}`.",
            o.name.value()
        );
        let serde_default = default.map(|_| {
            let path = format!("{config}::{}", default_fn(p));
            quote!(#[serde(default = #path)])
        });
        quote!(#[doc = #doc] #serde_default pub #ident: #ty)
    });
    let default_fns = hparams.iter().filter_map(|(p, default)| {
        let (f, ty, expr) = (default_fn(p), &p.ty, (*default)?);
        Some(quote_spanned!(expr.span()=> #[doc(hidden)] pub fn #f() -> #ty { #expr }))
    });
    let withs = hparams.iter().map(|(p, _)| {
        let (ident, ty) = (&p.ident, &p.ty);
        let f = format_ident!("with_{}", ident);
        let doc = format!("Sets hyperparameter `{ident}`.");
        quote!(#[doc = #doc] #[must_use] pub fn #f(mut self, #ident: #ty) -> Self { self.#ident = #ident; self })
    });
    let default_impl = hparams.iter().all(|(_, d)| d.is_some()).then(|| {
        let inits = hparams.iter().map(|(p, _)| {
            let (ident, f) = (&p.ident, default_fn(p));
            quote!(#ident: Self::#f())
        });
        quote! {
            impl ::core::default::Default for #config {
                fn default() -> Self { Self { #(#inits,)* } }
            }
        }
    });
    let doc = format!(
        "Objective `{}` (from function [`{}`]) with its hyperparameters; deserializable from an experiment config.",
        o.name.value(),
        o.func.sig.ident
    );
    quote! {
        #[doc = #doc]
        #[derive(Clone, Debug, PartialEq, ::mine_dsl::__private::serde::Serialize, ::mine_dsl::__private::serde::Deserialize)]
        #[serde(crate = "::mine_dsl::__private::serde", deny_unknown_fields)]
        #vis struct #config {
            #(#fields,)*
        }

        impl #config {
            #(#default_fns)*
            #(#withs)*
        }

        #default_impl
    }
}

/// The hidden method that calls the function with each parameter's value.
fn evaluate(o: &Objective, latents: &[(&Ident, &Path)]) -> TokenStream {
    let (config, fn_ident) = (&o.config, &o.func.sig.ident);
    let idents = latents.iter().map(|(ident, _)| ident);
    // The keys' check: spanned at the key, a type that is not a key is reported there. The
    // trait implementations, which use the keys too, are conditional on them (`key_bounds`).
    let values = latents.iter().map(|(_, key)| {
        let ty = key_type(key);
        quote_spanned!(key.span()=> &<#ty as ::mine_dsl::latent::LatentKey>::Value)
    });
    let body = if o.callable {
        let args = o.params.iter().map(|p| argument(p, &o.name));
        let span = match &o.func.sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => Span::call_site(),
        };
        quote_spanned! {span=>
            let _ = (batch, ctx);
            ::mine_dsl::objective::IntoObjectiveResult::into_objective_result(#fn_ident(#(#args),*))
        }
    } else {
        let idents = idents.clone();
        // The signature's errors are reported beside the function; nothing here ever runs.
        quote! {
            let _ = (#fn_ident, #(#idents,)* batch, ctx);
            ::core::unreachable!()
        }
    };
    quote! {
        impl #config {
            #[doc(hidden)]
            #[allow(clippy::too_many_arguments)]
            fn __mine_dsl_evaluate(
                &self,
                #(#idents: #values,)*
                batch: &::mine_dsl::batch::Batch,
                ctx: &::mine_dsl::objective::StepContext,
            ) -> ::core::result::Result<::mine_dsl::objective::ObjectiveOutput, ::mine_dsl::objective::ObjectiveError> {
                #body
            }
        }
    }
}

/// One argument of the call: the parameter's value, passed through the trait of its source
/// (`mine_dsl::__private::*Param`) so that a parameter of the wrong type is reported at its
/// name. Batch and context fields, and parameters named apart from their key, get a marker
/// type of their name for the message.
fn argument(p: &Param, objective: &LitStr) -> TokenStream {
    // At the parameter's name: one token, so the whole name is underlined.
    let (ident, span) = (&p.ident, p.ident.span());
    let marker = quote!(#[allow(non_camel_case_types, dead_code)] enum #ident {});
    let private = quote_spanned!(span=> ::mine_dsl::__private);
    match &p.source {
        Source::Latent { key, keyed: false } => {
            let key = key_type(key);
            quote_spanned!(span=> <_ as #private::LatentParam<'_, #key, _>>::pass(#ident))
        }
        Source::Latent { key, keyed: true } => {
            // The key is named outside the marker's block: `key = goal::value` on a parameter
            // `goal` must not resolve `goal` to the marker.
            let key = key_type(key);
            quote_spanned! {span=> {
                type __MineDslKey = #key;
                { #marker <_ as #private::KeyedLatentParam<'_, __MineDslKey, #ident, _>>::pass(#ident) }
            }}
        }
        Source::Batch { always_present } => {
            let field = ident.to_string();
            let value = if *always_present {
                quote!(::core::option::Option::Some(&batch.#ident))
            } else {
                quote!(batch.#ident.as_ref())
            };
            quote_spanned!(span=> { #marker <_ as #private::BatchParam<'_, #ident, _>>::pass(#objective, #field, #value)? })
        }
        Source::Ctx => {
            quote_spanned!(span=> { #marker <_ as #private::CtxParam<#ident, _>>::pass(ctx.#ident) })
        }
        Source::Hparam(_) => quote_spanned!(span=> ::core::clone::Clone::clone(&self.#ident)),
    }
}

/// `ObjectiveDecl` (wiring by name) and `Objective<P>` (wiring checked by the compiler).
fn trait_impls(o: &Objective, latents: &[(&Ident, &Path)]) -> TokenStream {
    let (config, name) = (&o.config, &o.name);
    let idents: Vec<_> = latents.iter().map(|(ident, _)| ident).collect();
    let keys: Vec<_> = latents.iter().map(|(_, key)| key_type(key)).collect();
    let bounds = key_bounds(latents.iter().map(|(_, key)| *key));
    let before_step = o.before_step.as_ref().map(|path| {
        quote! {
            fn before_step(
                &self,
                batch: ::mine_dsl::batch::Batch,
                ctx: &::mine_dsl::objective::StepContext,
            ) -> ::core::result::Result<::mine_dsl::batch::Batch, ::mine_dsl::objective::ObjectiveError> {
                #path(self, batch, ctx)
            }
        }
    });
    quote! {
        impl ::mine_dsl::objective::ObjectiveDecl for #config where #bounds {
            const NAME: &'static str = #name;

            fn consumes() -> ::std::vec::Vec<::mine_dsl::latent::KeyInfo> {
                ::std::vec![#(<#keys as ::mine_dsl::latent::LatentKey>::info()),*]
            }

            #before_step

            fn compute_by_name<__L: ::mine_dsl::latent::LatentSet>(
                &self,
                latents: &__L,
                batch: &::mine_dsl::batch::Batch,
                ctx: &::mine_dsl::objective::StepContext,
            ) -> ::core::result::Result<::mine_dsl::objective::ObjectiveOutput, ::mine_dsl::objective::ObjectiveError> {
                let _ = latents;
                #(
                    let #idents = latents.get::<#keys>().ok_or(
                        ::mine_dsl::objective::ObjectiveError::MissingLatent {
                            objective: #name,
                            key: <#keys as ::mine_dsl::latent::LatentKey>::NAME,
                        },
                    )?;
                )*
                self.__mine_dsl_evaluate(#(#idents,)* batch, ctx)
            }
        }

        impl<__P> ::mine_dsl::objective::Objective<__P> for #config
        where
            __P: ::mine_dsl::policy::PolicyDecl #(+ ::mine_dsl::policy::Provides<#keys, #config>)*,
            #bounds
        {
            #[inline]
            fn compute(
                &self,
                latents: &<__P as ::mine_dsl::policy::PolicyDecl>::Latents,
                batch: &::mine_dsl::batch::Batch,
                ctx: &::mine_dsl::objective::StepContext,
            ) -> ::core::result::Result<::mine_dsl::objective::ObjectiveOutput, ::mine_dsl::objective::ObjectiveError> {
                let _ = latents;
                #(
                    let #idents = <__P as ::mine_dsl::policy::Provides<#keys, #config>>::latent(latents);
                )*
                self.__mine_dsl_evaluate(#(#idents,)* batch, ctx)
            }
        }
    }
}
