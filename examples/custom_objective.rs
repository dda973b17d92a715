//! Your own latent key, a policy that produces it and an objective that consumes it, trained
//! alongside behaviour cloning.
//!
//! `cargo run --release --example custom_objective -- [--config FILE] [--resume RUN_DIR | --overwrite] [key.path=value ...]`
//!
//! `ProgressVpt` is the small VPT with one more head: from the latent both VPT heads read, it
//! guesses how far through its episode each window is (MineStudio's `progress` field,
//! `"<window>/<windows>"`). It declares the key `progress_pred`; `progress_regression` consumes
//! it. The experiment is assembled in code, so the compiler checks the wiring, and the
//! objectives' weights come from typed sections of `examples/configs/custom_objective.toml`.
//!
//! Wiring the new objective to a policy that lacks the key, say the plain VPT:
//!
//! ```text
//! let experiment = Experiment::new(VptPolicy::new(&config.policy, &device)?)
//!     .objective(config.objectives.progress_regression.clone());
//! ```
//!
//! does not compile, and the error names the policy, the key, the objective and the fix
//! (checked by `tests/custom_objective_ui.rs` against the compiler's output):
//!
//! <!-- compile-error -->
//! ```text
//! error[E0277]: policy `VptPolicy` does not produce latent `progress_pred`, which objective `ProgressRegression` consumes
//!     .objective(config.objectives.progress_regression.clone());
//!          --------- ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ objective `ProgressRegression` needs latent `progress_pred` from policy `VptPolicy`
//! = note: add `progress_pred` to `#[policy(produces(..))]` on `VptPolicy` and return it from its forward, or drop objective `ProgressRegression` from the experiment
//! ```
//! <!-- /compile-error -->

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use mine_dsl::batch::BatchInfo;
use mine_dsl::objective::ObjectiveError;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::policies::vpt::{VptConfig, VptConfigError, VptMemory, VptPolicy};
use minestudio_rs::cli::RunArgs;
use minestudio_rs::experiment_config::ExperimentConfig;
use serde::{Deserialize, Serialize};

// The new key: the predicted fraction of the episode behind each frame, `[B, T]` in 0..1.
mine_dsl::latent_key!(pub progress_pred: Tensor<2>);

/// The small VPT plus a progress head on its latent.
#[policy(produces(pi_logits, progress_pred), memory = VptMemory, latents = ProgressOutput)]
#[derive(Module, Debug)]
pub struct ProgressVpt {
    /// VPT's trunk and action head (its value head is unused here).
    pub vpt: VptPolicy,
    /// Latent -> one logit of the episode progress.
    pub progress_head: Linear,
}

impl ProgressVpt {
    /// A freshly initialized network for `config` on `device`.
    pub fn new(config: &VptConfig, device: &Device) -> Result<Self, VptConfigError> {
        Ok(Self {
            vpt: VptPolicy::new(config, device)?,
            progress_head: LinearConfig::new(config.hidsize, 1).init(device),
        })
    }
}

impl Policy for ProgressVpt {
    fn initial_memory(&self, batch_size: usize, device: &Device) -> VptMemory {
        self.vpt.initial_memory(batch_size, device)
    }

    fn forward(&self, batch: &Batch, memory: VptMemory) -> Forward<Self> {
        let (latent, memory) = self.vpt.forward_latent(batch.image()?.clone(), memory);
        let progress = sigmoid(self.progress_head.forward(latent.clone())).squeeze_dim(2);
        let latents = ProgressOutput {
            pi_logits: self.vpt.pi_head.forward(latent),
            progress_pred: progress,
        };
        Ok((latents, memory))
    }
}

/// Mean squared error between `progress_pred` and each row's episode progress
/// (`window / windows` from MineStudio's progress string), over the real (unmasked) frames.
#[objective]
pub fn progress_regression(
    #[latent] progress_pred: &Tensor<2>,
    #[batch] info: &BatchInfo,
    #[batch] mask: Option<&Tensor<2>>,
    #[hparam(default = 1.0)] weight: f64,
) -> Result<ObjectiveOutput, ObjectiveError> {
    let [b, t] = progress_pred.dims();
    let rows = info
        .progress
        .iter()
        .map(|p| episode_fraction(p))
        .collect::<Result<Vec<f32>, _>>()?;
    if rows.len() != b {
        return Err(ObjectiveError::Custom(format!(
            "progress_regression: {} progress strings for {b} rows",
            rows.len()
        )));
    }
    let device = progress_pred.device();
    let target: Tensor<2> = Tensor::<1>::from_data(TensorData::new(rows, [b]), &device)
        .reshape([b, 1])
        .expand([b, t]);
    let mask = mask.cloned().unwrap_or_else(|| target.ones_like());
    let error = (progress_pred.clone() - target).powi_scalar(2) * mask.clone();
    let mse = error.sum() / mask.sum().clamp_min(1.0);
    Ok(ObjectiveOutput::new(mse.clone().mul_scalar(weight))
        .metric("progress_mse", mse)
        .scalar("progress_weight", weight))
}

/// `"3/8"` -> 0.375.
fn episode_fraction(progress: &str) -> Result<f32, ObjectiveError> {
    let bad = || {
        ObjectiveError::Custom(format!(
            "progress_regression: progress `{progress}` is not `<window>/<windows>`"
        ))
    };
    let (window, windows) = progress.split_once('/').ok_or_else(bad)?;
    let window: f32 = window.trim().parse().map_err(|_| bad())?;
    let windows: f32 = windows.trim().parse().map_err(|_| bad())?;
    if windows <= 0.0 {
        return Err(bad());
    }
    Ok(window / windows)
}

/// The objectives' settings, one typed section each (the structs `#[objective]` generated).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct ObjectiveWeights {
    behavior_clone: BehaviorClone,
    progress_regression: ProgressRegression,
}

/// The example's configuration file.
type Config = ExperimentConfig<VptConfig, ObjectiveWeights>;

/// The example's config file (`--config FILE` replaces it).
const CONFIG_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/configs/custom_objective.toml"
);

fn main() -> std::process::ExitCode {
    minestudio_rs::run::program_main(run)
}

/// The whole example, given its command line (the end-to-end tests call it too).
pub fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let defaults = Config::new(
        "target/mine-data/custom-objective",
        VptConfig::small_cpu(),
        ObjectiveWeights::default(),
    );
    let config: Config = args.load(CONFIG_FILE.as_ref(), &defaults)?;

    let device = config.trainer.init_device()?;
    let experiment = Experiment::new(ProgressVpt::new(&config.policy, &device)?)
        .objective(config.objectives.behavior_clone.clone())
        .objective(config.objectives.progress_regression.clone());
    let summary = config.train(experiment, args.run_dir_mode())?;
    println!(
        "done: {summary}; run directory {}",
        config.trainer.run_dir.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_strings_become_fractions() {
        assert_eq!(episode_fraction("3/8").unwrap(), 0.375);
        assert!(episode_fraction("3").is_err());
        assert!(episode_fraction("1/0").is_err());
    }
}
