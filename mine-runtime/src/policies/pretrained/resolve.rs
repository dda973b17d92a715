//! The network configuration of a run: the checkpoint's, or the `[policy]` settings.

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::PretrainedError;

/// The network configuration: the checkpoint's `checkpoint` when it carries one, every key of
/// `explicit` (the `[policy]` settings as written) agreeing with it; otherwise `explicit`
/// itself, missing keys taking their defaults. The `training_keys` (settings of this program
/// that do not shape the network, such as a dropout probability) are taken from `explicit`
/// even beside a checkpoint.
///
/// ```
/// use mine_runtime::policies::pretrained::resolve_config;
/// use mine_runtime::policies::vpt::VptConfig;
///
/// let tiny = VptConfig::tiny();
/// let file = std::path::Path::new("hub/config.json");
/// let agreeing: toml::Table = toml::from_str("hidsize = 32\ntemperature = 1")?;
/// assert_eq!(resolve_config(&agreeing, Some((&tiny, file)), &[])?, tiny);
///
/// let conflicting: toml::Table = toml::from_str("hidsize = 256")?;
/// let error = resolve_config(&conflicting, Some((&tiny, file)), &[]).unwrap_err().to_string();
/// assert!(error.contains("policy.hidsize = 256") && error.contains("hidsize = 32"), "{error}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn resolve_config<C: Serialize + DeserializeOwned>(
    explicit: &toml::Table,
    checkpoint: Option<(&C, &Path)>,
    training_keys: &[&str],
) -> Result<C, PretrainedError> {
    let Some((carried, path)) = checkpoint else {
        return deserialize(explicit.clone());
    };
    let mut carried_table = to_table(carried)?;
    for (key, value) in explicit {
        if training_keys.contains(&key.as_str()) {
            carried_table.insert(key.clone(), value.clone());
            continue;
        }
        let mut merged = carried_table.clone();
        merge_key(&mut merged, key, value.clone());
        let normalized = to_table(&deserialize::<C>(merged)?)?;
        if normalized.get(key) != carried_table.get(key) {
            let show = |v: Option<&toml::Value>| v.map_or("(unset)".to_owned(), |v| v.to_string());
            return Err(PretrainedError::Conflict {
                key: key.clone(),
                configured: show(normalized.get(key)),
                checkpoint: show(carried_table.get(key)),
                path: path.to_owned(),
            });
        }
    }
    deserialize(carried_table)
}

fn deserialize<C: DeserializeOwned>(table: toml::Table) -> Result<C, PretrainedError> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| PretrainedError::Settings(e.message().to_owned()))
}

fn to_table<C: Serialize>(config: &C) -> Result<toml::Table, PretrainedError> {
    toml::Table::try_from(config).map_err(|e| PretrainedError::Settings(e.to_string()))
}

/// Sets `key` in `table`, merging tables key by key (a partial `init_norm_kwargs` keeps the
/// checkpoint's other entries).
fn merge_key(table: &mut toml::Table, key: &str, value: toml::Value) {
    match (table.get_mut(key), value) {
        (Some(toml::Value::Table(base)), toml::Value::Table(over)) => {
            for (k, v) in over {
                merge_key(base, &k, v);
            }
        }
        (_, value) => {
            table.insert(key.to_owned(), value);
        }
    }
}
