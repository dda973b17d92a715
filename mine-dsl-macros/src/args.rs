//! A tolerant parser for macro arguments: `name(list..)`, `name = value`, `name`.
//!
//! Values are kept as tokens so each macro parses them with the syntax it expects and can
//! report every bad argument, not only the first.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use syn::Ident;
use syn::parse::{ParseStream, Parser};

use crate::errors::Errors;

/// The value part of one argument.
pub enum ArgValue {
    /// `name(tokens)`.
    List(TokenStream),
    /// `name = tokens`.
    Assign(TokenStream),
    /// `name` alone.
    Flag,
}

/// One argument.
pub struct Arg {
    pub name: Ident,
    pub value: ArgValue,
}

/// Splits `args` into arguments separated by top-level commas.
pub fn parse_args(args: TokenStream, errors: &mut Errors) -> Vec<Arg> {
    let parser = |input: ParseStream| -> syn::Result<Vec<Arg>> {
        let mut out = Vec::new();
        while !input.is_empty() {
            let name: Ident = match input.parse() {
                Ok(name) => name,
                Err(e) => {
                    errors.push(syn::Error::new(
                        e.span(),
                        "expected an argument name, like `produces(..)` or `memory = ..`",
                    ));
                    skip_to_comma(input)?;
                    continue;
                }
            };
            let value = if input.peek(syn::token::Paren) {
                let group: proc_macro2::Group = input.parse()?;
                if group.delimiter() != Delimiter::Parenthesis {
                    errors.at(&group, "expected parentheses");
                }
                ArgValue::List(group.stream())
            } else if input.peek(syn::Token![=]) {
                let _: syn::Token![=] = input.parse()?;
                let mut tokens = TokenStream::new();
                let mut depth = 0i32;
                while !input.is_empty() {
                    if depth == 0 && input.peek(syn::Token![,]) {
                        break;
                    }
                    let tt: TokenTree = input.parse()?;
                    if let TokenTree::Punct(p) = &tt {
                        match p.as_char() {
                            '<' => depth += 1,
                            '>' => depth -= 1,
                            _ => {}
                        }
                    }
                    tokens.extend([tt]);
                }
                if tokens.is_empty() {
                    errors.at(&name, format!("`{name} =` needs a value"));
                }
                ArgValue::Assign(tokens)
            } else {
                ArgValue::Flag
            };
            out.push(Arg { name, value });
            if !input.is_empty() {
                let _: syn::Token![,] = input.parse()?;
            }
        }
        Ok(out)
    };
    match parser.parse2(args) {
        Ok(args) => args,
        Err(e) => {
            errors.push(e);
            Vec::new()
        }
    }
}

fn skip_to_comma(input: ParseStream) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(syn::Token![,]) {
        let _: TokenTree = input.parse()?;
    }
    if !input.is_empty() {
        let _: syn::Token![,] = input.parse()?;
    }
    Ok(())
}

/// Parses an argument's value as `T`, recording an error that says what was expected.
pub fn value_as<T: syn::parse::Parse>(arg: &Arg, expected: &str, errors: &mut Errors) -> Option<T> {
    match &arg.value {
        ArgValue::Assign(tokens) => match syn::parse2::<T>(tokens.clone()) {
            Ok(v) => Some(v),
            Err(_) => {
                errors.at(tokens, format!("`{}` expects {expected}", arg.name));
                None
            }
        },
        _ => {
            errors.at(
                &arg.name,
                format!(
                    "`{}` expects a value: `{} = {expected}`",
                    arg.name, arg.name
                ),
            );
            None
        }
    }
}

/// The known argument `arg` names: its own name, or the known name it is a near miss of
/// (`produce`), which is reported as a typo and read as meant, so that nothing else is
/// reported because of it. `None`, reported with the list of `expected`, for anything else.
pub fn known_name(
    arg: &Arg,
    attribute: &str,
    known: &[&'static str],
    expected: &str,
    errors: &mut Errors,
) -> Option<&'static str> {
    let name = arg.name.to_string();
    if let Some(known) = known.iter().find(|k| **k == name) {
        return Some(known);
    }
    let near = known
        .iter()
        .find(|k| strsim::levenshtein(k, &name) <= 2)
        .copied();
    let message = match near {
        Some(near) => format!("unknown `#[{attribute}]` argument `{name}`; did you mean `{near}`?"),
        None => format!("unknown `#[{attribute}]` argument `{name}`; expected {expected}"),
    };
    errors.at(&arg.name, message);
    near
}

/// Records an error if an argument of this name was already seen; returns whether it is new.
pub fn first_time(
    seen: &mut Vec<&'static str>,
    name: &'static str,
    at: &Ident,
    errors: &mut Errors,
) -> bool {
    if seen.contains(&name) {
        errors.at(at, format!("duplicate argument `{name}`"));
        false
    } else {
        seen.push(name);
        true
    }
}
