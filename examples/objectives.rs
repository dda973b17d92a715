//! Evaluates the built-in objectives (behaviour cloning, KL divergence) on the reference inputs
//! MineStudio's own callbacks were run on (`../shared/golden/callbacks.json`), through a typed
//! experiment, and prints our values next to MineStudio's.
//!
//! `cargo run --release --example objectives [-- path/to/callbacks.json]`

use std::path::PathBuf;

use minestudio_rs::dsl::objectives::{BehaviorClone, KlDivergence};
use minestudio_rs::prelude::*;

/// The recorded inputs as our types, shared with the golden tests.
#[path = "../mine-dsl/tests/common/callbacks.rs"]
mod callbacks;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let shared = std::env::var_os("MINE_SHARED_DIR").map(PathBuf::from);
            shared
                .unwrap_or_else(|| PathBuf::from("../shared"))
                .join("golden/callbacks.json")
        });
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!("cannot read the reference inputs {}: {e}; pass the path to callbacks.json as the first argument", path.display())
    })?;
    let golden: serde_json::Value = serde_json::from_str(&text)?;
    let device = burn::tensor::Device::flex();
    let recorded = callbacks::recorded(&golden, &device, true);
    // The compiler checked that `Replay` produces every latent both objectives consume.
    let experiment = Experiment::new(callbacks::Replay {})
        .objective(BehaviorClone { weight: 1.0 })
        .objective(KlDivergence { weight: 0.01 });
    let losses = experiment.objectives().evaluate(
        &recorded.latents(),
        &recorded.batch,
        &StepContext::train(0, 0),
    )?;

    let reference = &golden["minelightning_combined_result_bc_mask_plus_kl"];
    println!(
        "{:<14} {:>14} {:>14} {:>10}",
        "metric", "ours", "MineStudio", "rel. err"
    );
    let mut worst: f64 = 0.0;
    for (name, ours) in losses.metric_values() {
        let theirs = reference[&name]
            .as_f64()
            .ok_or_else(|| format!("no reference for `{name}`"))?;
        let rel = (ours - theirs).abs() / theirs.abs().max(1e-12);
        worst = worst.max(rel);
        println!("{name:<14} {ours:>14.6} {theirs:>14.6} {rel:>10.1e}");
    }
    println!("worst relative error {worst:.1e} (tolerance 1e-5)");
    if worst > 1e-5 {
        return Err("objectives differ from MineStudio's reference".into());
    }
    Ok(())
}
