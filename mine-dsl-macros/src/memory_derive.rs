//! `#[derive(Memory)]` for structs whose fields are memories.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Index};

use crate::errors::into_tokens;

pub fn expand(item: TokenStream) -> TokenStream {
    into_tokens(expand_inner(item))
}

fn expand_inner(item: TokenStream) -> syn::Result<TokenStream> {
    let input: DeriveInput = syn::parse2(item)?;
    let fields = match &input.data {
        Data::Struct(s) => &s.fields,
        Data::Enum(e) => {
            return Err(syn::Error::new_spanned(
                e.enum_token,
                "`#[derive(Memory)]` needs a struct: every field is reset and detached the same way",
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "`#[derive(Memory)]` needs a struct",
            ));
        }
    };
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let members: Vec<TokenStream> = match fields {
        Fields::Named(named) => named
            .named
            .iter()
            .map(|f| {
                let name = &f.ident;
                quote!(#name)
            })
            .collect(),
        Fields::Unnamed(unnamed) => (0..unnamed.unnamed.len())
            .map(|i| {
                let index = Index::from(i);
                quote!(#index)
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };
    let resets = fields.iter().zip(&members).map(|(f, m)| {
        quote_spanned!(f.ty.span()=> #m: ::mine_dsl::memory::Memory::reset_rows(self.#m, reset, &initial.#m))
    });
    let detaches = fields.iter().zip(&members).map(
        |(f, m)| quote_spanned!(f.ty.span()=> #m: ::mine_dsl::memory::Memory::detach(self.#m)),
    );
    let exports = fields.iter().zip(&members).map(
        |(f, m)| quote_spanned!(f.ty.span()=> ::mine_dsl::memory::Memory::export(&self.#m, out);),
    );
    let imports = fields.iter().zip(&members).map(|(f, m)| {
        let ty = &f.ty;
        quote_spanned!(f.ty.span()=> #m: <#ty as ::mine_dsl::memory::Memory>::import(&like.#m, data)?)
    });
    Ok(quote! {
        impl #impl_generics ::mine_dsl::memory::Memory for #ident #ty_generics #where_clause {
            fn reset_rows(self, reset: &[bool], initial: &Self) -> Self {
                let _ = (reset, initial);
                Self { #(#resets,)* }
            }

            fn detach(self) -> Self {
                Self { #(#detaches,)* }
            }

            fn export(&self, out: &mut ::std::vec::Vec<::mine_dsl::__private::burn::tensor::TensorData>) {
                let _ = out;
                #(#exports)*
            }

            fn import(
                like: &Self,
                data: &mut dyn ::core::iter::Iterator<Item = ::mine_dsl::__private::burn::tensor::TensorData>,
            ) -> ::core::result::Result<Self, ::mine_dsl::memory::MemoryImportError> {
                let _ = (like, &data);
                ::core::result::Result::Ok(Self { #(#imports,)* })
            }
        }
    })
}
