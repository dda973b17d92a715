//! Reading a [`GrootConfig`]: `architecture` when the table names it, otherwise the
//! vocabulary its keys belong to.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::GrootConfig;

/// Keys only MineStudio's vocabulary has.
const MINESTUDIO_ONLY: [&str; 5] = [
    "video_encoder_kwargs",
    "image_encoder_kwargs",
    "decoder_kwargs",
    "action_space",
    "fuser_dropout",
];

/// Keys only our vocabulary has.
const SCRATCH_ONLY: [&str; 8] = [
    "img_shape",
    "pixel_mean",
    "pixel_std",
    "video_encoder",
    "image_encoder",
    "fuser",
    "decoder",
    "temperature",
];

impl<'de> Deserialize<'de> for GrootConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_value(Value::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

fn from_value(value: Value) -> Result<GrootConfig, String> {
    let Value::Object(mut map) = value else {
        return Err(format!("a GROOT configuration is a table, not {value}"));
    };
    let architecture = match map.remove("architecture") {
        Some(Value::String(name)) => name,
        Some(other) => {
            return Err(format!(
                "`architecture` = {other} must be a string: {}",
                known()
            ));
        }
        None if is_minestudio(&map) => "minestudio".to_owned(),
        None => "scratch".to_owned(),
    };
    let table = Value::Object(map.clone());
    let result = match architecture.as_str() {
        "minestudio" => serde_json::from_value(table).map(GrootConfig::MineStudio),
        "scratch" => serde_json::from_value(table).map(GrootConfig::Scratch),
        other => {
            return Err(format!(
                "`architecture` = \"{other}\" is not known: {}",
                known()
            ));
        }
    };
    result.map_err(|e| {
        let (others, other) = match architecture.as_str() {
            "minestudio" => (&SCRATCH_ONLY[..], "scratch"),
            _ => (&MINESTUDIO_ONLY[..], "minestudio"),
        };
        match others.iter().find(|key| map.contains_key(**key)) {
            Some(key) => format!(
                "{e} (architecture = \"{architecture}\"; `{key}` is a setting of \
                 architecture = \"{other}\": set that, or remove `{key}`)"
            ),
            None => format!("{e} (architecture = \"{architecture}\")"),
        }
    })
}

/// Whether a table without `architecture` is in MineStudio's vocabulary.
fn is_minestudio(map: &Map<String, Value>) -> bool {
    let names_timm_model = match map.get("backbone") {
        Some(Value::String(_)) => true,
        Some(Value::Object(table)) => table.contains_key("name"),
        _ => false,
    };
    names_timm_model || MINESTUDIO_ONLY.iter().any(|key| map.contains_key(*key))
}

fn known() -> String {
    format!(
        "\"{}\" (MineStudio's GrootPolicy) or \"{}\" (our own, trained from scratch)",
        GrootConfig::ARCHITECTURES[0],
        GrootConfig::ARCHITECTURES[1]
    )
}
