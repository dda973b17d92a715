//! What a `policy.weights` path points at: which format, which file holds the tensors and
//! which the network's configuration.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::error::PretrainedError;

/// The checkpoint formats a MineStudio user has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsFormat {
    /// A Hugging Face checkpoint directory as `PyTorchModelHubMixin.save_pretrained` writes it
    /// (and the Hub serves it): `config.json` (the policy's constructor arguments) and
    /// `model.safetensors` (or `pytorch_model.bin`).
    Hub,
    /// An OpenAI VPT release: `<name>.model` (a pickle of the policy's arguments) and
    /// `<name>.weights` (a `torch.save`d state dict).
    OpenAi,
    /// A PyTorch Lightning checkpoint (`.ckpt`) written by MineStudio's trainer: the policy's
    /// state dict under `state_dict.mine_policy.`; `-EMA.ckpt` twins hold the EMA weights.
    Lightning,
    /// This program's own weights (burnpack `.bpk`), with the network's configuration in the
    /// run directory's `config.toml` when the file lies in one.
    Burnpack,
    /// A bare state dict (`.safetensors`, `.pt`, `.pth`, `.bin`) without configuration.
    StateDict,
}

impl WeightsFormat {
    /// A short description for logs and errors.
    pub fn describe(self) -> &'static str {
        match self {
            WeightsFormat::Hub => "a MineStudio Hugging Face checkpoint",
            WeightsFormat::OpenAi => "an OpenAI VPT .model/.weights pair",
            WeightsFormat::Lightning => "a Lightning checkpoint",
            WeightsFormat::Burnpack => "burnpack weights",
            WeightsFormat::StateDict => "a state dict",
        }
    }
}

/// A located checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeightsSource {
    /// Its format.
    pub format: WeightsFormat,
    /// The file holding the tensors.
    pub weights: PathBuf,
    /// The file holding the network's configuration, when the format has one.
    pub config: Option<PathBuf>,
}

/// File names `from_pretrained` looks for in a Hub directory, in its order.
pub const HUB_WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];
/// The configuration file of a Hub directory.
pub const HUB_CONFIG_FILE: &str = "config.json";
/// The resolved configuration of one of our run directories.
const RUN_CONFIG_FILE: &str = "config.toml";

impl WeightsSource {
    /// Finds out what `path` is. Directories: a Hub checkpoint, one of our checkpoint
    /// directories (`model.bpk` + `state.json`) or run directories (its newest checkpoint).
    /// Files: by extension, then by content.
    pub fn locate(path: &Path) -> Result<Self, PretrainedError> {
        let metadata = std::fs::metadata(path).map_err(|_| PretrainedError::NotFound {
            path: path.to_owned(),
        })?;
        if metadata.is_dir() {
            return locate_dir(path);
        }
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        match extension.as_str() {
            "model" => Ok(Self {
                format: WeightsFormat::OpenAi,
                weights: companion(path, "weights", "the network's weights")?,
                config: Some(path.to_owned()),
            }),
            "weights" => {
                let model = path.with_extension("model");
                Ok(if model.is_file() {
                    Self {
                        format: WeightsFormat::OpenAi,
                        weights: path.to_owned(),
                        config: Some(model),
                    }
                } else {
                    tracing::warn!(
                        weights = %path.display(),
                        "no .model file beside the .weights: the network's configuration comes \
                         from [policy]"
                    );
                    Self::state_dict(path)
                })
            }
            "ckpt" => Ok(Self {
                format: WeightsFormat::Lightning,
                weights: path.to_owned(),
                config: Some(path.to_owned()),
            }),
            "bpk" => Ok(Self {
                format: WeightsFormat::Burnpack,
                weights: path.to_owned(),
                config: run_config_of(path),
            }),
            "safetensors" => {
                let config = path.with_file_name(HUB_CONFIG_FILE);
                Ok(if config.is_file() {
                    Self {
                        format: WeightsFormat::Hub,
                        weights: path.to_owned(),
                        config: Some(config),
                    }
                } else {
                    Self::state_dict(path)
                })
            }
            "pt" | "pth" | "bin" => Ok(Self::state_dict(path)),
            _ => sniff(path),
        }
    }

    fn state_dict(path: &Path) -> Self {
        Self {
            format: WeightsFormat::StateDict,
            weights: path.to_owned(),
            config: None,
        }
    }
}

fn locate_dir(dir: &Path) -> Result<WeightsSource, PretrainedError> {
    let config = dir.join(HUB_CONFIG_FILE);
    if config.is_file() {
        let weights = HUB_WEIGHT_FILES
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file())
            .ok_or_else(|| PretrainedError::MissingCompanion {
                given: dir.to_owned(),
                missing: dir.join(HUB_WEIGHT_FILES[0]),
                why: "the weights of a Hugging Face checkpoint",
            })?;
        return Ok(WeightsSource {
            format: WeightsFormat::Hub,
            weights,
            config: Some(config),
        });
    }
    let ours =
        dir.join(crate::checkpoint::STATE_FILE).is_file() || dir.join("checkpoints").is_dir();
    if !ours {
        return Err(PretrainedError::Unrecognized {
            path: dir.to_owned(),
            reason: format!(
                "a directory without {HUB_CONFIG_FILE} (a MineStudio Hugging Face checkpoint) \
                 that is neither a run directory nor a checkpoint of this program"
            ),
        });
    }
    // The newest checkpoint that verifies against its checksums.
    let checkpoint =
        crate::checkpoint::resolve_checkpoint(dir).map_err(|e| PretrainedError::Read {
            path: dir.to_owned(),
            message: e.to_string(),
        })?;
    let weights = checkpoint.join(crate::checkpoint::MODEL_FILE);
    Ok(WeightsSource {
        format: WeightsFormat::Burnpack,
        config: run_config_of(&weights),
        weights,
    })
}

/// `<stem>.<extension>` beside `path`, which must exist.
fn companion(path: &Path, extension: &str, why: &'static str) -> Result<PathBuf, PretrainedError> {
    let other = path.with_extension(extension);
    if other.is_file() {
        Ok(other)
    } else {
        Err(PretrainedError::MissingCompanion {
            given: path.to_owned(),
            missing: other,
            why,
        })
    }
}

/// The `config.toml` of the run directory a weights file lies in:
/// `<run>/weights/step-*.bpk` or `<run>/checkpoints/step-*/model.bpk`.
fn run_config_of(weights: &Path) -> Option<PathBuf> {
    let parent = weights.parent()?;
    let candidates = [parent.parent(), parent.parent().and_then(Path::parent)];
    candidates
        .into_iter()
        .flatten()
        .map(|dir| dir.join(RUN_CONFIG_FILE))
        .find(|p| p.is_file())
}

/// A file with an unknown extension, recognised by its first bytes.
fn sniff(path: &Path) -> Result<WeightsSource, PretrainedError> {
    let mut head = Vec::with_capacity(9);
    std::fs::File::open(path)
        .and_then(|f| f.take(9).read_to_end(&mut head))
        .map_err(|e| PretrainedError::Read {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    let is_safetensors = head.len() == 9 && head[8] == b'{';
    let is_zip = head.starts_with(b"PK\x03\x04");
    let is_pickle = head.first() == Some(&0x80);
    if is_safetensors || is_zip || is_pickle {
        Ok(WeightsSource::state_dict(path))
    } else {
        Err(PretrainedError::Unrecognized {
            path: path.to_owned(),
            reason: "expected a Hugging Face checkpoint directory, an OpenAI .model/.weights \
                     pair, a Lightning .ckpt, a .safetensors/.pt state dict or a .bpk file"
                .into(),
        })
    }
}
