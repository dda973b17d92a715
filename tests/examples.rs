//! Every example runs to completion on a small setting (a generated dataset of a few short
//! episodes, a few steps), and leaves a run directory a user can read: the resolved config,
//! finite metrics whose loss falls, TensorBoard events, valid PNG plots, weights and a
//! checkpoint that a second invocation with `--resume` continues from; a third invocation
//! without `--resume` is refused until it passes `--overwrite`.
//!
//! The examples' own code runs here (their files are included as modules), called with the
//! command line a user would type.

use std::path::{Path, PathBuf};

use minestudio_rs::cli::RunArgs;

#[allow(dead_code)]
#[path = "../examples/vpt_bc.rs"]
mod vpt_bc;

#[allow(dead_code)]
#[path = "../examples/groot.rs"]
mod groot;

#[allow(dead_code)]
#[path = "../examples/rocket.rs"]
mod rocket;

#[allow(dead_code)]
#[path = "../examples/custom_objective.rs"]
mod custom_objective;

#[allow(dead_code)]
#[path = "../examples/long_trajectory.rs"]
mod long_trajectory;

type Example = fn(&RunArgs) -> Result<(), Box<dyn std::error::Error>>;

/// Overrides that keep a run short: `steps` steps on 4 generated episodes of 64 frames,
/// logging every step, saving and validating (2 batches) every 3 steps.
fn short_run(dir: &Path, steps: usize) -> Vec<String> {
    let data = dir.join("data");
    vec![
        format!("data.dataset_dirs=[{:?}]", data.display().to_string()),
        "generate.episodes=4".into(),
        "generate.frames_per_episode=64".into(),
        format!(
            "trainer.run_dir={:?}",
            dir.join("run").display().to_string()
        ),
        format!("trainer.max_steps={steps}"),
        "trainer.log_freq=1".into(),
        "trainer.save_freq=3".into(),
        "trainer.val_every_n_steps=3".into(),
        "trainer.max_val_batches=2".into(),
        "trainer.optimizer.warmup_steps=2".into(),
        "trainer.progress=\"off\"".into(),
    ]
}

/// Runs `example` with `flags` (`--resume <run>`, `--overwrite`) and `overrides`.
fn try_invoke(
    example: Example,
    flags: &[String],
    overrides: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let mut argv = vec!["example".to_owned()];
    argv.extend(flags.iter().cloned());
    argv.extend(overrides.iter().cloned());
    let args = RunArgs::from_args(argv).expect("the command line parses");
    example(&args)
}

/// Runs `example` with `flags` and `overrides`; it must succeed.
fn invoke(example: Example, flags: &[String], overrides: &[String]) {
    if let Err(error) = try_invoke(example, flags, overrides) {
        panic!("the example failed: {error}");
    }
}

/// One JSON object per line of `run/metrics.jsonl`.
fn metrics(run: &Path) -> Vec<serde_json::Map<String, serde_json::Value>> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).expect("metrics.jsonl");
    text.lines()
        .map(
            |line| match serde_json::from_str(line).expect("a JSON line") {
                serde_json::Value::Object(map) => map,
                other => panic!("not a JSON object: {other}"),
            },
        )
        .collect()
}

/// `(step, value)` of every record holding `name`.
fn series(records: &[serde_json::Map<String, serde_json::Value>], name: &str) -> Vec<(u64, f64)> {
    records
        .iter()
        .filter_map(|r| Some((r.get("step")?.as_u64()?, r.get(name)?.as_f64()?)))
        .collect()
}

/// Decodes a PNG file; returns its size.
fn png_size(path: &Path) -> (u32, u32) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader.next_frame(&mut pixels).expect("the PNG decodes");
    (info.width, info.height)
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    paths.sort();
    paths
}

/// What every run directory holds after `steps` steps.
fn check_run_dir(run: &Path, steps: u64, losses: &[&str]) {
    for file in ["config.toml", "hparams.json"] {
        assert!(run.join(file).is_file(), "{} has no {file}", run.display());
    }
    let records = metrics(run);
    for record in &records {
        for (name, value) in record {
            if let Some(v) = value.as_f64() {
                assert!(v.is_finite(), "{name} = {v} at {record:?}");
            }
        }
    }
    let loss = series(&records, "train/loss");
    assert_eq!(loss.last().map(|p| p.0), Some(steps), "{loss:?}");
    let (first, last) = (loss[0].1, loss[loss.len() - 1].1);
    assert!(last < first, "the training loss did not fall: {loss:?}");
    for name in losses {
        assert!(!series(&records, name).is_empty(), "no {name} logged");
    }
    assert!(!series(&records, "val/loss").is_empty(), "no validation");
    assert_eq!(series(&records, "train/lr").len() as u64, steps);

    let events = entries(&run.join("tensorboard"));
    assert!(events.iter().any(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.starts_with("events.out.tfevents") && p.metadata().unwrap().len() > 0
    }));
    for plot in ["loss.png", "lr.png"] {
        let (w, h) = png_size(&run.join("plots").join(plot));
        assert!(w >= 320 && h >= 200, "{plot} is {w}x{h}");
    }
    let checkpoint = run.join("checkpoints").join(format!("step-{steps:08}"));
    assert!(
        checkpoint.is_dir(),
        "{:?}",
        entries(&run.join("checkpoints"))
    );
    let weights = run.join("weights").join(format!("step-{steps:08}.bpk"));
    assert!(weights.is_file(), "{:?}", entries(&run.join("weights")));
}

/// Runs `example` for 6 steps, checks the run directory, resumes it to 8 and checks again;
/// then a new run into the same directory is refused, and starts again with `--overwrite`.
fn run_and_resume(example: Example, extra: &[&str], runs: &[&str], losses: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = short_run(dir.path(), 6);
    overrides.extend(extra.iter().map(|s| s.to_string()));
    invoke(example, &[], &overrides);
    let run_root = dir.path().join("run");
    let run_dir = |name: &str| {
        if name.is_empty() {
            run_root.clone()
        } else {
            run_root.join(name)
        }
    };
    for name in runs {
        check_run_dir(&run_dir(name), 6, losses);
    }
    let mut overrides = short_run(dir.path(), 8);
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let resume = ["--resume".to_owned(), run_root.display().to_string()];
    invoke(example, &resume, &overrides);
    for name in runs {
        let run = run_dir(name);
        check_run_dir(&run, 8, losses);
        let steps: Vec<u64> = series(&metrics(&run), "train/lr")
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(
            steps,
            (1..=8).collect::<Vec<_>>(),
            "resume continues at step 7"
        );
    }

    let mut overrides = short_run(dir.path(), 6);
    overrides.extend(extra.iter().map(|s| s.to_string()));
    let refused = try_invoke(example, &[], &overrides).expect_err("a second run is refused");
    let message = refused.to_string();
    assert!(
        message.contains("--resume") && message.contains("--overwrite"),
        "{message}"
    );
    invoke(example, &["--overwrite".to_owned()], &overrides);
    for name in runs {
        let run = run_dir(name);
        check_run_dir(&run, 6, losses);
        let steps: Vec<u64> = series(&metrics(&run), "train/lr")
            .iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(steps, (1..=6).collect::<Vec<_>>(), "the run started again");
        assert_eq!(entries(&run.join("tensorboard")).len(), 1);
    }
}

#[test]
fn vpt_bc_trains_and_resumes() {
    run_and_resume(
        vpt_bc::run,
        &[],
        &[""],
        &["train/camera_loss", "train/button_loss"],
    );
}

#[test]
fn groot_trains_with_bc_and_kl_and_resumes() {
    run_and_resume(
        groot::run,
        &[],
        &[""],
        &["train/kl_div", "train/camera_loss", "val/kl_div"],
    );
}

/// ROCKET-1 on 64x64 frames (the EfficientNet's last map is 2x2) to stay short.
#[test]
fn rocket_trains_on_object_masks_and_resumes() {
    run_and_resume(
        rocket::run,
        &[
            "generate.width=64",
            "generate.height=64",
            "data.frame_width=64",
            "data.frame_height=64",
        ],
        &[""],
        &["train/camera_loss", "train/button_loss", "val/loss"],
    );
}

#[test]
fn rocket_without_the_segmentation_modality_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = short_run(dir.path(), 2);
    overrides.push("data.modalities=[\"image\", \"action\"]".into());
    let message = try_invoke(rocket::run, &[], &overrides)
        .expect_err("ROCKET-1 needs masks")
        .to_string();
    assert!(
        message.contains("\"segmentation\"") && message.contains("data.modalities"),
        "{message}"
    );
    assert!(!dir.path().join("run").exists(), "nothing was started");
}

/// The groot example's file writes out MineStudio's `small_cpu()` GROOT key by key; an
/// override of `policy.architecture` switches to our own GROOT, whose defaults fill what the
/// overrides leave out; one of the backbone's `name` switches to another timm model, without
/// the ViT's sizes (an EfficientNet takes no `patch_size`).
#[test]
fn groot_config_is_minestudio_s_small_cpu_and_scratch_stays_selectable() {
    use mine_runtime::policies::groot::{GrootConfig, MineStudioGrootConfig, ScratchGrootConfig};
    use mine_runtime::policies::timm::TimmBackboneConfig;
    let load = |overrides: &[&str]| {
        let mut argv = vec!["example".to_owned()];
        argv.extend(overrides.iter().map(|s| s.to_string()));
        groot::config(&RunArgs::from_args(argv).unwrap()).unwrap()
    };
    let config = load(&[]);
    assert_eq!(
        config.policy,
        GrootConfig::from(MineStudioGrootConfig::small_cpu())
    );
    let [h, w, _] = config.policy.img_shape();
    assert_eq!([config.data.frame_height, config.data.frame_width], [h, w]);
    assert_eq!(config.data.win_len, config.policy.decoder().timesteps);

    let scratch = load(&["policy.architecture=\"scratch\"", "policy.hiddim=64"]);
    let GrootConfig::Scratch(scratch) = scratch.policy else {
        panic!("architecture = \"scratch\" selects our own GROOT")
    };
    assert_eq!(
        scratch,
        ScratchGrootConfig {
            hiddim: 64,
            ..ScratchGrootConfig::default()
        }
    );

    let efficientnet = load(&[
        "policy.backbone.name=\"efficientnet_b0.ra_in1k\"",
        "policy.backbone.img_size=128",
    ]);
    let GrootConfig::MineStudio(efficientnet) = efficientnet.policy else {
        panic!("the architecture stays MineStudio's")
    };
    let mut want = MineStudioGrootConfig::small_cpu();
    want.backbone = TimmBackboneConfig {
        img_size: Some(128),
        ..TimmBackboneConfig::named("efficientnet_b0.ra_in1k")
    };
    assert_eq!(efficientnet, want);
}

#[test]
fn custom_objective_trains_its_own_key_and_resumes() {
    run_and_resume(
        custom_objective::run,
        &[],
        &[""],
        &["train/progress_mse", "val/progress_mse"],
    );
}

#[test]
fn long_trajectory_trains_carried_and_reset_memory_and_resumes() {
    run_and_resume(
        long_trajectory::run,
        &["generate.frames_per_episode=128"],
        &["carry", "reset"],
        &["train/camera_loss"],
    );
}

/// Backends, devices and precisions this build or machine cannot honour stop an example at
/// startup, before its dataset is generated, naming the setting and the fix.
#[test]
fn settings_the_build_or_machine_cannot_honour_stop_an_example_at_startup() {
    use minestudio_rs::runtime::trainer::backend::Backend;

    let dir = tempfile::tempdir().unwrap();
    let mut cases: Vec<(String, Vec<&str>)> = vec![(
        "trainer.devices=[0,1]".into(),
        vec!["`devices` = [0, 1]", "the flex backend has 1 device"],
    )];
    for backend in [Backend::Cuda, Backend::Wgpu] {
        if !backend.is_compiled() {
            cases.push((
                format!("trainer.backend=\"{backend}\""),
                vec!["is not compiled into this build", "`--features"],
            ));
        }
    }
    if Backend::Wgpu.is_compiled() {
        cases.push((
            "trainer.backend=\"wgpu\" trainer.precision=\"bf16\"".into(),
            vec!["`trainer.precision` = \"bf16-mixed\"", "wgpu device"],
        ));
    }
    for (settings, expected) in cases {
        let mut overrides = short_run(dir.path(), 1);
        overrides.extend(settings.split(' ').map(str::to_owned));
        let error = try_invoke(vpt_bc::run, &[], &overrides)
            .expect_err("the example refuses the settings")
            .to_string();
        for part in expected {
            assert!(error.contains(part), "{settings}: {error}");
        }
        assert!(
            !dir.path().join("data").exists(),
            "{settings}: nothing generated"
        );
        assert!(
            !dir.path().join("run").exists(),
            "{settings}: nothing written"
        );
    }
}
