//! VPT from and to the checkpoint formats of MineStudio users: the network configuration
//! from `VPTPolicy`'s constructor arguments (`policy_kwargs`, `temperature`), and an export
//! that `VPTPolicy.from_pretrained` loads unchanged.

use std::path::Path;

use burn::tensor::Device;
use serde_json::{Map, Value};

use super::{ImportOptions, VptConfig, VptPolicy};
use crate::policies::pretrained::{
    ExportError, MINESTUDIO_CONFIG_FILE, MINESTUDIO_WEIGHTS_FILE, PretrainedError,
    PretrainedPolicy, SourceConfig, WeightsFormat, WeightsSource, create_dir, load_burnpack,
    minestudio_policy_name, read_state_dict, run_policy_config, write_json, write_safetensors,
};
use crate::policies::torch_names::torch_state_dict;

/// VPT's buffers that PyTorch holds as 0-dimensional tensors (burn holds them as `[1]`).
pub(crate) const SCALAR_BUFFERS: [&str; 1] = ["value_head.normalizer.debiasing_term"];

impl PretrainedPolicy for VptPolicy {
    type Config = VptConfig;

    const KIND: &'static str = "vpt";

    fn build(config: &VptConfig, device: &Device) -> Result<Self, PretrainedError> {
        VptPolicy::new(config, device).map_err(|e| PretrainedError::Settings(e.to_string()))
    }

    fn network(&self) -> &VptConfig {
        self.config()
    }

    fn frame_size(config: &VptConfig) -> Option<[usize; 2]> {
        Some([config.img_shape[0], config.img_shape[1]])
    }

    fn network_config(config: &SourceConfig) -> Result<Option<VptConfig>, PretrainedError> {
        match config {
            SourceConfig::MineStudio { path, kwargs } => from_kwargs(path, kwargs).map(Some),
            SourceConfig::Lightning {
                path,
                hyper_parameters,
            } => {
                // MineStudio's GROOT/ROCKET-1 scripts save the policy's arguments as `model`;
                // its VPT fine-tuning script only names the Hub repository it started from.
                let model = hyper_parameters.get("model").and_then(Value::as_object);
                match model.and_then(minestudio_policy_name) {
                    Some(found) if found != Self::KIND => Err(PretrainedError::WrongPolicy {
                        path: path.clone(),
                        found: found.into(),
                        expected: Self::KIND,
                    }),
                    _ if hyper_parameters.contains_key("policy_kwargs") => {
                        from_kwargs(path, hyper_parameters).map(Some)
                    }
                    _ => Ok(None),
                }
            }
            SourceConfig::Run { path, policy } => {
                run_policy_config(path, policy, Self::KIND, "VPT").map(Some)
            }
        }
    }

    fn load_pretrained(self, source: &WeightsSource) -> Result<Self, PretrainedError> {
        if source.format == WeightsFormat::Burnpack {
            return load_burnpack(self, &source.weights);
        }
        let tensors = read_state_dict(&source.weights)?;
        // MineStudio's own loaders drop tensors the network has no parameter for.
        let options = ImportOptions {
            allow_unexpected: source.format != WeightsFormat::StateDict,
        };
        self.load_state_dict(&source.weights, tensors, options)
            .map_err(|e| PretrainedError::Tensors(e.to_string()))
    }

    fn export_minestudio(&self, dir: &Path) -> Result<(), ExportError> {
        create_dir(dir)?;
        let tensors = torch_state_dict(self, &SCALAR_BUFFERS);
        write_safetensors(&dir.join(MINESTUDIO_WEIGHTS_FILE), &tensors)?;
        write_json(
            &dir.join(MINESTUDIO_CONFIG_FILE),
            &minestudio_kwargs(self.config()),
        )
    }
}

/// `VPTPolicy`'s constructor arguments for `config`, as `save_pretrained` records them:
/// `{"action_space": null, "policy_kwargs": {...}, "temperature": t}` (`from_pretrained` passes
/// every key to the constructor, so nothing else may be there).
pub fn minestudio_kwargs(config: &VptConfig) -> Value {
    let mut policy_kwargs = serde_json::to_value(config).unwrap_or_default();
    if let Value::Object(map) = &mut policy_kwargs {
        map.remove("temperature");
    }
    serde_json::json!({
        "action_space": null,
        "policy_kwargs": policy_kwargs,
        "temperature": config.temperature,
    })
}

/// A [`VptConfig`] from `VPTPolicy`'s constructor arguments.
fn from_kwargs(path: &Path, kwargs: &Map<String, Value>) -> Result<VptConfig, PretrainedError> {
    let config_error = |message: String| PretrainedError::Config {
        path: path.to_owned(),
        message,
    };
    let other = minestudio_policy_name(kwargs).filter(|name| *name != VptPolicy::KIND);
    let (Some(policy_kwargs), None) = (kwargs.get("policy_kwargs"), other) else {
        return Err(match other {
            Some(found) => PretrainedError::WrongPolicy {
                path: path.to_owned(),
                found: found.into(),
                expected: VptPolicy::KIND,
            },
            None => config_error(
                "no `policy_kwargs` (the arguments of MineStudio's VPTPolicy) in it".into(),
            ),
        });
    };
    if kwargs.get("action_space").is_some_and(|a| !a.is_null()) {
        return Err(PretrainedError::Unsupported {
            path: path.to_owned(),
            message: "a custom `action_space`: only VPT's default action space (8641 button \
                      and 121 camera classes) is supported"
                .into(),
        });
    }
    let mut config: VptConfig = serde_json::from_value(policy_kwargs.clone())
        .map_err(|e| config_error(format!("policy_kwargs: {e}")))?;
    if let Some(temperature) = kwargs.get("temperature") {
        config.temperature = temperature
            .as_f64()
            .ok_or_else(|| config_error(format!("temperature {temperature} is not a number")))?;
    }
    config
        .validate()
        .map_err(|e| config_error(format!("policy_kwargs: {e}")))?;
    Ok(config)
}
