//! The training program as a user runs it: `mine-train --config my.toml` on a real MineStudio
//! dataset (224x224 frames, resized to the policy's 16x16), starting from the golden tiny VPT
//! weights or a MineStudio GROOT Lightning checkpoint, then `mine-export`, whose output reads
//! back to the very same network; and every kind of bad input refused before training, naming
//! the file or key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::{Device, Tensor, TensorData};
use mine_dsl::policy::Policy;
use mine_runtime::policies::groot::GrootPolicy;
use mine_runtime::policies::pretrained::build_pretrained;
use mine_runtime::policies::torch_names::torch_state_dict;
use mine_runtime::policies::vpt::VptPolicy;

fn shared_dir() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
}

/// A config for the tiny VPT on the MineStudio fixture, with `extra` appended.
fn tiny_config(dir: &Path, extra: &str) -> PathBuf {
    let weights = shared_dir().join("golden/tiny_vpt_weights.safetensors");
    let policy = format!(
        r#"kind = "vpt"
weights = {weights:?}
hidsize = 32
img_shape = [16, 16, 3]
attention_heads = 2
attention_memory_size = 8
timesteps = 4
n_recurrence_layers = 2
use_pre_lstm_ln = false
init_norm_kwargs = {{ group_norm_groups = 1 }}
impala_kwargs = {{ post_pool_groups = 1 }}"#,
        weights = weights.display().to_string(),
    );
    config_file(dir, &policy, extra)
}

/// A config training on the MineStudio fixture (16x16 frames, windows of 4, 4 steps) with
/// `policy` as the `[policy]` table and `extra` appended.
fn config_file(dir: &Path, policy: &str, extra: &str) -> PathBuf {
    let text = format!(
        r#"
[data]
dataset_dirs = [{dataset:?}]
frame_width = 16
frame_height = 16
win_len = 4
batch_size = 2
split_ratio = 0.75
num_workers = 1

[policy]
{policy}

[trainer]
max_steps = 4
log_freq = 1
save_freq = 2
run_dir = "run"
progress = "off"

[trainer.optimizer]
learning_rate = 1e-3
warmup_steps = 1
{extra}
"#,
        dataset = shared_dir()
            .join("fixtures/minestudio-tiny")
            .display()
            .to_string(),
    );
    let path = dir.join("tiny.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(program: &str, dir: &Path, args: &[&str]) -> Output {
    let exe = match program {
        "mine-train" => env!("CARGO_BIN_EXE_mine-train"),
        "mine-export" => env!("CARGO_BIN_EXE_mine-export"),
        other => panic!("no program {other}"),
    };
    Command::new(exe)
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `(buttons, camera, vpred)` of the policy `weights` names, on a fixed input.
fn forward(weights: &Path) -> Vec<Vec<f32>> {
    let device = Device::flex();
    let (policy, _) =
        build_pretrained::<VptPolicy>(&toml::Table::new(), Some(weights), &device).unwrap();
    let pixels: Vec<f32> = (0..2 * 4 * 16 * 16 * 3)
        .map(|i| ((i * 37) % 256) as f32)
        .collect();
    let image = Tensor::<5>::from_data(TensorData::new(pixels, [2, 4, 16, 16, 3]), &device);
    let (out, _) = policy.forward_frames(image, policy.initial_memory(2, &device));
    let values = |data: TensorData| data.convert::<f32>().try_into_vec::<f32>().unwrap();
    vec![
        values(out.pi_logits.buttons.into_data()),
        values(out.pi_logits.camera.into_data()),
        values(out.vpred.into_data()),
    ]
}

/// `(step, key)` of every logged value in `run/metrics.jsonl`.
fn logged(run: &Path) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let mut pairs = Vec::new();
    for line in text.lines() {
        let record: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap();
        let step = record["step"].as_u64().unwrap();
        for key in record.keys().filter(|k| *k != "step" && *k != "wall_time") {
            pairs.push((step, key.clone()));
        }
    }
    pairs
}

#[test]
fn trains_a_minestudio_dataset_from_pretrained_weights_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path(), "[export]\nminestudio = true");
    let out = run(
        "mine-train",
        tmp.path(),
        &["--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "mine-train failed:\n{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("done: 4 steps"), "{stdout}");

    let run_dir = tmp.path().join("run");
    let metrics = std::fs::read_to_string(run_dir.join("metrics.jsonl")).unwrap();
    let losses: Vec<f64> = metrics
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()?["train/loss"].as_f64())
        .collect();
    assert_eq!(losses.len(), 4, "{metrics}");
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    // The run records the network as built (the settings resolved, the weights it started from).
    let recorded = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(
        recorded.contains("kind = \"vpt\"") && recorded.contains("tiny_vpt_weights"),
        "{recorded}"
    );
    let log = std::fs::read_to_string(run_dir.join("train.log")).unwrap();
    assert!(log.contains("checkpoint saved"), "train.log: {log}");
    // `[export] minestudio = true`: an export beside every checkpoint, the last one the
    // final weights.
    for step in ["step-00000002", "step-00000004"] {
        assert!(
            run_dir
                .join("export")
                .join(step)
                .join("model.safetensors")
                .is_file(),
            "{step}"
        );
    }
    assert_eq!(
        forward(&run_dir.join("export/step-00000004")),
        forward(&run_dir)
    );

    let export = tmp.path().join("export");
    let out = run("mine-export", tmp.path(), &["run", "--output", "export"]);
    assert!(
        out.status.success(),
        "mine-export failed:\n{}",
        stderr(&out)
    );
    for file in ["config.json", "model.safetensors"] {
        assert!(export.join(file).is_file(), "no {file}");
    }
    // The export reads back to the trained network, output for output.
    assert_eq!(forward(&export), forward(&run_dir));
    // A second export into the same directory needs --overwrite.
    let out = run("mine-export", tmp.path(), &["run", "--output", "export"]);
    assert!(
        !out.status.success() && stderr(&out).contains("--overwrite"),
        "{}",
        stderr(&out)
    );
}

/// MineStudio's GROOT from its Lightning checkpoint (the tutorial's `-EMA.ckpt`, whose
/// `hyper_parameters.model` sizes the network): trained with MineStudio's GROOT recipe (BC +
/// KL) and exported for MineStudio.
#[test]
fn trains_minestudio_s_groot_from_its_lightning_checkpoint_and_exports() {
    let tmp = tempfile::tempdir().unwrap();
    let ckpt = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mine-runtime/tests/fixtures/checkpoints/groot/weight-epoch=0-step=3-EMA.ckpt"
    );
    let policy = format!("kind = \"groot\"\nweights = {ckpt:?}");
    let config = config_file(tmp.path(), &policy, "[export]\nminestudio = true");
    let out = run(
        "mine-train",
        tmp.path(),
        &["--config", config.to_str().unwrap()],
    );
    assert!(out.status.success(), "mine-train failed:\n{}", stderr(&out));
    let run_dir = tmp.path().join("run");
    let logged = logged(&run_dir);
    assert!(
        logged.contains(&(4, "train/kl_div".to_owned())),
        "{logged:?}"
    );
    let recorded = std::fs::read_to_string(run_dir.join("config.toml")).unwrap();
    assert!(
        recorded.contains("architecture = \"minestudio\""),
        "{recorded}"
    );
    assert!(
        recorded.contains("[policy.video_encoder_kwargs]"),
        "{recorded}"
    );

    let out = run("mine-export", tmp.path(), &["run", "--output", "export"]);
    assert!(
        out.status.success(),
        "mine-export failed:\n{}",
        stderr(&out)
    );
    let text = std::fs::read_to_string(tmp.path().join("export/config.json")).unwrap();
    let kwargs: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(kwargs["hiddim"], 8, "{kwargs}");
    assert!(
        kwargs.get("latent_mode").is_none(),
        "only GrootPolicy's arguments: {kwargs}"
    );
    // The export reads back to the trained network.
    let device = Device::flex();
    let weights = |path: &Path| {
        let (policy, _) =
            build_pretrained::<GrootPolicy>(&toml::Table::new(), Some(path), &device).unwrap();
        torch_state_dict(&policy, &[])
    };
    assert_eq!(weights(&tmp.path().join("export")), weights(&run_dir));
}

/// Runs mine-train with `extra` config lines and `overrides`; asserts it fails before
/// training (no run directory) with every `expected` fragment in its error.
fn refused(extra: &str, overrides: &[&str], expected: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path(), extra);
    let mut args = vec!["--config", config.to_str().unwrap()];
    args.extend_from_slice(overrides);
    let out = run("mine-train", tmp.path(), &args);
    let error = stderr(&out);
    assert!(!out.status.success(), "mine-train {overrides:?} succeeded");
    for fragment in expected {
        assert!(error.contains(fragment), "`{fragment}` not in:\n{error}");
    }
    assert!(
        !tmp.path().join("run").exists(),
        "a refused run left a run directory"
    );
}

#[test]
fn bad_input_is_refused_before_training_naming_the_file_or_key() {
    let tmp = tempfile::tempdir().unwrap();
    let not_a_dataset = tmp.path().join("holiday-photos");
    std::fs::create_dir_all(not_a_dataset.join("2024")).unwrap();
    let dataset = format!(
        "data.dataset_dirs=[{:?}]",
        not_a_dataset.display().to_string()
    );
    refused("", &[&dataset], &["holiday-photos"]);
    // A checkpoint whose config contradicts [policy]: the export of another network.
    let hub = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/mine-runtime/tests/fixtures/checkpoints/hf"
    );
    let weights = format!("policy.weights={hub:?}");
    refused(
        "",
        &[&weights],
        &["policy.hidsize = 32", "hidsize = 8", "config.json"],
    );
    // A checkpoint of another kind of policy.
    let kind = "policy.kind=\"groot\"";
    refused("", &[kind, &weights], &["config.json", "`vpt`", "`groot`"]);
    // A frozen module that does not exist.
    refused(
        "",
        &["policy.freeze=[\"img_proces\"]"],
        &["img_proces", "net.img_process"],
    );
    // An objective the policy cannot feed.
    refused(
        "[[objectives]]\nname = \"kl_divergence\"",
        &[],
        &["posterior_dist", "kl_divergence"],
    );
    // Frames the network does not take.
    refused(
        "",
        &["data.frame_width=224"],
        &["16x224", "data.frame_width = 16"],
    );
    // A kind whose settings these are not.
    refused(
        "",
        &["policy.kind=\"rocket\""],
        &["attention_heads", "policy.kind = \"rocket\""],
    );
    // No policy kind, a typo in a key.
    refused(
        "",
        &["policy.kind=\"steve\""],
        &["policy.kind", "\"vpt\", \"groot\", \"rocket\""],
    );
    refused("", &["trainer.max_step=3"], &["max_step", "tiny.toml"]);
}

/// A failure prints its chain of causes once: the system's message for a dataset path that is a
/// file is part of the data error's message, which is part of the run's, and none is repeated.
#[test]
fn an_error_prints_its_causes_once() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("not-a-directory");
    std::fs::write(&file, "").unwrap();
    let system = std::fs::read_dir(&file).unwrap_err().to_string();
    let dataset = format!("data.dataset_dirs=[{:?}]", file.display().to_string());
    let config = tiny_config(tmp.path(), "");
    let out = run(
        "mine-train",
        tmp.path(),
        &["--config", config.to_str().unwrap(), &dataset],
    );
    assert!(!out.status.success());
    let error = stderr(&out);
    let reported: Vec<&str> = error
        .lines()
        .filter(|l| l.starts_with("error:") || l.contains("caused by"))
        .collect();
    let [line] = reported.as_slice() else {
        panic!("one error line expected in:\n{error}");
    };
    assert!(line.starts_with("error: train split: dataset"), "{line}");
    assert!(
        line.contains("not-a-directory") && line.ends_with(&system),
        "{line}"
    );
    assert_eq!(error.matches(&system).count(), 1, "{error}");
}

#[test]
fn run_directories_are_kept_whole_across_refusals_damage_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path(), "");
    let config = config.to_str().unwrap();
    let out = run("mine-train", tmp.path(), &["--config", config]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run_dir = tmp.path().join("run");
    let before = std::fs::read(run_dir.join("metrics.jsonl")).unwrap();

    // A second run into the same directory is refused, and changes nothing.
    let out = run("mine-train", tmp.path(), &["--config", config]);
    let error = stderr(&out);
    assert!(
        !out.status.success() && error.contains("--resume") && error.contains("--overwrite"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(run_dir.join("metrics.jsonl")).unwrap(),
        before
    );

    // The newest checkpoint (step 4) is damaged: a resume names the file and falls back to
    // step 2; steps 3 and 4, logged before, are logged again by the resumed run, once each.
    let optimizer = run_dir.join("checkpoints/step-00000004/optimizer.bpk");
    let mut bytes = std::fs::read(&optimizer).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&optimizer, bytes).unwrap();
    let out = run(
        "mine-train",
        tmp.path(),
        &["--config", config, "--resume", "run", "trainer.max_steps=6"],
    );
    let log = stderr(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("optimizer.bpk") && log.contains("step-00000002"),
        "{log}"
    );
    let pairs = logged(&run_dir);
    let mut unique = pairs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        pairs.len(),
        unique.len(),
        "a (step, key) logged twice: {pairs:?}"
    );
    let steps: Vec<u64> = pairs
        .iter()
        .filter(|(_, k)| k == "train/loss")
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(steps, [1, 2, 3, 4, 5, 6]);

    // --overwrite starts again.
    let out = run(
        "mine-train",
        tmp.path(),
        &["--config", config, "--overwrite"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let steps: Vec<u64> = logged(&run_dir)
        .iter()
        .filter(|(_, k)| k == "train/loss")
        .map(|(s, _)| *s)
        .collect();
    assert_eq!(steps, [1, 2, 3, 4]);
}

#[test]
fn ctrl_c_checkpoints_and_stops_with_status_130() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path(), "");
    let child = Command::new(env!("CARGO_BIN_EXE_mine-train"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "trainer.max_steps=1000000",
        ])
        .current_dir(tmp.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until it trains (a step logged), then interrupt it as a terminal's Ctrl-C would.
    let metrics = tmp.path().join("run/metrics.jsonl");
    let started = std::time::Instant::now();
    while std::fs::metadata(&metrics).map_or(true, |m| m.len() == 0) {
        assert!(
            started.elapsed().as_secs() < 120,
            "no step logged in two minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let error = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{error}");
    assert!(error.contains("--resume"), "{error}");
    // The step it stopped at is checkpointed, and a resume continues from it.
    let checkpoints: Vec<_> = std::fs::read_dir(tmp.path().join("run/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(!checkpoints.is_empty(), "no checkpoint after Ctrl-C");
    let last = logged(&tmp.path().join("run"))
        .iter()
        .map(|(s, _)| *s)
        .max()
        .unwrap();
    let more = format!("trainer.max_steps={}", last + 2);
    let out = run(
        "mine-train",
        tmp.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--resume",
            "run",
            &more,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}
