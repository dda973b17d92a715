// The compile error quoted in examples/custom_objective.rs: its `progress_regression` objective
// wired to the plain VPT, which does not produce `progress_pred`.
#[allow(dead_code)]
#[path = "../../examples/custom_objective.rs"]
mod example;

use burn::tensor::Device;
use mine_dsl::prelude::*;
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};

struct Objectives {
    progress_regression: example::ProgressRegression,
}

struct Config {
    policy: VptConfig,
    objectives: Objectives,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device = Device::flex();
    let config = Config {
        policy: VptConfig::tiny(),
        objectives: Objectives { progress_regression: Default::default() },
    };
    let experiment = Experiment::new(VptPolicy::new(&config.policy, &device)?)
        .objective(config.objectives.progress_regression.clone());
    drop(experiment);
    Ok(())
}
