//! Experiment configuration files: TOML over built-in defaults, with Hydra-style dotted
//! overrides from the command line (`trainer.optimizer.learning_rate=4e-5 data.win_len=64`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A configuration file or override could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// The file could not be read.
    #[error("config file {path}: {cause}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        cause: std::io::Error,
    },
    /// The file is not valid TOML, or a value does not fit its key.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What serde reported (the key and what it expected).
        message: String,
    },
    /// An override is not of the form `dotted.key=value`.
    #[error("override `{0}`: expected `dotted.key=value`, like `trainer.max_steps=100`")]
    Override(String),
}

/// Reads `path` over `defaults`, applies `overrides`, and deserializes the result.
///
/// Tables merge key by key, so a file only needs the settings it changes. Unknown keys and
/// values of the wrong type are rejected with the file's name (config structs deny unknown
/// fields).
///
/// A table with one of the [`SELECTOR_KEYS`] (GROOT's `[policy]` and its `architecture`, a timm
/// backbone's `[policy.backbone]` and its model `name`) holds the keys of what that key selects
/// only: a file or an override that selects another architecture or model than the defaults'
/// replaces the table instead of merging into it, so the defaults of what it selects fill what
/// it leaves out (a ViT's `patch_size` is no argument of an EfficientNet).
pub fn load<T: Serialize + DeserializeOwned>(
    path: &Path,
    defaults: &T,
    overrides: &[String],
) -> Result<T, ConfigFileError> {
    let invalid = |message: String| ConfigFileError::Invalid {
        path: path.to_owned(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigFileError::Read {
        path: path.to_owned(),
        cause,
    })?;
    let file: toml::Table = toml::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let mut merged = toml::Table::try_from(defaults).map_err(|e| invalid(e.to_string()))?;
    merge(&mut merged, file);
    for item in overrides {
        apply_override(&mut merged, item)?;
    }
    toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| {
            invalid(format!("{} (after overrides {overrides:?})", e.message()))
        })
}

/// The keys that select which set of keys a table holds: GROOT's `architecture` (MineStudio's
/// `GrootPolicy` or ours) and a timm backbone's model `name`.
pub const SELECTOR_KEYS: [&str; 2] = ["architecture", "name"];

/// Whether `over` selects another architecture or model than `base`.
fn switches_selection(base: &toml::Table, over: &toml::Table) -> bool {
    SELECTOR_KEYS.iter().any(|&key| {
        over.get(key)
            .is_some_and(|selected| base.get(key) != Some(selected))
    })
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) if switches_selection(b, &o) => {
                *b = o;
            }
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Sets `a.b.c` in `table` to `value` (parsed as TOML; a bare word is a string).
pub fn apply_override(table: &mut toml::Table, item: &str) -> Result<(), ConfigFileError> {
    let (key, raw) = item
        .split_once('=')
        .ok_or_else(|| ConfigFileError::Override(item.to_owned()))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(ConfigFileError::Override(item.to_owned()));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()));
    let (last, path) = parts
        .split_last()
        .ok_or_else(|| ConfigFileError::Override(item.to_owned()))?;
    let mut node = table;
    for part in path {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = match entry {
            toml::Value::Table(t) => t,
            _ => {
                return Err(ConfigFileError::Override(format!(
                    "{item} (`{part}` is not a table)"
                )));
            }
        };
    }
    if SELECTOR_KEYS.contains(last) && node.get(*last) != Some(&value) {
        // Another architecture or model: the table starts afresh (see `load`).
        node.clear();
    }
    node.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn another_architecture_replaces_the_table_instead_of_merging() {
        let defaults = table(
            "[policy]\narchitecture = 'minestudio'\nhiddim = 256\ndecoder_kwargs = { mem_len = 16 }",
        );
        // The same architecture (or none named): merged key by key.
        let mut merged = defaults.clone();
        merge(&mut merged, table("[policy]\nhiddim = 128"));
        assert_eq!(
            merged,
            table(
                "[policy]\narchitecture = 'minestudio'\nhiddim = 128\ndecoder_kwargs = { mem_len = 16 }"
            )
        );
        // Another one: the file's table alone.
        let mut merged = defaults.clone();
        merge(
            &mut merged,
            table("[policy]\narchitecture = 'scratch'\nhiddim = 32"),
        );
        assert_eq!(
            merged,
            table("[policy]\narchitecture = 'scratch'\nhiddim = 32")
        );
        // An override of the architecture clears the table; later overrides fill it.
        let mut over = defaults.clone();
        apply_override(&mut over, "policy.architecture=scratch").unwrap();
        apply_override(&mut over, "policy.hiddim=32").unwrap();
        assert_eq!(
            over,
            table("[policy]\narchitecture = 'scratch'\nhiddim = 32")
        );
        let mut same = defaults.clone();
        apply_override(&mut same, "policy.architecture=minestudio").unwrap();
        assert_eq!(same, defaults);
    }

    #[test]
    fn another_backbone_model_replaces_its_arguments() {
        let defaults = table(
            "[policy]\narchitecture = 'minestudio'\nhiddim = 256\n\
             [policy.backbone]\nname = 'vit_base_patch32_clip_224.openai'\nimg_size = 128\n\
             patch_size = 16\ndepth = 2",
        );
        // The same model: its arguments merge key by key.
        let mut merged = defaults.clone();
        merge(&mut merged, table("[policy.backbone]\ndepth = 4"));
        assert_eq!(
            merged["policy"]["backbone"]["patch_size"].as_integer(),
            Some(16)
        );
        assert_eq!(merged["policy"]["backbone"]["depth"].as_integer(), Some(4));
        // Another model: the file's arguments alone (the ViT's do not fit an EfficientNet);
        // the rest of `[policy]` still merges.
        let mut merged = defaults.clone();
        merge(
            &mut merged,
            table("[policy.backbone]\nname = 'efficientnet_b0.ra_in1k'\nimg_size = 128"),
        );
        assert_eq!(
            merged,
            table(
                "[policy]\narchitecture = 'minestudio'\nhiddim = 256\n\
                 [policy.backbone]\nname = 'efficientnet_b0.ra_in1k'\nimg_size = 128"
            )
        );
        // An override of the model clears the backbone's table; later overrides fill it.
        let mut over = defaults.clone();
        apply_override(&mut over, "policy.backbone.name=efficientnet_b0.ra_in1k").unwrap();
        apply_override(&mut over, "policy.backbone.img_size=128").unwrap();
        assert_eq!(over, merged);
    }
}
