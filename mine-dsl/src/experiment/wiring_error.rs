//! Errors found while wiring objectives named in a configuration to a policy.

use std::fmt;

use crate::latent::KeyInfo;

/// One latent an objective consumes that the policy does not provide as required.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingLatent {
    /// The objective that consumes the key.
    pub objective: &'static str,
    /// The key the objective needs, with its value type.
    pub key: KeyInfo,
    /// The key of the same name the policy produces with another value type, if any.
    pub produced_as: Option<KeyInfo>,
}

/// Why objectives named in a configuration cannot be wired to the policy.
#[derive(Debug, thiserror::Error)]
pub enum WiringError {
    /// Objectives consume latents the policy does not produce; every missing one is listed.
    #[error("{}", MissingReport { policy, produces, missing })]
    MissingLatents {
        /// The policy's name.
        policy: &'static str,
        /// The keys the policy produces.
        produces: Vec<KeyInfo>,
        /// Every latent some objective lacks.
        missing: Vec<MissingLatent>,
    },
    /// The configuration names an objective that is not registered.
    #[error(
        "unknown objective `{name}` in the experiment config; known objectives: {}; \
         register your own with `ObjectiveRegistry::register::<YourObjective>()`",
        known.join(", ")
    )]
    UnknownObjective {
        /// The name found in the configuration.
        name: String,
        /// Names of the registered objectives.
        known: Vec<&'static str>,
    },
    /// The objective's hyperparameters in the configuration do not deserialize.
    #[error("invalid hyperparameters for objective `{objective}`: {cause}")]
    InvalidHyperparameters {
        /// The objective's name.
        objective: &'static str,
        /// What serde reported (unknown field, wrong type, ...).
        cause: serde_json::Error,
    },
}

struct MissingReport<'a> {
    policy: &'a str,
    produces: &'a [KeyInfo],
    missing: &'a [MissingLatent],
}

impl fmt::Display for MissingReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "policy `{}` does not produce {} latent(s) the configured objectives consume:",
            self.policy,
            self.missing.len()
        )?;
        for m in self.missing {
            match &m.produced_as {
                None => writeln!(
                    f,
                    "  - objective `{}` consumes latent {}, which policy `{}` does not produce",
                    m.objective, m.key, self.policy
                )?,
                Some(produced) => writeln!(
                    f,
                    "  - objective `{}` consumes latent {}, but policy `{}` produces it as {}",
                    m.objective, m.key, self.policy, produced.value_type
                )?,
            }
        }
        let produced: Vec<_> = self.produces.iter().map(|k| k.name).collect();
        write!(
            f,
            "policy `{}` produces: {}. Fix: remove these objectives from the config, or use a policy \
             whose `#[policy(produces(..))]` lists the missing keys.",
            self.policy,
            if produced.is_empty() {
                "nothing".to_owned()
            } else {
                produced.join(", ")
            }
        )
    }
}
