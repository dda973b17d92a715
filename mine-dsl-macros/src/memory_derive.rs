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
    // Saved and loaded in field order. A field that is not a memory is already reported at
    // its type by the calls above; the load carries the same span so it is not reported twice.
    let saves = fields.iter().zip(&members).map(|(f, m)| {
        quote_spanned!(f.ty.span()=> ::mine_dsl::memory::Memory::save_state(&self.#m, state);)
    });
    let loads = fields.iter().zip(&members).map(|(f, m)| {
        let ty = &f.ty;
        quote_spanned!(ty.span()=> #m: <#ty as ::mine_dsl::memory::Memory>::load_state(state, device)?)
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

            fn save_state(&self, state: &mut ::mine_dsl::memory::MemoryState) {
                let _ = &state;
                #(#saves)*
            }

            fn load_state(
                state: &mut ::mine_dsl::memory::MemoryState,
                device: &::mine_dsl::__private::burn::tensor::Device,
            ) -> ::core::result::Result<Self, ::mine_dsl::memory::MemoryStateError> {
                let _ = (&state, device);
                ::core::result::Result::Ok(Self { #(#loads,)* })
            }
        }
    })
}
