//! `mine-convert`: raw VPT contractor recordings to a MineStudio LMDB dataset.
//!
//! ```text
//! mine-convert --output DIR [--chunk-size 32] [--width 224] [--height 224] [--fps 20]
//!              [--fail-fast] INPUT_DIR...
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use mine_runtime::data::ErrorPolicy;
use mine_runtime::data::convert::{ConvertOptions, convert_contractor};

const USAGE: &str = "usage: mine-convert --output DIR [--chunk-size N] [--width W] [--height H] [--fps F] [--fail-fast] INPUT_DIR...";

fn parse() -> Result<(Vec<PathBuf>, PathBuf, ConvertOptions), String> {
    let mut args = std::env::args().skip(1);
    let mut inputs = Vec::new();
    let mut output = None;
    let mut options = ConvertOptions::default();
    let number = |name: &str, v: Option<String>| -> Result<usize, String> {
        v.ok_or(format!("{name} needs a value"))?
            .parse()
            .map_err(|_| format!("{name} needs a positive integer"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--output" | "-o" => {
                output = Some(PathBuf::from(
                    args.next().ok_or("--output needs a directory")?,
                ))
            }
            "--chunk-size" => options.chunk_size = number("--chunk-size", args.next())?,
            "--width" => options.frame_width = number("--width", args.next())?,
            "--height" => options.frame_height = number("--height", args.next())?,
            "--fps" => options.fps = number("--fps", args.next())? as u32,
            "--fail-fast" => options.on_error = ErrorPolicy::Fail,
            "--help" | "-h" => return Err(USAGE.into()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n{USAGE}")),
            input => inputs.push(PathBuf::from(input)),
        }
    }
    let output = output.ok_or(format!("--output is required\n{USAGE}"))?;
    if inputs.is_empty() {
        return Err(format!("no input directory\n{USAGE}"));
    }
    Ok((inputs, output, options))
}

fn main() -> ExitCode {
    let (inputs, output, options) = match parse() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match convert_contractor(&inputs, &output, &options) {
        Ok(report) => {
            for (episode, frames) in &report.episodes {
                println!("{episode}\t{frames} frames");
            }
            for (what, why) in &report.skipped {
                eprintln!("skipped {what}: {why}");
            }
            println!(
                "{} episodes written to {}",
                report.episodes.len(),
                output.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mine-convert: {e}");
            ExitCode::FAILURE
        }
    }
}
