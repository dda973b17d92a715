//! Invalid settings are rejected at startup, naming the field.

use burn::tensor::Device;
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::trainer::backend::{Backend, Precision};
use mine_runtime::trainer::config::TrainerConfig;
use mine_runtime::trainer::{InMemory, TrainError, Trainer};

use crate::support::*;

fn rejected(toml: &str) -> String {
    TrainerConfig::from_toml_str(toml).unwrap_err().to_string()
}

#[test]
fn invalid_fields_are_named() {
    let cases = [
        (
            "max_steps = 5\n[optimizer]\nwarmup_steps = 0",
            "warmup_steps",
        ),
        (
            "max_steps = 5\n[optimizer]\nlearning_rate = -1e-3",
            "learning_rate",
        ),
        (
            "max_steps = 5\nbackend = \"tpu\"",
            "`backend` = \"tpu\" is not known",
        ),
        (
            "max_steps = 5\nprecision = \"fp8\"",
            "`precision` = \"fp8\" is not known",
        ),
        ("max_steps = 5\nlog_freq = 0", "`log_freq`"),
        ("max_steps = 5\nkeep_last = 0", "`keep_last`"),
        ("max_steps = 5\nsave_freq = 0", "`save_freq`"),
        ("max_steps = 0", "`max_steps`"),
        ("max_steps = 5\n[ema]\ndecay = 1.5", "`ema.decay`"),
        ("log_freq = 3", "set `max_steps` or `max_epochs`"),
        (
            "max_steps = 5\nlearning_rate = 1e-3",
            "unknown field `learning_rate`",
        ),
    ];
    for (toml, expected) in cases {
        let message = rejected(toml);
        assert!(message.contains(expected), "{toml:?}: {message}");
    }
}

#[test]
fn bf16_means_mixed_precision_and_runs_on_flex() {
    let config = TrainerConfig::from_toml_str("max_steps = 5\nprecision = \"bf16\"").unwrap();
    assert_eq!(config.precision, Precision::Bf16Mixed);
    assert!(
        config
            .to_toml_string()
            .contains("precision = \"bf16-mixed\""),
        "{}",
        config.to_toml_string()
    );
    assert!(Backend::Flex.device(0, Precision::Bf16Mixed).is_ok());
}

/// The README's trainer config (the block that starts with `max_steps = 10000`) is valid as
/// written, its `[kernels]` section included.
#[test]
fn the_readme_trainer_config_parses() {
    let readme = include_str!("../../../README.md");
    let block = readme
        .split("```toml\n")
        .find(|b| b.starts_with("max_steps = 10000"))
        .and_then(|b| b.split("```").next())
        .expect("the README's trainer config block");
    let config = TrainerConfig::from_toml_str(block).unwrap();
    assert_eq!(config.kernels.winograd, Some(false));
    assert_eq!(config.max_steps, Some(10000));
}

/// `[trainer.kernels]` sets the run's kernel options over the process's, field by field; the
/// resolved config keeps what it set (and nothing when it sets nothing); a misspelt choice is
/// refused by name.
#[test]
fn kernel_choices_set_the_runs_kernel_options() {
    use mine_runtime::kernels::{KernelChoices, KernelOptions, options};
    let text = "max_steps = 5\nrun_dir = \"runs/x\"\n\n[kernels]\nwinograd = false\nwinograd_wide = true\n";
    let config = TrainerConfig::from_toml_str(text).unwrap();
    let expected = KernelOptions {
        winograd: false,
        winograd_wide: true,
        ..options()
    };
    assert_eq!(config.kernel_options(), expected);
    let resolved = config.to_toml_string();
    assert!(resolved.contains("[kernels]"), "{resolved}");
    assert_eq!(TrainerConfig::from_toml_str(&resolved).unwrap(), config);
    let plain = TrainerConfig::from_toml_str("max_steps = 5").unwrap();
    assert_eq!(plain.kernels, KernelChoices::default());
    assert_eq!(plain.kernel_options(), options());
    assert!(!plain.to_toml_string().contains("kernels"));
    let err = TrainerConfig::from_toml_str("[kernels]\nwinogard = false")
        .unwrap_err()
        .to_string();
    assert!(err.contains("winogard"), "{err}");
}

#[test]
fn bf16_winograd_defaults_on_and_sets_the_runs_kernel_options() {
    let on = TrainerConfig::from_toml_str("max_steps = 5").unwrap();
    assert!(on.bf16_winograd && on.kernel_options().bf16_winograd);
    let off = TrainerConfig::from_toml_str("max_steps = 5\nbf16_winograd = false").unwrap();
    assert!(!off.kernel_options().bf16_winograd);
    assert!(off.to_toml_string().contains("bf16_winograd = false"));
    // The other options stay the process's.
    let others = mine_runtime::kernels::KernelOptions {
        bf16_winograd: false,
        ..mine_runtime::kernels::options()
    };
    assert_eq!(off.kernel_options(), others);
}

#[test]
fn backends_not_compiled_in_name_the_feature() {
    for backend in [Backend::Cuda, Backend::Wgpu] {
        if backend.is_compiled() {
            continue;
        }
        let message = rejected(&format!("max_steps = 5\nbackend = \"{backend}\""));
        assert!(
            message.contains(&format!("`backend` = \"{backend}\" is not compiled"))
                && message.contains(&format!("--features {backend}"))
                && message.contains("`backend = \"flex\"`"),
            "{message}"
        );
        assert_eq!(backend.device_count(), None);
    }
    assert!(Backend::Flex.device(0, Precision::F32).is_ok());
}

#[test]
fn the_cpu_backend_has_one_device_and_ignores_device_index() {
    assert_eq!(Backend::Flex.device_count(), Some(1));
    let config = TrainerConfig::from_toml_str("max_steps = 5\ndevice_index = 3").unwrap();
    assert_eq!(config.rank_layout().unwrap().devices, [3]);
    assert_eq!(config.device().unwrap(), Device::flex());
}

#[test]
fn the_trainer_validates_at_startup() {
    let device = Device::flex();
    let dir = run_dir("invalid");
    let mut config = config(&dir, 5, 1e-3);
    config.optimizer.warmup_steps = 0;
    let experiment = Experiment::new(TinyRnn::new(&device)).objective(BehaviorClone::default());
    let err = Trainer::new(config, experiment).err().unwrap();
    assert!(matches!(err, TrainError::Config(_)), "{err}");
    assert!(err.to_string().contains("warmup_steps"), "{err}");
    assert!(
        !dir.exists(),
        "nothing is written before the config is valid"
    );
}

#[test]
fn the_resolved_config_round_trips_through_toml() {
    let config = TrainerConfig::from_toml_str("max_epochs = 3\n[ema]\ndecay = 0.99").unwrap();
    let again = TrainerConfig::from_toml_str(&config.to_toml_string()).unwrap();
    assert_eq!(config, again);
}

#[test]
fn an_empty_training_source_is_an_error_not_a_hang() {
    let device = Device::flex();
    let dir = run_dir("empty");
    let experiment = Experiment::new(TinyRnn::new(&device)).objective(BehaviorClone::default());
    let mut trainer = Trainer::new(config(&dir, 5, 1e-3), experiment).unwrap();
    let err = trainer.fit(&mut InMemory(vec![]), None).unwrap_err();
    assert!(matches!(err, TrainError::EmptyEpoch { epoch: 0 }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
