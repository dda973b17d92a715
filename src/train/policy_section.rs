//! `[policy]` of the training program: which policy, where its weights come from, what stays
//! frozen, and the network's settings as written.

use std::fmt;
use std::path::PathBuf;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The policies the training program builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyKind {
    /// `VptPolicy` (MineStudio's `VPTPolicy`); settings are its `policy_kwargs` and
    /// `temperature`.
    Vpt,
    /// `GrootPolicy`; settings are its `GrootConfig`.
    Groot,
    /// `RocketPolicy` (MineStudio's ROCKET-1); settings are `RocketPolicy`'s arguments
    /// (`hiddim`, `num_heads`, ...).
    Rocket,
}

impl PolicyKind {
    /// Every kind, as written in configs.
    pub const ALL: [PolicyKind; 3] = [PolicyKind::Vpt, PolicyKind::Groot, PolicyKind::Rocket];

    /// The name in `policy.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::Vpt => "vpt",
            PolicyKind::Groot => "groot",
            PolicyKind::Rocket => "rocket",
        }
    }

    /// The kind named `name` in `policy.kind`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `[policy]` table:
///
/// ```toml
/// [policy]
/// kind = "vpt"                       # "vpt" | "groot" | "rocket"
/// weights = "hub/VPT.foundation_2x"  # optional: pretrained weights (any format MineStudio users have)
/// freeze = ["img_process"]           # optional: modules kept out of the optimizer
/// hidsize = 256                      # the network's settings (from the checkpoint when it has them)
/// ```
///
/// The network's settings are kept as written: when the weights carry a configuration, it
/// is the network's, and the settings written here may only repeat it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PolicySection {
    /// `kind`; required.
    pub kind: Option<PolicyKind>,
    /// `weights`: the checkpoint to start from.
    pub weights: Option<PathBuf>,
    /// `freeze`: modules (PyTorch names) whose parameters do not train.
    pub freeze: Vec<String>,
    /// Every other key: the network's settings.
    pub settings: toml::Table,
}

impl Serialize for PolicySection {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut table = toml::Table::new();
        if let Some(kind) = self.kind {
            table.insert("kind".into(), kind.as_str().into());
        }
        if let Some(weights) = &self.weights {
            table.insert("weights".into(), weights.display().to_string().into());
        }
        if !self.freeze.is_empty() {
            let names = self.freeze.iter().cloned().map(toml::Value::from);
            table.insert("freeze".into(), toml::Value::Array(names.collect()));
        }
        table.extend(self.settings.clone());
        table.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PolicySection {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut settings = toml::Table::deserialize(deserializer)?;
        let kind = match settings.remove("kind") {
            None => None,
            Some(toml::Value::String(name)) => Some(PolicyKind::parse(&name).ok_or_else(|| {
                D::Error::custom(format!(
                    "policy.kind = \"{name}\" is not known: use one of {}",
                    known_kinds()
                ))
            })?),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "policy.kind = {other} must be a string: one of {}",
                    known_kinds()
                )));
            }
        };
        let weights = match settings.remove("weights") {
            None => None,
            Some(toml::Value::String(path)) => Some(PathBuf::from(path)),
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "policy.weights = {other} must be a path (a string)"
                )));
            }
        };
        let freeze = match settings.remove("freeze") {
            None => Vec::new(),
            Some(value) => Vec::<String>::deserialize(value).map_err(|_| {
                D::Error::custom(
                    "policy.freeze must be a list of module names, like [\"img_process\"]",
                )
            })?,
        };
        Ok(Self {
            kind,
            weights,
            freeze,
            settings,
        })
    }
}

fn known_kinds() -> String {
    PolicyKind::ALL
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_separates_the_settings() {
        let text = "kind = \"vpt\"\nweights = \"w.safetensors\"\nfreeze = [\"img_process\"]\nhidsize = 32\n";
        let section: PolicySection = toml::from_str(text).unwrap();
        assert_eq!(section.kind, Some(PolicyKind::Vpt));
        assert_eq!(section.freeze, ["img_process"]);
        assert_eq!(section.settings.len(), 1);
        let again: PolicySection = toml::from_str(&toml::to_string(&section).unwrap()).unwrap();
        assert_eq!(again, section);
    }

    #[test]
    fn bad_values_are_named() {
        let error = toml::from_str::<PolicySection>("kind = \"steve\"").unwrap_err();
        assert!(
            error.to_string().contains("\"vpt\", \"groot\", \"rocket\""),
            "{error}"
        );
        let error = toml::from_str::<PolicySection>("freeze = \"img_process\"").unwrap_err();
        assert!(
            error.to_string().contains("list of module names"),
            "{error}"
        );
    }
}
