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
    // Every call names the field's type (`<Ty as Memory>::..`) at the type's span: a field that
    // is not a memory is then the same error four times, which rustc reports once.
    let calls = |method: TokenStream| {
        fields.iter().zip(&members).map(move |(f, m)| {
            let ty = &f.ty;
            (
                m,
                quote_spanned!(ty.span()=> <#ty as ::mine_dsl::memory::Memory>::#method),
            )
        })
    };
    let resets =
        calls(quote!(reset_rows)).map(|(m, f)| quote!(#m: #f(self.#m, reset, &initial.#m)));
    let detaches = calls(quote!(detach)).map(|(m, f)| quote!(#m: #f(self.#m)));
    // Saved and loaded in field order.
    let saves = calls(quote!(save_state)).map(|(m, f)| quote!(#f(&self.#m, state);));
    let loads = calls(quote!(load_state)).map(|(m, f)| quote!(#m: #f(state, device)?));
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
