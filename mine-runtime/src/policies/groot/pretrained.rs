//! GROOT through `policy.weights`: MineStudio's `GrootPolicy` checkpoints (a Hub directory with
//! `config.json` + `model.safetensors`, a Lightning `.ckpt` or its `-EMA.ckpt` twin whose
//! `hyper_parameters.model` holds the policy's arguments, a bare state dict) load into the
//! MineStudio architecture, whose parameters carry MineStudio's names; this program's own
//! `.bpk` weights load into either architecture; the MineStudio architecture exports a
//! directory that `GrootPolicy.from_pretrained` reads.

use std::path::Path;

use burn::tensor::Device;
use serde_json::{Map, Value};

use super::{GrootConfig, GrootPolicy, MineStudioGrootConfig};
use crate::policies::pretrained::{
    ExportError, MINESTUDIO_CONFIG_FILE, MINESTUDIO_WEIGHTS_FILE, PretrainedError,
    PretrainedPolicy, SourceConfig, StateDictFit, WeightsFormat, WeightsSource, create_dir,
    load_burnpack, minestudio_policy_name, read_state_dict, run_policy_config, write_json,
    write_safetensors,
};
use crate::policies::torch_names::torch_state_dict;

/// GROOT's buffers that PyTorch holds as 0-dimensional tensors (burn holds them as `[1]`).
const SCALAR_BUFFERS: [&str; 1] = ["value_head.normalizer.debiasing_term"];

/// Why our own architecture has no MineStudio counterpart.
const SCRATCH: &str = "this GROOT has architecture = \"scratch\" (our own, trained from \
     scratch), whose parameters have no MineStudio counterpart; MineStudio's checkpoints and \
     exports need architecture = \"minestudio\" (MineStudio's GrootPolicy arguments in \
     [policy], or a checkpoint that carries them)";

impl PretrainedPolicy for GrootPolicy {
    type Config = GrootConfig;

    const KIND: &'static str = "groot";
    const TRAINING_KEYS: &'static [&'static str] = &["fuser_dropout", "latent_mode", "seed"];

    fn build(config: &GrootConfig, device: &Device) -> Result<Self, PretrainedError> {
        GrootPolicy::new(config, device).map_err(|e| PretrainedError::Settings(e.to_string()))
    }

    fn network(&self) -> &GrootConfig {
        self.config()
    }

    fn frame_size(config: &GrootConfig) -> Option<[usize; 2]> {
        let [h, w, _] = config.img_shape();
        Some([h, w])
    }

    fn network_config(config: &SourceConfig) -> Result<Option<GrootConfig>, PretrainedError> {
        match config {
            SourceConfig::MineStudio { path, kwargs } => from_kwargs(path, kwargs).map(Some),
            SourceConfig::Lightning {
                path,
                hyper_parameters,
            } => match hyper_parameters.get("model").and_then(Value::as_object) {
                // MineStudio's GROOT training script saves the policy's arguments as `model`.
                Some(model) => from_kwargs(path, model).map(Some),
                None => Ok(None),
            },
            SourceConfig::Run { path, policy } => {
                run_policy_config(path, policy, Self::KIND, "GROOT").map(Some)
            }
        }
    }

    fn load_pretrained(self, source: &WeightsSource) -> Result<Self, PretrainedError> {
        if source.format == WeightsFormat::Burnpack {
            return load_burnpack(self, &source.weights);
        }
        if let GrootConfig::Scratch(_) = self.config() {
            return Err(PretrainedError::Unsupported {
                path: source.weights.clone(),
                message: format!("{} of GROOT: {SCRATCH}", source.format.describe()),
            });
        }
        let path = &source.weights;
        let fit = StateDictFit::new(&self, read_state_dict(path)?);
        // MineStudio's own loaders drop tensors the network has no parameter for.
        let strict = source.format == WeightsFormat::StateDict;
        if !fit.fits() || (strict && !fit.unexpected.is_empty()) {
            return Err(PretrainedError::Tensors(format!(
                "GROOT weights {} do not fit the network: {}. {}",
                path.display(),
                fit.describe(),
                mismatch_hint(&fit.unexpected)
            )));
        }
        if !fit.unexpected.is_empty() {
            tracing::warn!(path = %path.display(), unexpected = ?fit.unexpected, "ignoring tensors the GROOT network has no parameter for");
        }
        let policy = fit.apply(self).map_err(|message| {
            PretrainedError::Tensors(format!(
                "loading GROOT weights {}: {message}",
                path.display()
            ))
        })?;
        tracing::info!(path = %path.display(), "loaded MineStudio GROOT weights");
        Ok(policy)
    }

    fn export_minestudio(&self, dir: &Path) -> Result<(), ExportError> {
        let GrootConfig::MineStudio(config) = self.config() else {
            return Err(ExportError::Unsupported(format!(
                "GROOT cannot be exported for MineStudio: {SCRATCH}"
            )));
        };
        if config.backbone.is_resized() {
            tracing::warn!(
                backbone = %config.backbone.name,
                "the backbone is resized from timm's model: config.json describes it as a table, \
                 which MineStudio's timm.create_model does not take"
            );
        }
        create_dir(dir)?;
        let tensors = torch_state_dict(self, &SCALAR_BUFFERS);
        write_safetensors(&dir.join(MINESTUDIO_WEIGHTS_FILE), &tensors)?;
        write_json(
            &dir.join(MINESTUDIO_CONFIG_FILE),
            &config.minestudio_kwargs(),
        )
    }
}

/// A MineStudio-architecture configuration from `GrootPolicy`'s constructor arguments.
fn from_kwargs(path: &Path, kwargs: &Map<String, Value>) -> Result<GrootConfig, PretrainedError> {
    let config_error = |message: String| PretrainedError::Config {
        path: path.to_owned(),
        message,
    };
    match minestudio_policy_name(kwargs) {
        Some(found) if found != GrootPolicy::KIND => {
            return Err(PretrainedError::WrongPolicy {
                path: path.to_owned(),
                found: found.into(),
                expected: GrootPolicy::KIND,
            });
        }
        Some(_) => {}
        None => {
            return Err(config_error(
                "no `video_encoder_kwargs` or `image_encoder_kwargs` (the arguments of \
                 MineStudio's GrootPolicy) in it"
                    .into(),
            ));
        }
    }
    let config: MineStudioGrootConfig = serde_json::from_value(Value::Object(kwargs.clone()))
        .map_err(|e| config_error(format!("GrootPolicy arguments: {e}")))?;
    config
        .validate()
        .map_err(|e| config_error(format!("GrootPolicy arguments: {e}")))?;
    Ok(GrootConfig::MineStudio(config))
}

/// What a mismatch most likely means.
fn mismatch_hint(unexpected: &[String]) -> &'static str {
    if unexpected.iter().any(|k| k.starts_with("net.")) {
        "The file holds a VPT (`net.*` parameters), not a GROOT: set `policy.kind = \"vpt\"`"
    } else {
        "Check that the GROOT configuration (backbone and its create_model arguments, hiddim, \
         video_encoder_kwargs, image_encoder_kwargs, decoder_kwargs) is the one the \
         checkpoint was trained with"
    }
}
