//! Classifies an `#[objective]` function's parameters by where their values come from.

use proc_macro2::TokenStream;
use syn::{Expr, FnArg, Ident, Pat, Path, Type};

use crate::args::{known_name, parse_args, value_as};
use crate::errors::Errors;

/// Batch fields an objective may read, with whether the batch always has them.
pub const BATCH_FIELDS: &[(&str, bool)] = &[
    ("image", false),
    ("agent_action", false),
    ("env_action", false),
    ("agent_prev_action", false),
    ("env_prev_action", false),
    ("mask", false),
    ("segmentation", false),
    ("info", true),
];

/// Step-context fields an objective may read.
pub const CTX_FIELDS: &[&str] = &["batch_idx", "step_name", "global_step"];

/// Where a parameter's value comes from.
pub enum Source {
    /// A latent, with the path of its key; `keyed` when named by `key = ..`, not by the
    /// parameter.
    Latent { key: Path, keyed: bool },
    /// A batch field; `always_present` for the field the batch always has (`info`).
    Batch { always_present: bool },
    /// A step-context field.
    Ctx,
    /// A hyperparameter, with its default value if any.
    Hparam(Option<Expr>),
}

/// One parameter of the objective function.
pub struct Param {
    pub ident: Ident,
    pub ty: Type,
    pub source: Source,
}

const SOURCES: &str = "#[latent], #[batch], #[ctx] or #[hparam]";

/// Reads every parameter, removing our attributes from the function so it stays callable.
pub fn classify(
    inputs: &mut syn::punctuated::Punctuated<FnArg, syn::Token![,]>,
    errors: &mut Errors,
) -> Vec<Param> {
    let mut params = Vec::new();
    for input in inputs.iter_mut() {
        let typed = match input {
            FnArg::Receiver(r) => {
                errors.at(&*r, "objectives are free functions: remove `self`; hyperparameters are `#[hparam]` parameters");
                continue;
            }
            FnArg::Typed(t) => t,
        };
        let ours: Vec<syn::Attribute> = typed
            .attrs
            .iter()
            .filter(|a| {
                ["latent", "batch", "ctx", "hparam"]
                    .iter()
                    .any(|n| a.path().is_ident(n))
            })
            .cloned()
            .collect();
        typed.attrs.retain(|a| {
            !["latent", "batch", "ctx", "hparam"]
                .iter()
                .any(|n| a.path().is_ident(n))
        });
        let ident = match &*typed.pat {
            Pat::Ident(p) => p.ident.clone(),
            other => {
                errors.at(
                    other,
                    "objective parameters must be plain names (`weight: f64`), not patterns",
                );
                continue;
            }
        };
        let ty = (*typed.ty).clone();
        let attr = match ours.as_slice() {
            [] => {
                errors.at(
                    &ident,
                    format!("parameter `{ident}` needs a source: mark it {SOURCES}"),
                );
                continue;
            }
            [one] => one,
            [_, second, ..] => {
                errors.at(
                    second,
                    format!("parameter `{ident}` has more than one source; keep one of {SOURCES}"),
                );
                continue;
            }
        };
        if let Some(source) = source_of(attr, &ident, &ty, errors) {
            params.push(Param { ident, ty, source });
        }
    }
    params
}

fn attr_args(attr: &syn::Attribute) -> TokenStream {
    match &attr.meta {
        syn::Meta::List(list) => list.tokens.clone(),
        _ => TokenStream::new(),
    }
}

fn source_of(
    attr: &syn::Attribute,
    ident: &Ident,
    ty: &Type,
    errors: &mut Errors,
) -> Option<Source> {
    let kind = attr
        .path()
        .get_ident()
        .map(|i| i.to_string())
        .unwrap_or_default();
    let args = parse_args(attr_args(attr), errors);
    match kind.as_str() {
        "latent" => {
            let mut key: Path = ident.clone().into();
            for arg in &args {
                if known_name(arg, "latent", &["key"], "`key = path`", errors).is_some() {
                    key =
                        value_as::<Path>(arg, "a latent key path, like `key = pi_logits`", errors)?;
                }
            }
            if !matches!(ty, Type::Reference(_)) {
                errors.at(
                    ty,
                    format!(
                        "latent parameter `{ident}` must be a reference, like `&{}`",
                        compact(ty)
                    ),
                );
                return None;
            }
            if let Some(error) = crate::keys::near_miss(&key) {
                errors.push(error);
                return None;
            }
            let keyed = !key.is_ident(ident);
            Some(Source::Latent { key, keyed })
        }
        "batch" => {
            reject_args(&args, "batch", errors);
            let name = ident.to_string();
            let Some((_, always)) = BATCH_FIELDS.iter().find(|(f, _)| *f == name) else {
                let known: Vec<_> = BATCH_FIELDS.iter().map(|(f, _)| *f).collect();
                errors.at(
                    ident,
                    format!(
                        "unknown batch field `{name}`; a batch has: {}",
                        known.join(", ")
                    ),
                );
                return None;
            };
            if !is_option(ty) && !matches!(ty, Type::Reference(_)) {
                errors.at(ty, format!("batch parameter `{ident}` must be `&T`, or `Option<&T>` when the batch may lack it"));
                return None;
            }
            Some(Source::Batch {
                always_present: *always,
            })
        }
        "ctx" => {
            reject_args(&args, "ctx", errors);
            let name = ident.to_string();
            if !CTX_FIELDS.contains(&name.as_str()) {
                errors.at(
                    ident,
                    format!(
                        "unknown step-context field `{name}`; the context has: {}",
                        CTX_FIELDS.join(", ")
                    ),
                );
                return None;
            }
            Some(Source::Ctx)
        }
        _ => {
            let mut default = None;
            for arg in &args {
                if known_name(arg, "hparam", &["default"], "`default = value`", errors).is_some() {
                    default = value_as::<Expr>(arg, "a value, like `default = 1.0`", errors);
                }
            }
            if matches!(ty, Type::Reference(_)) {
                errors.at(ty, format!("hyperparameter `{ident}` must be an owned value (it is a config field), not a reference"));
                return None;
            }
            Some(Source::Hparam(default))
        }
    }
}

fn reject_args(args: &[crate::args::Arg], kind: &str, errors: &mut Errors) {
    for arg in args {
        errors.at(
            &arg.name,
            format!(
                "unknown `#[{kind}]` argument `{}`: `#[{kind}]` takes no arguments",
                arg.name
            ),
        );
    }
}

fn is_option(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p.path.segments.last().is_some_and(|s| s.ident == "Option"),
        _ => false,
    }
}

/// A type as source text, without the spaces token printing puts around `<` and `>`.
fn compact(ty: &Type) -> String {
    quote::quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
}
