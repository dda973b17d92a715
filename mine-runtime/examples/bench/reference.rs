//! The reference: the same training step in MineStudio 1.1.6 on PyTorch (CPU), from a
//! throwaway virtual environment that `examples/reference/setup.sh` makes on first use.

use std::path::PathBuf;
use std::process::Command;

type Error = Box<dyn std::error::Error>;

fn scripts() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/reference"))
}

/// Makes (or checks) the virtual environment; returns its interpreter.
pub fn setup() -> Result<PathBuf, Error> {
    let status = Command::new("bash")
        .arg(scripts().join("setup.sh"))
        .status()
        .map_err(|e| format!("cannot run bash for examples/reference/setup.sh: {e}"))?;
    if !status.success() {
        return Err(
            "examples/reference/setup.sh failed (it needs python3 with venv and pip, and PyPI)"
                .into(),
        );
    }
    let venv = std::env::var_os("MINE_REFERENCE_VENV").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/reference-venv"
            ))
        },
        PathBuf::from,
    );
    Ok(venv.join("bin/python"))
}

/// The reference step server for batch `b`, window `t`, memory `m` on `threads` threads.
pub fn command(python: &PathBuf, b: usize, t: usize, m: usize, threads: usize) -> Command {
    let mut command = Command::new(python);
    command
        // requests and gym warn about optional packages on import; they are not used.
        .env("PYTHONWARNINGS", "ignore")
        .arg(scripts().join("vpt_step.py"))
        .args(["--batch", &b.to_string(), "--time", &t.to_string()])
        .args([
            "--memory",
            &m.to_string(),
            "--threads",
            &threads.to_string(),
        ]);
    command
}
