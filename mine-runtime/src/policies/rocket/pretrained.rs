//! ROCKET-1 from and to MineStudio's checkpoints: the network configuration from
//! `RocketPolicy`'s constructor arguments (a Hub `config.json`, or a Lightning checkpoint's
//! `hyper_parameters.model`), its state dict loaded unchanged, and an export that
//! `RocketPolicy.from_pretrained` loads.

use std::path::Path;

use burn::tensor::Device;
use serde_json::{Map, Value};

use super::{RocketConfig, RocketPolicy};
use crate::policies::pretrained::{
    ExportError, MINESTUDIO_CONFIG_FILE, MINESTUDIO_WEIGHTS_FILE, PretrainedError,
    PretrainedPolicy, SourceConfig, StateDictFit, WeightsFormat, WeightsSource, create_dir,
    load_burnpack, minestudio_policy_name, read_state_dict, run_policy_config, write_json,
    write_safetensors,
};
use crate::policies::torch_names::torch_state_dict;
use crate::policies::vpt::pretrained::SCALAR_BUFFERS;

impl PretrainedPolicy for RocketPolicy {
    type Config = RocketConfig;

    const KIND: &'static str = "rocket";
    const TRAINING_KEYS: &'static [&'static str] = &["pooling_dropout"];

    fn build(config: &RocketConfig, device: &Device) -> Result<Self, PretrainedError> {
        RocketPolicy::new(config, device).map_err(|e| PretrainedError::Settings(e.to_string()))
    }

    fn network(&self) -> &RocketConfig {
        self.config()
    }

    /// Any: the backbone is fully convolutional and the pooling averages its feature map.
    fn frame_size(_config: &RocketConfig) -> Option<[usize; 2]> {
        None
    }

    fn network_config(config: &SourceConfig) -> Result<Option<RocketConfig>, PretrainedError> {
        match config {
            SourceConfig::MineStudio { path, kwargs } => from_kwargs(path, kwargs).map(Some),
            SourceConfig::Lightning {
                path,
                hyper_parameters,
            } => match hyper_parameters.get("model").and_then(Value::as_object) {
                // MineStudio's ROCKET-1 script saves the policy's arguments as `model`.
                Some(model) => from_kwargs(path, model).map(Some),
                None => Ok(None),
            },
            SourceConfig::Run { path, policy } => {
                run_policy_config(path, policy, Self::KIND, "ROCKET-1").map(Some)
            }
        }
    }

    fn load_pretrained(self, source: &WeightsSource) -> Result<Self, PretrainedError> {
        if source.format == WeightsFormat::Burnpack {
            return load_burnpack(self, &source.weights);
        }
        let path = &source.weights;
        let fit = StateDictFit::new(&self, read_state_dict(path)?);
        // MineStudio's own loaders drop tensors the network has no parameter for.
        let strict = source.format == WeightsFormat::StateDict;
        if !fit.fits() || (strict && !fit.unexpected.is_empty()) {
            return Err(PretrainedError::Tensors(format!(
                "ROCKET-1 weights {} do not fit the network: {}. Check that hiddim, num_heads, \
                 num_layers, mem_len and the backbone's channel_multiplier/depth_multiplier are \
                 the checkpoint's, and that it holds a ROCKET-1 (policy.kind = \"rocket\")",
                path.display(),
                fit.describe()
            )));
        }
        if !fit.unexpected.is_empty() {
            tracing::warn!(path = %path.display(), unexpected = ?fit.unexpected, "ignoring tensors the ROCKET-1 network has no parameter for");
        }
        let policy = fit.apply(self).map_err(|message| {
            PretrainedError::Tensors(format!("loading {} failed: {message}", path.display()))
        })?;
        tracing::info!(path = %path.display(), "loaded ROCKET-1 weights");
        Ok(policy)
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

/// `RocketPolicy`'s constructor arguments for `config`, as `save_pretrained` records them.
/// A backbone scaled by multipliers other than 1 (which `RocketPolicy` cannot build: timm's
/// `efficientnet_b0` fixes them) also records them, so that this program reads the directory
/// back; MineStudio then needs them passed to timm's `_gen_efficientnet` by hand.
pub fn minestudio_kwargs(config: &RocketConfig) -> Value {
    let mut kwargs = serde_json::json!({
        "action_space": null,
        "backbone": config.backbone,
        "hiddim": config.hiddim,
        "mem_len": config.mem_len,
        "nucleus_prob": config.nucleus_prob,
        "num_heads": config.num_heads,
        "num_layers": config.num_layers,
        "timesteps": config.timesteps,
    });
    if [config.channel_multiplier, config.depth_multiplier] != [1.0, 1.0] {
        tracing::warn!(
            channel_multiplier = config.channel_multiplier,
            depth_multiplier = config.depth_multiplier,
            "exporting a ROCKET-1 with a scaled EfficientNet: MineStudio's RocketPolicy builds \
             only the published B0"
        );
        kwargs["channel_multiplier"] = config.channel_multiplier.into();
        kwargs["depth_multiplier"] = config.depth_multiplier.into();
    }
    kwargs
}

/// A [`RocketConfig`] from `RocketPolicy`'s constructor arguments.
fn from_kwargs(path: &Path, kwargs: &Map<String, Value>) -> Result<RocketConfig, PretrainedError> {
    let config_error = |message: String| PretrainedError::Config {
        path: path.to_owned(),
        message,
    };
    match minestudio_policy_name(kwargs) {
        Some(RocketPolicy::KIND) => {}
        Some(found) => {
            return Err(PretrainedError::WrongPolicy {
                path: path.to_owned(),
                found: found.into(),
                expected: RocketPolicy::KIND,
            });
        }
        None => {
            return Err(config_error(
                "no `backbone` (an argument of MineStudio's RocketPolicy) in it".into(),
            ));
        }
    }
    let mut kwargs = kwargs.clone();
    if kwargs.remove("action_space").is_some_and(|a| !a.is_null()) {
        return Err(PretrainedError::Unsupported {
            path: path.to_owned(),
            message: "a custom `action_space`: only VPT's default action space (8641 button \
                      and 121 camera classes) is supported"
                .into(),
        });
    }
    let config: RocketConfig = serde_json::from_value(Value::Object(kwargs))
        .map_err(|e| config_error(format!("RocketPolicy arguments: {e}")))?;
    config.validate().map_err(|e| config_error(e.to_string()))?;
    Ok(config)
}
