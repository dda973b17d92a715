//! The reference: the same training step in MineStudio 1.1.6 on PyTorch (the CPU, or the same
//! CUDA GPU), and MineStudio's own data loader, from a throwaway virtual environment that
//! `examples/reference/setup.sh` makes on first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::setup::Setup;

type Error = Box<dyn std::error::Error>;

fn scripts() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/reference"))
}

/// Makes (or checks) the virtual environment; returns its interpreter.
pub fn setup() -> Result<PathBuf, Error> {
    let status = Command::new("bash")
        .arg(scripts().join("setup.sh"))
        // Its progress goes to stderr: stdout is the benchmark's Markdown.
        .stdout(std::io::stderr())
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

/// The reference step server for batch `b`, window `t`, memory `m` of the setup's model in
/// its precision, on PyTorch's `device` (`cpu` on `threads` threads, or `cuda`): a VPT's
/// arguments go over as MineStudio's `policy_kwargs`, so both sides build the same network;
/// GROOT's are the same in `groot_step.py` and [`Setup::groot_at`].
pub fn command(
    python: &PathBuf,
    setup: &Setup,
    device: &str,
    [b, t, m]: [usize; 3],
    threads: usize,
) -> Result<Command, Error> {
    let mut command = Command::new(python);
    // requests and gym warn about optional packages on import; they are not used.
    command.env("PYTHONWARNINGS", "ignore");
    if setup.is_groot() {
        command
            .arg(scripts().join("groot_step.py"))
            .args(["--batch", &b.to_string()])
            .args(["--time", &t.to_string()])
            .args(["--memory", &m.to_string()])
            .args(["--threads", &threads.to_string()])
            .args(["--precision", setup.precision.as_str()]);
        return Ok(command);
    }
    let vpt = setup.vpt_at(t, m)?;
    let mut kwargs = serde_json::to_value(&vpt)?;
    if let serde_json::Value::Object(map) = &mut kwargs {
        // VPTPolicy takes the temperature beside its policy_kwargs (1.0 here).
        map.remove("temperature");
    }
    command
        .arg(scripts().join("vpt_step.py"))
        .args(["--batch", &b.to_string()])
        .args(["--time", &vpt.timesteps.to_string()])
        .args(["--memory", &vpt.attention_memory_size.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--device", device])
        .args(["--precision", setup.precision.as_str()])
        .args(["--policy-kwargs", &kwargs.to_string()]);
    Ok(command)
}

/// The reference data server: MineStudio's own loader on the dataset at `dir` with
/// `workers` worker processes (`examples/reference/data_loader.py`).
pub fn data_command(python: &PathBuf, dir: &Path, workers: usize) -> Command {
    let mut command = Command::new(python);
    command
        .env("PYTHONWARNINGS", "ignore")
        .arg(scripts().join("data_loader.py"))
        .arg("--dataset")
        .arg(dir)
        .args(["--workers", &workers.to_string()]);
    command
}
