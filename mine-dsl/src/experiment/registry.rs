//! Objectives by name, for experiments assembled from configuration files.

use std::collections::BTreeMap;

use crate::latent::KeyInfo;
use crate::objective::ObjectiveDecl;
use crate::policy::PolicyDecl;

use super::wired::{Wired, WiredObjective};
use super::wiring_error::WiringError;

type Build<P> = fn(serde_json::Value) -> Result<Box<dyn WiredObjective<P>>, WiringError>;

struct Entry<P: PolicyDecl> {
    consumes: fn() -> Vec<KeyInfo>,
    build: Build<P>,
}

/// The objectives an experiment config may name, with their hyperparameter types.
///
/// [`ObjectiveRegistry::builtin`] holds `behavior_clone` and `kl_divergence`; add your own
/// `#[objective]`s with [`ObjectiveRegistry::register`].
pub struct ObjectiveRegistry<P: PolicyDecl> {
    entries: BTreeMap<&'static str, Entry<P>>,
}

impl<P: PolicyDecl> Default for ObjectiveRegistry<P> {
    fn default() -> Self {
        Self::builtin()
    }
}

impl<P: PolicyDecl> ObjectiveRegistry<P> {
    /// A registry with no objectives.
    pub fn empty() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }

    /// A registry with the built-in objectives.
    pub fn builtin() -> Self {
        let mut registry = Self::empty();
        registry
            .register::<crate::objectives::BehaviorClone>()
            .register::<crate::objectives::KlDivergence>();
        registry
    }

    /// Makes objective `O` available under its name (`O::NAME`), replacing any previous one.
    pub fn register<O: ObjectiveDecl>(&mut self) -> &mut Self {
        fn build<P: PolicyDecl, O: ObjectiveDecl>(
            params: serde_json::Value,
        ) -> Result<Box<dyn WiredObjective<P>>, WiringError> {
            let objective: O = serde_json::from_value(params).map_err(|cause| {
                WiringError::InvalidHyperparameters {
                    objective: O::NAME,
                    cause,
                }
            })?;
            Ok(Box::new(Wired::<O, P>::validated(objective)))
        }
        self.entries.insert(
            O::NAME,
            Entry {
                consumes: O::consumes,
                build: build::<P, O>,
            },
        );
        self
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.entries.keys().copied().collect()
    }

    pub(crate) fn canonical_name(&self, name: &str) -> Result<&'static str, WiringError> {
        self.entries
            .get_key_value(name)
            .map(|(k, _)| *k)
            .ok_or_else(|| self.unknown(name))
    }

    pub(crate) fn consumes(&self, name: &str) -> Result<Vec<KeyInfo>, WiringError> {
        Ok((self.entry(name)?.consumes)())
    }

    pub(crate) fn build(
        &self,
        name: &str,
        params: serde_json::Value,
    ) -> Result<Box<dyn WiredObjective<P>>, WiringError> {
        (self.entry(name)?.build)(params)
    }

    fn entry(&self, name: &str) -> Result<&Entry<P>, WiringError> {
        self.entries.get(name).ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> WiringError {
        WiringError::UnknownObjective {
            name: name.to_owned(),
            known: self.names(),
        }
    }
}
