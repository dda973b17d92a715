//! Procedural macros of `mine-dsl`: `#[policy]`, `#[objective]` and `#[derive(Memory)]`.
//!
//! Use them through `mine_dsl` (`use mine_dsl::prelude::*;`); the generated code refers to
//! `::mine_dsl` paths. Misuse is reported with spanned errors, all of an item's at once, beside
//! the item as written (so nothing else fails because it vanished) and the generated items
//! that do not depend on the mistake.

use proc_macro::TokenStream;

mod args;
mod errors;
mod keys;
mod memory_derive;
mod objective_attr;
mod objective_gen;
mod params;
mod policy_attr;

/// Declares a burn module struct as a policy and the latent keys it produces.
///
/// `#[policy(produces(pi_logits, vpred), memory = VptMemory)]` generates a `<Name>Latents`
/// struct with one public field per key (typed by the key's value type), so a forward that
/// forgets a key or gives it the wrong type does not compile; and the evidence that the
/// policy provides each key, which objectives require. Without `memory = ..` the policy is
/// stateless (`()`). `latents = Ident` renames the generated struct.
#[proc_macro_attribute]
pub fn policy(args: TokenStream, item: TokenStream) -> TokenStream {
    policy_attr::expand(args.into(), item.into()).into()
}

/// Declares a function as an objective.
///
/// Each parameter says where its value comes from: `#[latent]` (a latent the policy
/// produces, named by the parameter or `#[latent(key = path)]`), `#[batch]` (a batch field,
/// `Option<&T>` when optional), `#[ctx]` (`batch_idx`, `step_name`, `global_step`) or
/// `#[hparam]` / `#[hparam(default = expr)]` (a hyperparameter). Hyperparameters become the
/// public fields of a generated serde-deserializable struct named after the function in
/// UpperCamelCase (`config = Name` overrides it; `name = "..."` overrides the registered
/// name; `before_step = path` adds a batch hook `fn(&Self, Batch, &StepContext) -> Result<Batch, ObjectiveError>`).
#[proc_macro_attribute]
pub fn objective(args: TokenStream, item: TokenStream) -> TokenStream {
    objective_attr::expand(args.into(), item.into()).into()
}

/// Implements `mine_dsl::memory::Memory` for a struct whose fields are memories.
#[proc_macro_derive(Memory)]
pub fn derive_memory(item: TokenStream) -> TokenStream {
    memory_derive::expand(item.into()).into()
}
