//! The network configuration a checkpoint carries, read as the format stores it; each policy
//! interprets it ([`PretrainedPolicy::network_config`](super::PretrainedPolicy)).

use std::path::{Path, PathBuf};

use pytorch_reader::{PickleValue, PytorchReader};
use serde_json::{Map, Value};

use super::error::PretrainedError;
use super::source::{WeightsFormat, WeightsSource};

/// A checkpoint's configuration, before a policy reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceConfig {
    /// The constructor arguments of a MineStudio policy class: a Hub `config.json`
    /// (`{"policy_kwargs": {...}, "temperature": ...}` for `VPTPolicy`), or an OpenAI `.model`
    /// file rewritten to the same layout.
    MineStudio {
        /// The file it came from.
        path: PathBuf,
        /// The arguments.
        kwargs: Map<String, Value>,
    },
    /// The `hyper_parameters` of a Lightning checkpoint: the training script's config.
    Lightning {
        /// The checkpoint.
        path: PathBuf,
        /// The hyperparameters MineStudio's `MineLightning` saved.
        hyper_parameters: Map<String, Value>,
    },
    /// The `[policy]` table of one of our run directories' `config.toml`.
    Run {
        /// The `config.toml`.
        path: PathBuf,
        /// The table.
        policy: Map<String, Value>,
    },
}

impl SourceConfig {
    /// The file the configuration came from.
    pub fn path(&self) -> &Path {
        match self {
            SourceConfig::MineStudio { path, .. }
            | SourceConfig::Lightning { path, .. }
            | SourceConfig::Run { path, .. } => path,
        }
    }
}

impl WeightsSource {
    /// Reads the configuration the checkpoint carries, if its format has one.
    pub fn read_config(&self) -> Result<Option<SourceConfig>, PretrainedError> {
        let Some(path) = &self.config else {
            return Ok(None);
        };
        match self.format {
            WeightsFormat::Hub => read_hub_config(path).map(Some),
            WeightsFormat::OpenAi => read_openai_model(path).map(Some),
            WeightsFormat::Lightning => read_lightning_hparams(path),
            WeightsFormat::Burnpack => read_run_config(path).map(Some),
            WeightsFormat::StateDict => Ok(None),
        }
    }
}

fn read_error(path: &Path, message: impl ToString) -> PretrainedError {
    PretrainedError::Read {
        path: path.to_owned(),
        message: message.to_string(),
    }
}

fn config_error(path: &Path, message: impl Into<String>) -> PretrainedError {
    PretrainedError::Config {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn read_hub_config(path: &Path) -> Result<SourceConfig, PretrainedError> {
    let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(kwargs)) => Ok(SourceConfig::MineStudio {
            path: path.to_owned(),
            kwargs,
        }),
        Ok(_) => Err(config_error(path, "expected a JSON object")),
        Err(e) => Err(config_error(path, format!("not valid JSON: {e}"))),
    }
}

/// An OpenAI `.model` pickle: `{"model": {"args": {"net": {"args": policy_kwargs},
/// "pi_head_opts": {"temperature": t}}}}` (what MineStudio's `load_vpt_policy` reads).
fn read_openai_model(path: &Path) -> Result<SourceConfig, PretrainedError> {
    let root = PytorchReader::read_pickle_data(path, None).map_err(|e| {
        read_error(
            path,
            format!("{e} (an OpenAI .model file is a pickle of the policy's arguments)"),
        )
    })?;
    let root = pickle_to_json(root);
    let args = &root["model"]["args"];
    let Value::Object(net_args) = &args["net"]["args"] else {
        return Err(config_error(
            path,
            "no [\"model\"][\"args\"][\"net\"][\"args\"] (the policy's arguments) in the pickle",
        ));
    };
    let mut kwargs = Map::new();
    kwargs.insert("policy_kwargs".into(), Value::Object(net_args.clone()));
    if let Some(temperature) = args["pi_head_opts"].get("temperature") {
        // The published files store it as an int or a float; MineStudio casts to float.
        let t = temperature
            .as_f64()
            .or_else(|| temperature.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| {
                config_error(path, format!("temperature {temperature} is not a number"))
            })?;
        kwargs.insert("temperature".into(), t.into());
    }
    Ok(SourceConfig::MineStudio {
        path: path.to_owned(),
        kwargs,
    })
}

fn read_lightning_hparams(path: &Path) -> Result<Option<SourceConfig>, PretrainedError> {
    match PytorchReader::read_pickle_data(path, Some("hyper_parameters")) {
        Ok(value) => match pickle_to_json(value) {
            Value::Object(hyper_parameters) => Ok(Some(SourceConfig::Lightning {
                path: path.to_owned(),
                hyper_parameters,
            })),
            _ => Ok(None),
        },
        // A checkpoint without hyperparameters (saved by hand, or without save_hyperparameters).
        Err(pytorch_reader::PytorchError::KeyNotFound(_)) => Ok(None),
        Err(e) => Err(read_error(path, e)),
    }
}

fn read_run_config(path: &Path) -> Result<SourceConfig, PretrainedError> {
    let text = std::fs::read_to_string(path).map_err(|e| read_error(path, e))?;
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| config_error(path, e.to_string()))?;
    let policy = match table.get("policy") {
        Some(toml::Value::Table(policy)) => policy.clone(),
        _ => return Err(config_error(path, "no [policy] table")),
    };
    match serde_json::to_value(policy) {
        Ok(Value::Object(policy)) => Ok(SourceConfig::Run {
            path: path.to_owned(),
            policy,
        }),
        _ => Err(config_error(
            path,
            "the [policy] table does not convert to JSON",
        )),
    }
}

/// A pickled value as JSON; objects the reader does not interpret become their type name.
fn pickle_to_json(value: PickleValue) -> Value {
    match value {
        PickleValue::None => Value::Null,
        PickleValue::Bool(b) => b.into(),
        PickleValue::Int(i) => i.into(),
        PickleValue::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        PickleValue::String(s) => s.into(),
        PickleValue::List(items) => items.into_iter().map(pickle_to_json).collect(),
        PickleValue::Dict(entries) => {
            let mut sorted: Vec<_> = entries.into_iter().collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                sorted
                    .into_iter()
                    .map(|(k, v)| (k, pickle_to_json(v)))
                    .collect(),
            )
        }
        PickleValue::Bytes(_) => Value::Null,
        PickleValue::Unsupported(type_name) => format!("<{type_name}>").into(),
    }
}

/// Which MineStudio policy class a set of constructor arguments belongs to (`"vpt"`,
/// `"groot"`, `"rocket"`, `"steve-1"`: the `policy.kind` that loads it, where there is one),
/// from the arguments only that class takes.
pub fn minestudio_policy_name(kwargs: &Map<String, Value>) -> Option<&'static str> {
    let has = |key: &str| kwargs.contains_key(key);
    // STEVE-1 takes `policy_kwargs` too, beside its MineCLIP and prior arguments.
    if has("mineclip_kwargs") || has("prior_kwargs") {
        Some("steve-1")
    } else if has("policy_kwargs") {
        Some("vpt")
    } else if has("video_encoder_kwargs") || has("image_encoder_kwargs") {
        Some("groot")
    } else if has("backbone") {
        Some("rocket")
    } else {
        None
    }
}

/// The policy kind a run's `[policy]` table was written for: its `kind`, or for tables the
/// typed examples wrote (without `kind`), the kind whose settings it has.
pub fn run_policy_kind(policy: &Map<String, Value>) -> Option<String> {
    match policy.get("kind").and_then(Value::as_str) {
        Some(kind) => Some(kind.to_owned()),
        None if policy.contains_key("num_layers") && policy.contains_key("mem_len") => {
            Some("rocket".to_owned())
        }
        None if policy.contains_key("hiddim") => Some("groot".to_owned()),
        None if policy.contains_key("hidsize") => Some("vpt".to_owned()),
        None => None,
    }
}

/// The network configuration of a run's `[policy]` table (without `kind`, `weights`,
/// `freeze`), refusing a table written for another policy kind than `kind`; `name` (`"VPT"`)
/// names the policy in the error of a table that does not deserialize.
pub fn run_policy_config<C: serde::de::DeserializeOwned>(
    path: &Path,
    policy: &Map<String, Value>,
    kind: &'static str,
    name: &str,
) -> Result<C, PretrainedError> {
    let table = run_policy_table(path, policy, kind)?;
    serde_json::from_value(Value::Object(table)).map_err(|e| PretrainedError::Config {
        path: path.to_owned(),
        message: format!("[policy] is not a {name} configuration: {e}"),
    })
}

fn run_policy_table(
    path: &Path,
    policy: &Map<String, Value>,
    kind: &'static str,
) -> Result<Map<String, Value>, PretrainedError> {
    let mut table = policy.clone();
    for key in ["kind", "weights", "freeze"] {
        table.remove(key);
    }
    match run_policy_kind(policy) {
        Some(found) if found != kind => Err(PretrainedError::WrongPolicy {
            path: path.to_owned(),
            found,
            expected: kind,
        }),
        _ => Ok(table),
    }
}
