//! [`LatentSet`]: the struct of latents a policy's forward returns.

use std::any::Any;

use super::key::{KeyInfo, LatentKey};

/// The latents a policy produces in one forward: a struct with one field per produced key.
///
/// `#[policy]` generates the struct and this implementation. Typed experiments read fields
/// directly; [`LatentSet::get`] (a lookup by name) serves only experiments assembled from
/// configuration files after their wiring was validated.
pub trait LatentSet: Send + 'static {
    /// The keys this set holds, in declaration order.
    fn keys() -> Vec<KeyInfo>;

    /// The value stored under `name`, type-erased, if the set holds that key.
    fn get_any(&self, name: &str) -> Option<&dyn Any>;

    /// The value stored under key `K`, if the set holds a key of that name and value type.
    fn get<K: LatentKey>(&self) -> Option<&K::Value>
    where
        Self: Sized,
    {
        self.get_any(K::NAME)?.downcast_ref::<K::Value>()
    }
}
