//! The README's "Train on your MineStudio data" commands, run exactly as written (only
//! `cargo run --release --bin NAME --` becomes the built program) in a scratch copy of the
//! layout they expect: `examples/configs/` in the working directory, `../shared` beside it.

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared_dir() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

/// The command lines of the README section's `sh` block (comments dropped).
fn readme_commands() -> Vec<String> {
    let readme = include_str!("../README.md");
    let section = readme
        .split("## Train on your MineStudio data")
        .nth(1)
        .expect("the README has the section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the section has an sh block");
    block
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// `line` with `cargo run --release --bin NAME --` replaced by the program's path.
fn with_built_programs(line: &str) -> String {
    let programs = [
        ("mine-convert", env!("CARGO_BIN_EXE_mine-convert")),
        ("mine-train", env!("CARGO_BIN_EXE_mine-train")),
        ("mine-export", env!("CARGO_BIN_EXE_mine-export")),
    ];
    for (name, path) in programs {
        let prefix = format!("cargo run --release --bin {name} --");
        if let Some(rest) = line.strip_prefix(&prefix) {
            return format!("{path:?}{rest}");
        }
    }
    panic!("not a command of the three programs: {line}");
}

fn steps_logged(run: &Path) -> Vec<u64> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .filter_map(|l| {
            let record: serde_json::Value = serde_json::from_str(l).ok()?;
            record.get("train/loss")?;
            record["step"].as_u64()
        })
        .collect()
}

#[test]
fn readme_train_section_commands_work_as_written() {
    let scratch = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(shared_dir(), scratch.path().join("shared")).unwrap();
    let repo = scratch.path().join("repo");
    std::fs::create_dir_all(repo.join("examples/configs")).unwrap();
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/configs/mine-train.toml"
    );
    std::fs::copy(config, repo.join("examples/configs/mine-train.toml")).unwrap();

    let commands = readme_commands();
    assert!(commands.len() >= 4, "{commands:?}");
    for line in &commands {
        let output = Command::new("bash")
            .arg("-c")
            .arg(with_built_programs(line))
            .current_dir(&repo)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "`{line}` failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    // The fine-tuning ran to 20 steps, then resumed to 30, each logged step once.
    let run = repo.join("runs/finetune");
    assert_eq!(steps_logged(&run), [5, 10, 15, 20, 25, 30]);
    assert!(run.join("train.log").is_file());
    assert_eq!(
        steps_logged(&repo.join("runs/finetune-lmdb")),
        [5, 10, 15, 20]
    );
    let export = repo.join("runs/finetune-minestudio");
    for file in ["config.json", "model.safetensors"] {
        assert!(export.join(file).is_file(), "the export has no {file}");
    }
}
