//! Checkpoints and weights files carry SHA-256 checksums: any damaged file is named before a
//! resume uses it, and resuming a run directory falls back to the newest checkpoint that
//! verifies.

use std::path::Path;

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::checkpoint::{CheckpointError, IntegrityProblem, sidecar_path, verify_file};
use mine_runtime::trainer::config::{EmaConfig, TrainerConfig};
use mine_runtime::trainer::{InMemory, TrainError, Trainer};
use sha2::{Digest, Sha256};

use crate::support::*;

/// Every file of a full checkpoint with EMA and a memory policy.
const FILES: [&str; 7] = [
    "SHA256SUMS",
    "ema.bpk",
    "lr_schedule.bpk",
    "memory.bpk",
    "model.bpk",
    "optimizer.bpk",
    "state.json",
];

fn trainer(config: TrainerConfig) -> Trainer<TinyRnn> {
    let policy = TinyRnn::new(&Device::flex());
    let experiment = Experiment::new(policy).objective(BehaviorClone::default());
    Trainer::new(config, experiment).unwrap()
}

fn config_for(dir: &Path) -> TrainerConfig {
    let mut config = config(dir, 4, 1e-2);
    config.save_freq = Some(2);
    config.ema = Some(EmaConfig {
        decay: 0.9,
        every_n_steps: 1,
        use_for_validation: false,
    });
    config
}

/// A run of 4 steps with full checkpoints at steps 2 and 4 (`keep_last` is 2 by default).
fn trained(name: &str) -> std::path::PathBuf {
    let dir = run_dir(name);
    trainer(config_for(&dir))
        .fit(&mut InMemory(trajectories(3, 31, &Device::flex())), None)
        .unwrap();
    dir
}

fn sha256_hex(path: &Path) -> String {
    Sha256::digest(std::fs::read(path).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn flip_a_byte(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.set_len(len / 2).unwrap();
}

#[test]
fn the_manifest_lists_every_file_in_sha256sum_format() {
    let dir = trained("manifest");
    let checkpoint = dir.join("checkpoints/step-00000004");
    assert_eq!(names(&checkpoint), FILES);
    let manifest = std::fs::read_to_string(checkpoint.join("SHA256SUMS")).unwrap();
    let mut listed = Vec::new();
    for line in manifest.lines().filter(|l| !l.starts_with('#')) {
        let (hash, name) = line.split_once("  ").expect("`<sha256>  <name>`");
        assert_eq!(hash, sha256_hex(&checkpoint.join(name)), "{name}");
        listed.push(name);
    }
    assert_eq!(listed, &FILES[1..], "every file but the manifest itself");
    for name in &FILES[1..] {
        let size = std::fs::metadata(checkpoint.join(name)).unwrap().len();
        assert!(
            manifest.contains(&format!("# size {size} {name}\n")),
            "{manifest}"
        );
    }
    // The system's checker agrees, where there is one.
    match std::process::Command::new("sha256sum")
        .args(["--strict", "-c", "SHA256SUMS"])
        .current_dir(&checkpoint)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "sha256sum -c: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => println!("sha256sum not run: {e}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_damaged_checkpoint_file_is_named_and_the_previous_checkpoint_is_used() {
    let dir = trained("damaged");
    type Damage = fn(&Path);
    let damages: [(&str, Damage); 2] = [("flipped", flip_a_byte), ("truncated", truncate)];
    for file in FILES {
        for (damage, apply) in damages {
            let copy = run_dir(&format!("damaged-{file}-{damage}"));
            copy_dir(&dir, &copy);
            let checkpoint = copy.join("checkpoints/step-00000004");
            apply(&checkpoint.join(file));

            let err = trainer(config_for(&copy))
                .resume_from(&checkpoint)
                .err()
                .unwrap_or_else(|| panic!("{file} {damage}: resumed"));
            let message = err.to_string();
            assert!(
                message.contains(&format!("step-00000004/{file}")),
                "{file} {damage}: {message}"
            );
            assert!(
                matches!(
                    err,
                    TrainError::Checkpoint(CheckpointError::Integrity { ref path, .. })
                        if path.ends_with(file)
                ),
                "{file} {damage}: {err:?}"
            );

            let resumed = trainer(config_for(&copy)).resume_from(&copy).unwrap();
            assert_eq!(
                resumed.step(),
                2,
                "{file} {damage}: the previous checkpoint"
            );
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_added_and_unchecked_files_are_named_too() {
    let dir = trained("missing");
    let checkpoint = dir.join("checkpoints/step-00000004");
    let problem = |dir: &Path| match trainer(config_for(dir)).resume_from(&checkpoint) {
        Err(TrainError::Checkpoint(CheckpointError::Integrity { path, problem })) => (
            path.file_name().unwrap().to_string_lossy().into_owned(),
            problem,
        ),
        Err(other) => panic!("{other}"),
        Ok(_) => panic!("resumed"),
    };

    std::fs::write(checkpoint.join("notes.txt"), "mine").unwrap();
    assert_eq!(
        problem(&dir),
        ("notes.txt".into(), IntegrityProblem::Unlisted)
    );
    std::fs::remove_file(checkpoint.join("notes.txt")).unwrap();

    let model = checkpoint.join("model.bpk");
    std::fs::rename(&model, dir.join("model.bpk")).unwrap();
    assert_eq!(
        problem(&dir),
        ("model.bpk".into(), IntegrityProblem::Missing)
    );
    std::fs::rename(dir.join("model.bpk"), &model).unwrap();

    // A checkpoint of the current format without its manifest is not trusted.
    std::fs::remove_file(checkpoint.join("SHA256SUMS")).unwrap();
    assert_eq!(
        problem(&dir),
        ("SHA256SUMS".into(), IntegrityProblem::NoChecksums)
    );

    // When no checkpoint verifies, the error names each one's problem.
    flip_a_byte(&dir.join("checkpoints/step-00000002/optimizer.bpk"));
    let message = trainer(config_for(&dir))
        .resume_from(&dir)
        .err()
        .unwrap()
        .to_string();
    for expected in [
        "no checkpoint of",
        "step-00000004/SHA256SUMS",
        "step-00000002/optimizer.bpk",
    ] {
        assert!(message.contains(expected), "{expected}: {message}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn weights_files_verify_against_their_sidecars() {
    let dir = trained("sidecars");
    let weights = dir.join("weights");
    assert_eq!(
        names(&weights),
        [
            "step-00000002.bpk",
            "step-00000002.bpk.sha256",
            "step-00000002.ema.bpk",
            "step-00000002.ema.bpk.sha256",
            "step-00000004.bpk",
            "step-00000004.bpk.sha256",
            "step-00000004.ema.bpk",
            "step-00000004.ema.bpk.sha256",
        ]
    );
    for name in ["step-00000004.bpk", "step-00000004.ema.bpk"] {
        let path = weights.join(name);
        let verified = verify_file(&path).unwrap();
        assert_eq!(verified.sha256, sha256_hex(&path));
        assert_eq!(verified.len, std::fs::metadata(&path).unwrap().len());
        let sidecar = std::fs::read_to_string(sidecar_path(&path)).unwrap();
        assert!(
            sidecar.contains(&format!("{}  {name}\n", verified.sha256)),
            "{sidecar}"
        );
    }

    let path = weights.join("step-00000002.bpk");
    let original = std::fs::read(&path).unwrap();
    flip_a_byte(&path);
    let err = verify_file(&path).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Integrity {
                problem: IntegrityProblem::Hash { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("step-00000002.bpk"), "{err}");
    truncate(&path);
    let err = verify_file(&path).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Integrity {
                problem: IntegrityProblem::Size { .. },
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(&path, original).unwrap();
    verify_file(&path).unwrap();

    flip_a_byte(&sidecar_path(&path));
    let err = verify_file(&path).unwrap_err();
    assert!(
        err.to_string().contains("step-00000002.bpk.sha256"),
        "{err}"
    );
    std::fs::remove_file(sidecar_path(&path)).unwrap();
    let err = verify_file(&path).unwrap_err();
    assert!(
        matches!(
            err,
            CheckpointError::Integrity {
                problem: IntegrityProblem::NoChecksums,
                ..
            }
        ),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
