//! Starting a policy from the pretrained weights a MineStudio user has, and handing trained
//! weights back to MineStudio.
//!
//! [`WeightsSource::locate`] recognises what a `policy.weights` path is ([`WeightsFormat`]):
//! a Hugging Face checkpoint directory as MineStudio's `from_pretrained` reads it, an OpenAI
//! `.model` + `.weights` pair, a Lightning `.ckpt` (its `-EMA.ckpt` twin holds the EMA
//! weights), a bare state dict, or this program's own `.bpk` files and run directories.
//! [`WeightsSource::read_config`] reads the network configuration the checkpoint carries;
//! [`resolve_config`] makes it the network's, refusing a `[policy]` setting that contradicts
//! it. Each policy implements [`PretrainedPolicy`] to interpret configurations, load tensors
//! and export.

mod config;
mod error;
mod export;
pub(crate) mod fit;
mod resolve;
mod source;
mod tensors;

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use mine_dsl::policy::Policy;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use config::{SourceConfig, minestudio_policy_name, run_policy_config, run_policy_kind};
pub use error::PretrainedError;
pub use export::{
    ExportDtype, ExportError, ExportTensor, MINESTUDIO_CONFIG_FILE, MINESTUDIO_WEIGHTS_FILE,
    write_safetensors,
};
pub(crate) use export::{create_dir, write_json};
pub use fit::StateDictFit;
pub use resolve::resolve_config;
pub use source::{HUB_CONFIG_FILE, HUB_WEIGHT_FILES, WeightsFormat, WeightsSource};
pub use tensors::{StateDict, WRAPPER_PREFIXES, read_state_dict};

/// A policy that a configuration builds, a pretrained checkpoint starts, and MineStudio can
/// read back.
pub trait PretrainedPolicy: Policy + Sized {
    /// The network's configuration: the `[policy]` table of a config file.
    type Config: Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned;

    /// The `policy.kind` naming it (`"vpt"`, `"groot"`).
    const KIND: &'static str;

    /// `[policy]` keys that are settings of this program's training rather than of the
    /// network (dropout probabilities, sampling modes): a checkpoint's configuration does not
    /// overrule them ([`resolve_config`]).
    const TRAINING_KEYS: &'static [&'static str] = &[];

    /// A freshly initialized network.
    fn build(config: &Self::Config, device: &Device) -> Result<Self, PretrainedError>;

    /// The configuration the network was built from.
    fn network(&self) -> &Self::Config;

    /// The `[height, width]` of the frames a network of `config` takes; `None` when it takes
    /// frames of any size (a fully convolutional backbone).
    fn frame_size(config: &Self::Config) -> Option<[usize; 2]>;

    /// The network configuration a checkpoint describes; `None` when it describes none (a
    /// bare state dict, or a Lightning checkpoint whose hyperparameters only name a Hub
    /// repository). A checkpoint of another policy is [`PretrainedError::WrongPolicy`].
    fn network_config(config: &SourceConfig) -> Result<Option<Self::Config>, PretrainedError>;

    /// Loads the checkpoint's tensors into this network (built from its configuration).
    /// Nothing is changed when they do not fit.
    fn load_pretrained(self, source: &WeightsSource) -> Result<Self, PretrainedError>;

    /// Writes the weights and configuration so that MineStudio's own policy class loads them
    /// unchanged (`from_pretrained(dir)`): `dir/config.json` and `dir/model.safetensors`.
    fn export_minestudio(&self, dir: &Path) -> Result<(), ExportError>;
}

/// Builds the policy `config` describes, started from `weights` when given: the checkpoint's
/// configuration (when it has one) is the network's, and `explicit` (the `[policy]` settings
/// as written) may only repeat it. Returns the policy and the configuration it was built from.
pub fn build_pretrained<P: PretrainedPolicy>(
    explicit: &toml::Table,
    weights: Option<&Path>,
    device: &Device,
) -> Result<(P, P::Config), PretrainedError> {
    let Some(path) = weights else {
        let config = resolve_config::<P::Config>(explicit, None, P::TRAINING_KEYS)?;
        return Ok((P::build(&config, device)?, config));
    };
    let source = WeightsSource::locate(path)?;
    let carried = match source.read_config()? {
        Some(found) => P::network_config(&found)?.map(|c| (c, found.path().to_owned())),
        None => None,
    };
    let config = resolve_config(
        explicit,
        carried.as_ref().map(|(c, p)| (c, p.as_path())),
        P::TRAINING_KEYS,
    )?;
    let policy = P::build(&config, device)?.load_pretrained(&source)?;
    tracing::info!(
        path = %path.display(),
        format = source.format.describe(),
        config_from = %carried.as_ref().map_or("[policy]".into(), |(_, p)| p.display().to_string()),
        "started from pretrained weights"
    );
    Ok((policy, config))
}

/// Loads this program's own `.bpk` weights into `module` (built from the same configuration),
/// after checking them against the checksums written with them: the `.sha256` sidecar of a
/// weights file, or the `SHA256SUMS` of the checkpoint it lies in.
pub fn load_burnpack<M: Module>(module: M, path: &Path) -> Result<M, PretrainedError> {
    verify_weights(path)?;
    module.try_load_file(path).map_err(|e| {
        PretrainedError::Tensors(format!(
            "{} does not fit the network: {e}. Check that [policy] is the configuration it was \
             trained with (the run directory's config.toml records it)",
            path.display()
        ))
    })
}

fn verify_weights(path: &Path) -> Result<(), PretrainedError> {
    use crate::checkpoint::{MANIFEST_FILE, sidecar_path, verify_checkpoint, verify_file};
    let failed = |e: crate::checkpoint::CheckpointError| PretrainedError::Read {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    if sidecar_path(path).is_file() {
        verify_file(path).map_err(failed)?;
    } else if dir.join(MANIFEST_FILE).is_file() {
        verify_checkpoint(dir).map_err(failed)?;
    } else {
        tracing::warn!(path = %path.display(), "no checksum beside the weights: loaded unverified");
    }
    Ok(())
}
