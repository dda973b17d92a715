//! `#[objective(name = "..", config = Name, before_step = path)]` on a function.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::{GenericParam, Ident, Item, ItemFn, LitStr, Path, ReturnType};

use crate::args::{first_time, known_name, parse_args, value_as};
use crate::errors::{Errors, item_keyword};
use crate::objective_gen::{Objective, generate};
use crate::params::{Param, Source, classify};

const KNOWN: &[&str] = &["name", "config", "before_step"];
const EXPECTED: &str = "`name = \"..\"`, `config = Name`, `before_step = path`";

#[derive(Default)]
struct ObjectiveArgs {
    name: Option<LitStr>,
    config: Option<Ident>,
    before_step: Option<Path>,
}

/// Emits the user's function (our parameter attributes stripped), every error, and the
/// generated items that do not depend on what failed: the config struct with the
/// hyperparameters that were understood, and the objective's implementations, which call the
/// function only when its signature is usable. One mistake is then one error, not one for
/// every use of the objective. A method (`self`) or a generic function gets no generated items.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse_objective_args(args, &mut errors);
    let mut func = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(func)) => func,
        Ok(other) => {
            errors.at(
                item_keyword(&other),
                "`#[objective]` applies to a function: `#[objective] fn my_loss(#[latent] pi_logits: &PiLogits, ..) -> ObjectiveOutput`",
            );
            return quote!(#errors #other);
        }
        Err(error) => {
            errors.push(error);
            return quote!(#errors #item);
        }
    };
    let before = errors.len();
    let generic = check_signature(&func, &mut errors);
    let params = classify(&mut func.sig.inputs, &mut errors);
    let callable = errors.len() == before;
    check_duplicates(&params, &mut errors);
    let generated = (!generic && func.sig.receiver().is_none()).then(|| {
        let fn_ident = &func.sig.ident;
        generate(Objective {
            config: args
                .config
                .unwrap_or_else(|| format_ident!("{}", upper_camel(&fn_ident.to_string()))),
            name: args
                .name
                .unwrap_or_else(|| LitStr::new(&fn_ident.to_string(), fn_ident.span())),
            before_step: args.before_step,
            func: &func,
            params: &params,
            callable,
        })
    });
    quote!(#errors #func #generated)
}

fn parse_objective_args(args: TokenStream, errors: &mut Errors) -> ObjectiveArgs {
    let mut out = ObjectiveArgs::default();
    let mut seen = Vec::new();
    for arg in parse_args(args, errors) {
        let Some(name) = known_name(&arg, "objective", KNOWN, EXPECTED, errors) else {
            continue;
        };
        if !first_time(&mut seen, name, &arg.name, errors) {
            continue;
        }
        match name {
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
            _ => unreachable!("`known_name` returns one of KNOWN"),
        }
    }
    out
}

/// Reports what makes the function unusable as an objective; returns whether it has type or
/// const parameters (the generated config struct could not name their types).
fn check_signature(func: &ItemFn, errors: &mut Errors) -> bool {
    let sig = &func.sig;
    let mut generic = false;
    for param in &sig.generics.params {
        if !matches!(param, GenericParam::Lifetime(_)) {
            generic = true;
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
    generic
}

fn check_duplicates(params: &[Param], errors: &mut Errors) {
    let mut keys: Vec<String> = Vec::new();
    for p in params {
        if let Source::Latent { key: path, .. } = &p.source {
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
