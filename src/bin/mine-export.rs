//! `mine-export`: trained weights for MineStudio.
//!
//! ```text
//! mine-export RUN_DIR|CHECKPOINT|WEIGHTS.bpk --output DIR [--format minestudio] [--ema] [--overwrite]
//! ```
//!
//! Writes `DIR/config.json` and `DIR/model.safetensors`, which MineStudio's own
//! `VPTPolicy.from_pretrained(DIR)` loads unchanged (and `policy.weights = "DIR"` here).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use minestudio_rs::export::export_minestudio;
use minestudio_rs::run::exit_code;

/// Export trained weights for MineStudio.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Args {
    /// A run directory (its newest checkpoint), a checkpoint directory, or a `.bpk` file of a
    /// run (`weights/step-N.bpk`).
    #[arg(value_name = "RUN_DIR|CHECKPOINT|WEIGHTS")]
    source: PathBuf,
    /// The directory to write (a Hugging Face checkpoint directory).
    #[arg(long, short, value_name = "DIR")]
    output: PathBuf,
    /// The format to write.
    #[arg(long, value_enum, default_value_t = Format::Minestudio)]
    format: Format,
    /// Export the EMA weights saved beside the weights.
    #[arg(long)]
    ema: bool,
    /// Replace an existing output directory.
    #[arg(long)]
    overwrite: bool,
}

/// Export formats.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    /// `config.json` + `model.safetensors` under MineStudio's parameter names
    /// (`PyTorchModelHubMixin.from_pretrained`).
    Minestudio,
}

fn main() -> ExitCode {
    minestudio_rs::logging::init();
    let args = Args::parse();
    let Format::Minestudio = args.format;
    exit_code(
        export_minestudio(&args.source, &args.output, args.ema, args.overwrite)
            .map(|done| {
                println!(
                    "exported {} ({}) to {}",
                    done.from.display(),
                    done.kind,
                    done.to.display()
                );
            })
            .map_err(Into::into),
    )
}
