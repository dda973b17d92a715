//! Collects every error of an item so they are all reported in one pass, beside the item.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::Item;

/// A list of spanned errors, emitted together as `compile_error!`s.
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

    /// How many errors were recorded (to tell whether a step added any).
    pub fn len(&self) -> usize {
        self.list.len()
    }
}

/// The recorded errors as `compile_error!` invocations, emitted beside the user's item.
impl ToTokens for Errors {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(self.list.iter().map(syn::Error::to_compile_error));
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
