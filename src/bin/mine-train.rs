//! `mine-train`: trains a policy from a config file on your MineStudio datasets, optionally
//! starting from pretrained weights.
//!
//! ```text
//! mine-train --config FILE [--resume RUN_DIR|CHECKPOINT] [--overwrite] [key.path=value ...]
//! ```
//!
//! See `minestudio_rs::train` for the config file, and the README's "Train on your MineStudio
//! data". Ctrl-C writes a checkpoint and stops; `--resume RUN_DIR` continues from it.

use std::process::ExitCode;

use minestudio_rs::cli::RunArgs;
use minestudio_rs::run::exit_code;
use minestudio_rs::train;

fn main() -> ExitCode {
    minestudio_rs::logging::init();
    minestudio_rs::run::stop_on_ctrl_c();
    let args = RunArgs::from_env();
    exit_code(run(&args))
}

fn run(args: &RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = train::load_config(args, None)?;
    let outcome = train::run(&config, args)?;
    println!(
        "done: {}; run directory {}",
        outcome.summary,
        outcome.config.trainer.run_dir.display()
    );
    Ok(())
}
