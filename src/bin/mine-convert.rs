//! `mine-convert`: raw VPT contractor recordings to a MineStudio LMDB dataset
//! (`mine-convert --help`; the command line is [`minestudio_rs::convert_cli::ConvertArgs`]).

use std::process::ExitCode;

use clap::Parser;
use minestudio_rs::convert_cli::{ConvertArgs, episode_lines};

fn main() -> ExitCode {
    let args = ConvertArgs::parse();
    minestudio_rs::logging::init();
    match args.run() {
        Ok(report) => {
            print!("{}", episode_lines(&report));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mine-convert: {e}");
            ExitCode::FAILURE
        }
    }
}
