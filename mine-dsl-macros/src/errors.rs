//! Collects every error of an item so they are all reported in one pass.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::Item;

/// A list of spanned errors, emitted together.
#[derive(Default)]
pub struct Errors {
    list: Vec<syn::Error>,
}

impl Errors {
    /// Records an error.
    pub fn push(&mut self, error: syn::Error) {
        self.list.push(error);
    }

    /// Records an error at the span of `tokens`.
    pub fn at<T: quote::ToTokens>(&mut self, tokens: T, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// All recorded errors combined, followed by one more (for an item that cannot be expanded).
    pub fn fail_with(self, tokens: impl ToTokens, message: impl std::fmt::Display) -> syn::Error {
        let last = syn::Error::new_spanned(tokens, message);
        let combined = self.list.into_iter().reduce(|mut all, e| {
            all.combine(e);
            all
        });
        match combined {
            Some(mut all) => {
                all.combine(last);
                all
            }
            None => last,
        }
    }

    /// `Err` with all recorded errors combined, or `Ok` when there are none.
    pub fn finish(self) -> Result<(), syn::Error> {
        let combined = self.list.into_iter().reduce(|mut all, e| {
            all.combine(e);
            all
        });
        combined.map_or(Ok(()), Err)
    }
}

/// The compile errors of `result`, or its tokens.
pub fn into_tokens(result: Result<TokenStream, syn::Error>) -> TokenStream {
    result.unwrap_or_else(syn::Error::into_compile_error)
}

/// The keyword of an item (`enum`, `fn`, ..), where a wrong-item-kind error points.
pub fn item_keyword(item: &Item) -> TokenStream {
    match item {
        Item::Struct(s) => s.struct_token.to_token_stream(),
        Item::Enum(e) => e.enum_token.to_token_stream(),
        Item::Fn(f) => f.sig.fn_token.to_token_stream(),
        Item::Union(u) => u.union_token.to_token_stream(),
        Item::Trait(t) => t.trait_token.to_token_stream(),
        Item::Impl(i) => i.impl_token.to_token_stream(),
        Item::Type(t) => t.type_token.to_token_stream(),
        other => other.to_token_stream(),
    }
}
