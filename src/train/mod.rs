//! The training program (`mine-train`): a user's config file, their datasets as they are,
//! their pretrained weights, any built-in policy and objectives by name.
//!
//! ```toml
//! [data]
//! dataset_dirs = ["/data/minestudio/contractor-6xx"]
//! frame_width = 128
//! frame_height = 128
//! win_len = 128
//!
//! [policy]
//! kind = "vpt"
//! weights = "/models/MineStudio_VPT.foundation_model_2x"   # its config.json sizes the network
//! freeze = ["img_process"]
//!
//! [trainer]
//! max_steps = 10000
//! run_dir = "runs/finetune"
//!
//! [[objectives]]                 # optional: behaviour cloning (VPT, ROCKET-1), + KL 0.001 (GROOT)
//! name = "behavior_clone"
//! ```
//!
//! Everything is checked before any data is read: the objectives against the policy's
//! latents, the weights against the network, the frozen modules against its parameters.

mod error;
mod policy_section;

use mine_dsl::experiment::{Experiment, ObjectiveRegistry, ObjectiveSpec, check_wiring};
use mine_runtime::config_file;
use mine_runtime::data::config::DatasetConfig;
use mine_runtime::policies::freeze::freeze;
use mine_runtime::policies::groot::GrootPolicy;
use mine_runtime::policies::pretrained::{PretrainedError, PretrainedPolicy, build_pretrained};
use mine_runtime::policies::rocket::RocketPolicy;
use mine_runtime::policies::vpt::VptPolicy;
use mine_runtime::trainer::TrainSummary;
use mine_runtime::trainer::config::TrainerConfig;

pub use error::ProgramError;
pub use policy_section::{PolicyKind, PolicySection};

use crate::cli::RunArgs;
use crate::experiment_config::ExperimentConfig;

/// The training program's configuration file: `[policy]` names the policy kind and its
/// weights; `[[objectives]]` by name (optional).
pub type TrainConfig = ExperimentConfig<PolicySection, Option<Vec<ObjectiveSpec>>>;

/// What a finished run reports, with the resolved configuration it recorded.
#[derive(Debug)]
pub struct Outcome {
    /// The trainer's summary.
    pub summary: TrainSummary,
    /// The configuration as the run directory records it (the network's settings resolved).
    pub config: TrainConfig,
}

/// The configuration `args` name (`--config`, else `default_file`), with the overrides.
pub fn load_config(
    args: &RunArgs,
    default_file: Option<&std::path::Path>,
) -> Result<TrainConfig, ProgramError> {
    let file = args
        .config
        .as_deref()
        .or(default_file)
        .ok_or(ProgramError::NoConfig)?;
    let defaults = TrainConfig {
        generate: None,
        data: DatasetConfig::new(Vec::new()),
        policy: PolicySection::default(),
        trainer: TrainerConfig::default(),
        objectives: None,
        export: Default::default(),
    };
    Ok(config_file::load(file, &defaults, &args.overrides)?)
}

/// Runs the training program on `config`.
pub fn run(config: &TrainConfig, args: &RunArgs) -> Result<Outcome, ProgramError> {
    match config.policy.kind.ok_or(ProgramError::NoKind)? {
        PolicyKind::Vpt => run_policy::<VptPolicy>(config, args),
        PolicyKind::Groot => run_policy::<GrootPolicy>(config, args),
        PolicyKind::Rocket => run_policy::<RocketPolicy>(config, args),
    }
}

/// The objectives when the config names none: MineStudio's recipe for the policy.
pub fn default_objectives(kind: PolicyKind) -> Vec<ObjectiveSpec> {
    let bc = ObjectiveSpec::new("behavior_clone").with("weight", 1.0);
    match kind {
        PolicyKind::Vpt | PolicyKind::Rocket => vec![bc],
        PolicyKind::Groot => vec![
            bc,
            ObjectiveSpec::new("kl_divergence").with("weight", 0.001),
        ],
    }
}

fn run_policy<P: PretrainedPolicy>(
    config: &TrainConfig,
    args: &RunArgs,
) -> Result<Outcome, ProgramError> {
    let kind = config.policy.kind.ok_or(ProgramError::NoKind)?;
    let specs = match &config.objectives {
        Some(specs) => specs.clone(),
        None => {
            let specs = default_objectives(kind);
            let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
            tracing::info!(?names, "no [[objectives]]: the {kind} recipe");
            specs
        }
    };
    let registry = ObjectiveRegistry::<P>::builtin();
    check_wiring::<P>(&specs, &registry)?;
    let device = config.trainer.device()?;
    let section = &config.policy;
    let (policy, network) =
        build_pretrained::<P>(&section.settings, section.weights.as_deref(), &device).map_err(
            |error| match error {
                PretrainedError::Settings(message) => PretrainedError::Settings(format!(
                    "{message} (the settings of policy.kind = \"{kind}\")"
                )),
                other => other,
            },
        )?;
    let data = &config.data;
    if let Some([height, width]) = P::frame_size(&network)
        && [data.frame_height, data.frame_width] != [height, width]
    {
        return Err(ProgramError::FrameSize {
            kind,
            data_height: data.frame_height,
            data_width: data.frame_width,
            height,
            width,
        });
    }
    let policy = if section.freeze.is_empty() {
        policy
    } else {
        let (policy, report) = freeze(policy, &section.freeze)?;
        tracing::info!(
            modules = ?section.freeze,
            parameters = report.parameters,
            values = report.elements,
            "frozen"
        );
        policy
    };
    let experiment = Experiment::from_specs(policy, &specs, &registry)?;
    let mut resolved = config.clone();
    resolved.policy.settings =
        toml::Table::try_from(&network).map_err(|e| ProgramError::Record(e.to_string()))?;
    resolved.objectives = Some(specs);
    let summary = resolved.train_exporting(experiment, args.run_dir_mode())?;
    Ok(Outcome {
        summary,
        config: resolved,
    })
}
