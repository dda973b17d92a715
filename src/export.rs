//! Exporting trained weights for MineStudio (`mine-export`): a run directory, checkpoint or
//! `.bpk` file to a Hugging Face checkpoint directory that MineStudio's own policy class loads
//! with `from_pretrained(dir)`.

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use mine_runtime::checkpoint::EMA_FILE;
use mine_runtime::policies::groot::GrootPolicy;
use mine_runtime::policies::pretrained::{
    ExportError, PretrainedError, PretrainedPolicy, SourceConfig, WeightsFormat, WeightsSource,
    load_burnpack, run_policy_kind,
};
use mine_runtime::policies::rocket::RocketPolicy;
use mine_runtime::policies::vpt::VptPolicy;

use crate::train::PolicyKind;

/// An export could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ExportProgramError {
    /// The source is not this program's weights, or its configuration is missing.
    #[error(transparent)]
    Source(#[from] PretrainedError),
    /// `--ema` was asked for but the source has no EMA weights.
    #[error(
        "{path} has no EMA weights beside it (train with [trainer.ema] to have them); export \
         without --ema"
    )]
    NoEma {
        /// The EMA file looked for.
        path: PathBuf,
    },
    /// The output exists.
    #[error("{path} exists: choose another --output, or pass --overwrite to replace it")]
    Exists {
        /// The output directory.
        path: PathBuf,
    },
    /// Writing failed or the policy has no MineStudio counterpart.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The weights file exported.
    pub from: PathBuf,
    /// The policy kind.
    pub kind: PolicyKind,
    /// The directory written.
    pub to: PathBuf,
}

/// Exports the weights `source` names (a run directory: its newest checkpoint; a checkpoint
/// directory; a `.bpk` file of a run) to `output` for MineStudio, the EMA weights with `ema`.
/// `output` is written completely or not at all; an existing one is replaced only with
/// `overwrite`.
pub fn export_minestudio(
    source: &Path,
    output: &Path,
    ema: bool,
    overwrite: bool,
) -> Result<Exported, ExportProgramError> {
    let mut located = WeightsSource::locate(source)?;
    if located.format != WeightsFormat::Burnpack {
        return Err(PretrainedError::Unrecognized {
            path: source.to_owned(),
            reason: format!(
                "it is {}, not this program's weights: mine-export reads a run directory, a \
                 checkpoint directory or a .bpk file",
                located.format.describe()
            ),
        }
        .into());
    }
    if ema {
        located.weights = ema_file(&located.weights);
        if !located.weights.is_file() {
            return Err(ExportProgramError::NoEma {
                path: located.weights,
            });
        }
    }
    let config = located
        .read_config()?
        .ok_or_else(|| PretrainedError::Unrecognized {
            path: source.to_owned(),
            reason: "no config.toml of its run next to it: the network's configuration is unknown"
                .into(),
        })?;
    let kind = kind_of(&config);
    if output.exists() && !overwrite {
        return Err(ExportProgramError::Exists {
            path: output.to_owned(),
        });
    }
    let staging = staging_dir(output);
    let _ = std::fs::remove_dir_all(&staging);
    let written = match kind {
        PolicyKind::Vpt => write::<VptPolicy>(&config, &located, &staging),
        PolicyKind::Groot => write::<GrootPolicy>(&config, &located, &staging),
        PolicyKind::Rocket => write::<RocketPolicy>(&config, &located, &staging),
    };
    if let Err(error) = written.and_then(|()| publish(&staging, output)) {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(error);
    }
    tracing::info!(from = %located.weights.display(), to = %output.display(), "exported for MineStudio");
    Ok(Exported {
        from: located.weights,
        kind,
        to: output.to_owned(),
    })
}

/// Builds the policy from the run's configuration, loads the weights and writes the export.
fn write<P: PretrainedPolicy>(
    config: &SourceConfig,
    source: &WeightsSource,
    dir: &Path,
) -> Result<(), ExportProgramError> {
    let network = P::network_config(config)?.ok_or_else(|| PretrainedError::Config {
        path: config.path().to_owned(),
        message: "no network configuration".into(),
    })?;
    let policy = load_burnpack(P::build(&network, &Device::flex())?, &source.weights)?;
    Ok(policy.export_minestudio(dir)?)
}

/// The EMA twin of a weights file: `ema.bpk` in a checkpoint, `step-N.ema.bpk` in `weights/`.
fn ema_file(weights: &Path) -> PathBuf {
    let name = weights.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.strip_suffix(".bpk") {
        Some("model") | None => weights.with_file_name(EMA_FILE),
        Some(stem) => weights.with_file_name(format!("{stem}.ema.bpk")),
    }
}

/// The policy kind a run's `[policy]` table was written for (VPT when it does not say).
fn kind_of(config: &SourceConfig) -> PolicyKind {
    let SourceConfig::Run { policy, .. } = config else {
        return PolicyKind::Vpt;
    };
    run_policy_kind(policy)
        .and_then(|kind| PolicyKind::parse(&kind))
        .unwrap_or(PolicyKind::Vpt)
}

fn staging_dir(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".into());
    output.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Moves the complete `staging` directory to `output`, replacing an older one.
fn publish(staging: &Path, output: &Path) -> Result<(), ExportProgramError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |cause| ExportError::Io { path, cause }
    };
    if output.exists() {
        std::fs::remove_dir_all(output).map_err(io(output))?;
    }
    std::fs::rename(staging, output).map_err(io(output))?;
    Ok(())
}
