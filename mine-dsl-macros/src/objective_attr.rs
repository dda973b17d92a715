//! `#[objective(name = "..", config = Name, before_step = path)]` on a function.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericParam, Ident, Item, ItemFn, LitStr, Path, ReturnType};

use crate::args::{first_time, parse_args, value_as};
use crate::errors::{Errors, into_tokens, item_keyword};
use crate::keys::{assert_is_key, key_type};
use crate::params::{Param, Source, classify};

const KNOWN: &str = "`name = \"..\"`, `config = Name`, `before_step = path`";

#[derive(Default)]
struct ObjectiveArgs {
    name: Option<LitStr>,
    config: Option<Ident>,
    before_step: Option<Path>,
}

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    into_tokens(expand_inner(args, item))
}

fn expand_inner(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let args = parse_objective_args(args, &mut errors);
    let mut func = match syn::parse2::<Item>(item)? {
        Item::Fn(f) => f,
        other => {
            return Err(errors.fail_with(
                item_keyword(&other),
                "`#[objective]` applies to a function: `#[objective] fn my_loss(#[latent] pi_logits: &PiLogits, ..) -> ObjectiveOutput`",
            ));
        }
    };
    check_signature(&func, &mut errors);
    let params = classify(&mut func.sig.inputs, &mut errors);
    check_duplicates(&params, &mut errors);
    errors.finish()?;
    Ok(generate(&func, &params, args))
}

fn parse_objective_args(args: TokenStream, errors: &mut Errors) -> ObjectiveArgs {
    let mut out = ObjectiveArgs::default();
    let mut seen = Vec::new();
    for arg in parse_args(args, errors) {
        if !first_time(&mut seen, &arg.name, errors) {
            continue;
        }
        match arg.name.to_string().as_str() {
            "name" => out.name = value_as(&arg, "a string, like `name = \"bc\"`", errors),
            "config" => {
                out.config = value_as(&arg, "a struct name, like `config = MyLoss`", errors)
            }
            "before_step" => {
                out.before_step = value_as(
                    &arg,
                    "a function path, like `before_step = my_hook`",
                    errors,
                )
            }
            other => errors.at(
                &arg.name,
                format!("unknown `#[objective]` argument `{other}`; expected {KNOWN}"),
            ),
        }
    }
    out
}

fn check_signature(func: &ItemFn, errors: &mut Errors) {
    let sig = &func.sig;
    for param in &sig.generics.params {
        if !matches!(param, GenericParam::Lifetime(_)) {
            errors.at(
                param,
                "objectives cannot have type or const parameters: the generated config struct needs concrete hyperparameter types",
            );
        }
    }
    if let Some(asyncness) = &sig.asyncness {
        errors.at(
            asyncness,
            "objectives cannot be `async`: they run inside the training step",
        );
    }
    if let ReturnType::Default = sig.output {
        errors.at(
            &sig.ident,
            format!(
                "objective `{}` must return its loss and metrics: add `-> ObjectiveOutput` (or `-> Result<ObjectiveOutput, E>`)",
                sig.ident
            ),
        );
    }
}

fn check_duplicates(params: &[Param], errors: &mut Errors) {
    let mut keys: Vec<String> = Vec::new();
    for p in params {
        if let Source::Latent(path) = &p.source {
            let key = quote!(#path).to_string();
            if keys.contains(&key) {
                errors.at(
                    path,
                    format!("latent `{key}` is consumed twice; take it once"),
                );
            }
            keys.push(key);
        }
    }
}

fn upper_camel(name: &str) -> String {
    name.split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn generate(func: &ItemFn, params: &[Param], args: ObjectiveArgs) -> TokenStream {
    let fn_ident = &func.sig.ident;
    let vis = &func.vis;
    let config = args
        .config
        .unwrap_or_else(|| format_ident!("{}", upper_camel(&fn_ident.to_string())));
    let name = args
        .name
        .unwrap_or_else(|| LitStr::new(&fn_ident.to_string(), fn_ident.span()));

    let latents: Vec<(&Ident, TokenStream, &Path)> = params
        .iter()
        .filter_map(|p| match &p.source {
            Source::Latent(path) => Some((&p.ident, key_type(path), path)),
            _ => None,
        })
        .collect();
    let latent_idents: Vec<_> = latents.iter().map(|(i, _, _)| *i).collect();
    let latent_keys: Vec<_> = latents.iter().map(|(_, k, _)| k.clone()).collect();
    let key_asserts = latents.iter().map(|(_, _, path)| assert_is_key(path));

    let hparams: Vec<&Param> = params
        .iter()
        .filter(|p| matches!(p.source, Source::Hparam(_)))
        .collect();
    let all_defaults = hparams
        .iter()
        .all(|p| matches!(p.source, Source::Hparam(Some(_))));
    let fields = hparams.iter().map(|p| {
        let (ident, ty) = (&p.ident, &p.ty);
        let doc = format!("Hyperparameter `{ident}` of objective `{}`.", name.value());
        let default = match &p.source {
            Source::Hparam(Some(_)) => {
                let path = format!("{config}::__mine_dsl_default_{ident}");
                quote!(#[serde(default = #path)])
            }
            _ => quote!(),
        };
        quote!(#[doc = #doc] #default pub #ident: #ty)
    });
    let default_fns = hparams.iter().filter_map(|p| match &p.source {
        Source::Hparam(Some(expr)) => {
            let (ident, ty) = (&p.ident, &p.ty);
            let f = format_ident!("__mine_dsl_default_{}", ident);
            Some(quote_spanned!(expr.span()=> #[doc(hidden)] pub fn #f() -> #ty { #expr }))
        }
        _ => None,
    });
    let withs = hparams.iter().map(|p| {
        let (ident, ty) = (&p.ident, &p.ty);
        let f = format_ident!("with_{}", ident);
        let doc = format!("Sets hyperparameter `{ident}`.");
        quote!(#[doc = #doc] #[must_use] pub fn #f(mut self, #ident: #ty) -> Self { self.#ident = #ident; self })
    });
    let default_impl = all_defaults.then(|| {
        let inits = hparams.iter().map(|p| {
            let ident = &p.ident;
            let f = format_ident!("__mine_dsl_default_{}", ident);
            quote!(#ident: Self::#f())
        });
        quote! {
            impl ::core::default::Default for #config {
                fn default() -> Self { Self { #(#inits,)* } }
            }
        }
    });

    let extracts = params.iter().filter_map(|p| {
        let ident = &p.ident;
        let field = ident.to_string();
        match p.source {
            Source::Batch { optional: true, .. } => {
                Some(quote!(let #ident = batch.#ident.as_ref();))
            }
            Source::Batch {
                always_present: true,
                ..
            } => Some(quote!(let #ident = &batch.#ident;)),
            Source::Batch { .. } => Some(quote! {
                let #ident = batch.#ident.as_ref().ok_or(
                    ::mine_dsl::objective::ObjectiveError::MissingBatchField {
                        objective: <Self as ::mine_dsl::objective::ObjectiveDecl>::NAME,
                        field: #field,
                    },
                )?;
            }),
            _ => None,
        }
    });
    let call_args = params.iter().map(|p| {
        let ident = &p.ident;
        let span = p.ty.span();
        match p.source {
            Source::Latent(_) | Source::Batch { .. } => quote_spanned!(span=> #ident),
            Source::Ctx => quote_spanned!(span=> ctx.#ident),
            Source::Hparam(_) => quote_spanned!(span=> ::core::clone::Clone::clone(&self.#ident)),
        }
    });
    let before_step = args.before_step.map(|path| {
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
    let struct_doc = format!(
        "Objective `{}` (from function [`{fn_ident}`]) with its hyperparameters; deserializable from an experiment config.",
        name.value()
    );
    let ret_span = match &func.sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => Span::call_site(),
    };
    let result = quote_spanned! {ret_span=>
        ::mine_dsl::objective::IntoObjectiveResult::into_objective_result(#fn_ident(#(#call_args),*))
    };

    quote! {
        // Objectives take one parameter per source by design.
        #[allow(clippy::too_many_arguments)]
        #func

        #[doc = #struct_doc]
        #[derive(Clone, Debug, PartialEq, ::mine_dsl::__private::serde::Serialize, ::mine_dsl::__private::serde::Deserialize)]
        #[serde(crate = "::mine_dsl::__private::serde", deny_unknown_fields)]
        #vis struct #config {
            #(#fields,)*
        }

        #(#key_asserts)*

        impl #config {
            #(#default_fns)*
            #(#withs)*

            #[doc(hidden)]
            #[allow(clippy::too_many_arguments)]
            fn __mine_dsl_evaluate(
                &self,
                #(#latent_idents: &<#latent_keys as ::mine_dsl::latent::LatentKey>::Value,)*
                batch: &::mine_dsl::batch::Batch,
                ctx: &::mine_dsl::objective::StepContext,
            ) -> ::core::result::Result<::mine_dsl::objective::ObjectiveOutput, ::mine_dsl::objective::ObjectiveError> {
                let _ = (batch, ctx);
                #(#extracts)*
                #result
            }
        }

        #default_impl

        impl ::mine_dsl::objective::ObjectiveDecl for #config {
            const NAME: &'static str = #name;

            fn consumes() -> ::std::vec::Vec<::mine_dsl::latent::KeyInfo> {
                ::std::vec![#(<#latent_keys as ::mine_dsl::latent::LatentKey>::info()),*]
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
                    let #latent_idents = latents.get::<#latent_keys>().ok_or(
                        ::mine_dsl::objective::ObjectiveError::MissingLatent {
                            objective: #name,
                            key: <#latent_keys as ::mine_dsl::latent::LatentKey>::NAME,
                        },
                    )?;
                )*
                self.__mine_dsl_evaluate(#(#latent_idents,)* batch, ctx)
            }
        }

        impl<__P> ::mine_dsl::objective::Objective<__P> for #config
        where
            __P: ::mine_dsl::policy::PolicyDecl #(+ ::mine_dsl::policy::Provides<#latent_keys, #config>)*
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
                    let #latent_idents = <__P as ::mine_dsl::policy::Provides<#latent_keys, #config>>::latent(latents);
                )*
                self.__mine_dsl_evaluate(#(#latent_idents,)* batch, ctx)
            }
        }
    }
}
