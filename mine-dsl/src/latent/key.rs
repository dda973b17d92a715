//! The [`LatentKey`] trait and the [`latent_key!`](crate::latent_key) declaration macro.

use std::any::TypeId;

/// A named slot in the latents a policy produces, with the type of the value it carries.
///
/// Keys are zero-sized marker types named like the key itself (`pi_logits`, `vpred`, ...). A
/// policy lists the keys it produces in `#[policy(produces(..))]`, an objective names the keys it
/// consumes with `#[latent]` parameters, and the compiler checks that the two agree. Declare your
/// own keys with [`latent_key!`](crate::latent_key).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a latent key",
    label = "not declared as a latent key",
    note = "declare it with `mine_dsl::latent_key!(pub {Self}: <value type>);` or use a built-in key (`mine_dsl::latent::builtin`)"
)]
pub trait LatentKey: 'static {
    /// The value a policy stores under this key (`Debug`, as the latents struct of a policy is).
    type Value: Clone + std::fmt::Debug + Send + 'static;
    /// The key's name as written in code and configuration files.
    const NAME: &'static str;

    /// The key's description, used in wiring checks and error messages.
    fn info() -> KeyInfo {
        KeyInfo {
            name: Self::NAME,
            value_type: std::any::type_name::<Self::Value>(),
            value_type_id: TypeId::of::<Self::Value>(),
        }
    }
}

/// A latent key described at run time: its name and the type of its value.
///
/// Used to validate experiments assembled from configuration files, where objectives are chosen
/// by name after compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyInfo {
    /// The key's name.
    pub name: &'static str,
    /// The value type's name (for messages).
    pub value_type: &'static str,
    /// The value type's identity (for comparisons).
    pub value_type_id: TypeId,
}

impl std::fmt::Display for KeyInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` ({})", self.name, self.value_type)
    }
}

/// Declares latent keys: one line per key, `visibility name: ValueType`.
///
/// The key becomes an uninhabited type of that name implementing [`LatentKey`], usable in
/// `#[policy(produces(..))]` and as an `#[objective]` `#[latent]` parameter name.
///
/// ```
/// use burn::tensor::Tensor;
/// use mine_dsl::latent::LatentKey;
///
/// mine_dsl::latent_key!(pub goal_embedding: Tensor<2>);
/// mine_dsl::latent_key! {
///     /// Predicted distance to the goal, `[B, T]`.
///     pub goal_distance: Tensor<2>;
///     pub(crate) aux_logits: Tensor<3>;
/// }
///
/// assert_eq!(goal_embedding::NAME, "goal_embedding");
/// assert_eq!(goal_distance::NAME, "goal_distance");
/// ```
#[macro_export]
macro_rules! latent_key {
    ($($(#[$attr:meta])* $vis:vis $name:ident : $value:ty);+ $(;)?) => {
        $(
            $(#[$attr])*
            ///
            /// A latent key (an uninhabited type: it names the key and never holds a value, so a
            /// parameter of the same name still binds normally).
            #[allow(non_camel_case_types)]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            $vis enum $name {}

            // Not listed in "the following types implement `LatentKey`" under an error about
            // a type that is not a key: the note names the way to declare one.
            #[diagnostic::do_not_recommend]
            impl $crate::latent::LatentKey for $name {
                type Value = $value;
                const NAME: &'static str = stringify!($name);
            }
        )+
    };
}
