//! How key names written in macro arguments resolve to key types.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

macro_rules! builtin_keys {
    ($($(#[$doc:meta])* $name:ident: $value:ty;)+) => {
        /// Latent keys built into `mine_dsl::latent`, read from the table `mine-dsl` declares
        /// them from.
        pub const BUILTIN_KEYS: &[&str] = &[$(stringify!($name)),+];
    };
}

include!("../../mine-dsl/src/latent/builtin_keys.rs");

/// The built-in key a path names, if it is a bare built-in name.
fn builtin(path: &syn::Path) -> Option<&syn::Ident> {
    path.get_ident()
        .filter(|ident| BUILTIN_KEYS.contains(&ident.to_string().as_str()))
}

/// The type path of a key: built-in names resolve to `::mine_dsl::latent::<name>`, anything else
/// is a key type in scope (declared with `latent_key!`).
pub fn key_type(path: &syn::Path) -> TokenStream {
    match builtin(path) {
        Some(ident) => quote_spanned!(ident.span()=> ::mine_dsl::latent::#ident),
        None => quote!(#path),
    }
}

/// An item that fails to compile, at the key's span, unless the key is a `LatentKey`.
pub fn assert_is_key(path: &syn::Path) -> TokenStream {
    let ty = key_type(path);
    quote_spanned! {path.span()=>
        const _: &str = <#ty as ::mine_dsl::latent::LatentKey>::NAME;
    }
}

/// `where` predicates that hold exactly when every key that is not built in is a `LatentKey`.
///
/// The generated items that use keys carry them, so a type that is not a key is reported once,
/// by [`assert_is_key`], and not at every use. The unused `for<'__k>` makes a predicate on a
/// concrete type a condition of the item rather than an error of its own (as `thiserror`'s
/// fallback does); when it holds, the keys' impls are used as without it.
pub fn key_bounds<'a>(paths: impl IntoIterator<Item = &'a syn::Path>) -> TokenStream {
    let user_keys = paths.into_iter().filter(|path| builtin(path).is_none());
    quote!(#(for<'__k> #user_keys: ::mine_dsl::latent::LatentKey,)*)
}

/// A syn error when a single-word key is a near miss of a built-in key (`pi_logit`): almost
/// surely a typo. A user key that deliberately resembles a built-in is written as a path
/// (`self::pi_logit`), which this check leaves alone.
pub fn near_miss(path: &syn::Path) -> Option<syn::Error> {
    let ident = path.get_ident()?.to_string();
    if BUILTIN_KEYS.contains(&ident.as_str()) {
        return None;
    }
    let closest = BUILTIN_KEYS
        .iter()
        .find(|key| strsim::levenshtein(key, &ident) <= 2)?;
    Some(syn::Error::new_spanned(
        path,
        format!(
            "unknown latent key `{ident}`; did you mean the built-in `{closest}`? \
             (a key of your own named `{ident}` is declared with `latent_key!` and written as a path, like `self::{ident}`)"
        ),
    ))
}
