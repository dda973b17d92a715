//! `mine-train`: trains a policy from a config file on your MineStudio datasets, optionally
//! starting from pretrained weights.
//!
//! ```text
//! mine-train --config FILE [--resume RUN_DIR|CHECKPOINT] [--overwrite] [key.path=value ...]
//! ```
//!
//! See `minestudio_rs::train` for the config file, and the README's "Train on your MineStudio
//! data". Ctrl-C (or SIGTERM) writes a checkpoint and stops with exit status 130;
//! `--resume RUN_DIR` continues from it.

use std::process::ExitCode;

use minestudio_rs::cli::RunArgs;
use minestudio_rs::run::exit_code;
use minestudio_rs::train;

fn main() -> ExitCode {
    minestudio_rs::logging::init();
    minestudio_rs::run::stop_on_ctrl_c();
    minestudio_rs::runtime::kernels::allocator::keep_freed_memory();
    let args = RunArgs::from_env();
    let mut interrupted = false;
    let code = exit_code(run(&args, &mut interrupted));
    // Like a shell after SIGINT: a stopped run is not a finished one.
    if interrupted {
        ExitCode::from(130)
    } else {
        code
    }
}

fn run(args: &RunArgs, interrupted: &mut bool) -> Result<(), Box<dyn std::error::Error>> {
    let config = train::load_config(args, None)?;
    let outcome = train::run(&config, args)?;
    let run_dir = outcome.config.trainer.run_dir.display();
    println!("done: {}; run directory {run_dir}", outcome.summary);
    if outcome.summary.interrupted {
        *interrupted = true;
        eprintln!("stopped on request: continue with --resume {run_dir}");
    }
    Ok(())
}
