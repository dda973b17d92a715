//! Learning-rate schedule values and optimizer configuration parsing/validation.

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};
use mine_runtime::optim::{
    DecayConfig, DecayKind, LrSchedule, OptimConfigError, OptimStep, OptimizerConfig,
};

fn config(warmup_steps: usize, decay: Option<DecayConfig>) -> OptimizerConfig {
    OptimizerConfig {
        learning_rate: 1.0,
        warmup_steps,
        decay,
        ..OptimizerConfig::default()
    }
}

fn assert_lr(schedule: &LrSchedule, step: usize, expected: f64) {
    let lr = schedule.lr_at(step);
    assert!(
        (lr - expected).abs() <= 1e-12,
        "lr at step {step}: {lr} != {expected}"
    );
}

#[test]
fn warmup_is_linear_then_constant() {
    let schedule = LrSchedule::new(&config(4, None), None).unwrap();
    for (step, lr) in [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 1.0]
        .into_iter()
        .enumerate()
    {
        assert_lr(&schedule, step, lr);
    }
    assert_lr(&schedule, 1_000_000, 1.0);
    // Golden run: base 1e-2, warmup 5 -> 0.002, 0.004, ..., 0.01 (LambdaLR in double).
    let golden = LrSchedule::new(
        &OptimizerConfig {
            learning_rate: 1e-2,
            warmup_steps: 5,
            ..OptimizerConfig::default()
        },
        None,
    )
    .unwrap();
    let lrs: Vec<f64> = (0..6).map(|s| golden.lr_at(s)).collect();
    assert_eq!(lrs, [0.002, 0.004, 0.006, 0.008, 0.01, 0.01]);
}

#[test]
fn warmup_of_one_means_no_warmup() {
    let schedule = LrSchedule::new(&config(1, None), None).unwrap();
    assert_lr(&schedule, 0, 1.0);
}

fn decay(kind: DecayKind, decay_steps: Option<usize>) -> Option<DecayConfig> {
    Some(DecayConfig {
        kind,
        min_lr: 0.1,
        decay_steps,
    })
}

#[test]
fn cosine_decay_after_warmup_reaches_the_floor() {
    let schedule = LrSchedule::new(&config(2, decay(DecayKind::Cosine, Some(4))), None).unwrap();
    assert_lr(&schedule, 0, 0.5);
    assert_lr(&schedule, 1, 1.0);
    let cosine = |p: f64| 0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
    assert_lr(&schedule, 2, cosine(0.25));
    assert_lr(&schedule, 3, cosine(0.5));
    assert_lr(&schedule, 3, 0.55);
    assert_lr(&schedule, 4, cosine(0.75));
    assert_lr(&schedule, 5, 0.1);
    assert_lr(&schedule, 50, 0.1);
}

#[test]
fn linear_decay_after_warmup_reaches_the_floor() {
    let schedule = LrSchedule::new(&config(2, decay(DecayKind::Linear, Some(4))), None).unwrap();
    for (step, lr) in [0.5, 1.0, 0.775, 0.55, 0.325, 0.1, 0.1]
        .into_iter()
        .enumerate()
    {
        assert_lr(&schedule, step, lr);
    }
}

#[test]
fn decay_length_defaults_to_the_rest_of_the_run() {
    let schedule = LrSchedule::new(&config(2, decay(DecayKind::Linear, None)), Some(10)).unwrap();
    assert_lr(&schedule, 1, 1.0);
    assert_lr(&schedule, 5, 1.0 - 0.9 * 0.5);
    assert_lr(&schedule, 9, 0.1); // the last step of a 10-step run is at the floor
    assert_eq!(
        LrSchedule::new(&config(2, decay(DecayKind::Cosine, None)), None),
        Err(OptimConfigError::MissingDecaySteps)
    );
    assert_eq!(
        LrSchedule::new(&config(10, decay(DecayKind::Cosine, None)), Some(10)),
        Err(OptimConfigError::NoStepsForDecay {
            total_steps: 10,
            warmup_steps: 10
        })
    );
}

#[test]
fn schedule_counts_optimizer_steps_and_round_trips_its_record() {
    let mut schedule = LrSchedule::new(&config(4, None), None).unwrap();
    assert_eq!(schedule.lr(), 0.25);
    // Burn's interface: `step` returns the coming step's rate, then advances.
    assert_eq!(LrScheduler::step(&mut schedule), 0.25);
    assert_eq!(LrScheduler::step(&mut schedule), 0.5);
    assert_eq!(schedule.steps_done(), 2);
    assert_eq!(schedule.lr(), 0.75);

    let bytes = schedule.record().into_bytes().unwrap();
    let mut resumed = LrSchedule::new(&config(4, None), None).unwrap();
    resumed.load_record(LrSchedulerRecord::from_bytes(bytes).unwrap());
    assert_eq!(resumed, schedule);
    assert_eq!(LrSchedule::steps_in_record(&LrSchedulerRecord::new()), None);
}

#[test]
fn defaults_are_minestudio_defaults() {
    let config = OptimizerConfig::default();
    assert_eq!(config.learning_rate, 1e-5);
    assert_eq!(config.weight_decay, 0.01);
    assert_eq!(config.betas, (0.9, 0.999));
    assert_eq!(config.eps, 1e-8);
    assert_eq!(config.warmup_steps, 1000);
    assert_eq!(config.decay, None);
    assert_eq!(config.gradient_clip_val, None);
    assert_eq!(config.accumulate_grad_batches, 1);
    config.validate().unwrap();
}

#[test]
fn toml_fills_defaults_and_rejects_unknown_fields() {
    let config: OptimizerConfig = toml::from_str(
        r#"
        learning_rate = 4e-5
        warmup_steps = 2000
        gradient_clip_val = 1.0
        accumulate_grad_batches = 4
        [decay]
        kind = "cosine"
        min_lr = 1e-6
        "#,
    )
    .unwrap();
    assert_eq!(config.learning_rate, 4e-5);
    assert_eq!(config.weight_decay, 0.01);
    assert_eq!(config.gradient_clip_val, Some(1.0));
    assert_eq!(config.accumulate_grad_batches, 4);
    let decay = config.decay.as_ref().unwrap();
    assert_eq!(
        (decay.kind, decay.min_lr, decay.decay_steps),
        (DecayKind::Cosine, 1e-6, None)
    );
    config.validate().unwrap();

    let err = toml::from_str::<OptimizerConfig>("learnig_rate = 1e-4").unwrap_err();
    assert!(err.to_string().contains("learnig_rate"), "{err}");
    let err = toml::from_str::<OptimizerConfig>("[decay]\nkind = \"step\"").unwrap_err();
    assert!(err.to_string().contains("step"), "{err}");
}

fn rejected_field(config: OptimizerConfig) -> &'static str {
    let err = config.validate().unwrap_err();
    let OptimConfigError::InvalidField { field, .. } = &err else {
        panic!("expected an invalid field, got {err}");
    };
    assert!(err.to_string().contains(&format!("`{field}`")), "{err}");
    assert_eq!(OptimStep::new(config, None).unwrap_err(), err);
    field
}

#[test]
fn validation_names_the_bad_field() {
    let ok = OptimizerConfig::default;
    let cases: Vec<(OptimizerConfig, &str)> = vec![
        (
            OptimizerConfig {
                learning_rate: -1e-4,
                ..ok()
            },
            "learning_rate",
        ),
        (
            OptimizerConfig {
                learning_rate: 0.0,
                ..ok()
            },
            "learning_rate",
        ),
        (
            OptimizerConfig {
                learning_rate: f64::NAN,
                ..ok()
            },
            "learning_rate",
        ),
        (
            OptimizerConfig {
                weight_decay: -0.1,
                ..ok()
            },
            "weight_decay",
        ),
        (
            OptimizerConfig {
                weight_decay: f64::INFINITY,
                ..ok()
            },
            "weight_decay",
        ),
        (
            OptimizerConfig {
                betas: (1.0, 0.999),
                ..ok()
            },
            "betas.0",
        ),
        (
            OptimizerConfig {
                betas: (0.9, -0.5),
                ..ok()
            },
            "betas.1",
        ),
        (
            OptimizerConfig {
                betas: (0.9, f64::NAN),
                ..ok()
            },
            "betas.1",
        ),
        (OptimizerConfig { eps: 0.0, ..ok() }, "eps"),
        (OptimizerConfig { eps: -1e-8, ..ok() }, "eps"),
        (
            OptimizerConfig {
                warmup_steps: 0,
                ..ok()
            },
            "warmup_steps",
        ),
        (
            OptimizerConfig {
                gradient_clip_val: Some(0.0),
                ..ok()
            },
            "gradient_clip_val",
        ),
        (
            OptimizerConfig {
                gradient_clip_val: Some(f64::NAN),
                ..ok()
            },
            "gradient_clip_val",
        ),
        (
            OptimizerConfig {
                accumulate_grad_batches: 0,
                ..ok()
            },
            "accumulate_grad_batches",
        ),
        (
            OptimizerConfig {
                decay: Some(DecayConfig {
                    kind: DecayKind::Linear,
                    min_lr: 1.0,
                    decay_steps: None,
                }),
                ..ok()
            },
            "decay.min_lr",
        ),
        (
            OptimizerConfig {
                decay: Some(DecayConfig {
                    kind: DecayKind::Linear,
                    min_lr: -1e-7,
                    decay_steps: None,
                }),
                ..ok()
            },
            "decay.min_lr",
        ),
        (
            OptimizerConfig {
                decay: Some(DecayConfig {
                    kind: DecayKind::Cosine,
                    min_lr: 0.0,
                    decay_steps: Some(0),
                }),
                ..ok()
            },
            "decay.decay_steps",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(rejected_field(config), field);
    }
    // Edge values that are valid.
    OptimizerConfig {
        betas: (0.0, 0.0),
        weight_decay: 0.0,
        ..ok()
    }
    .validate()
    .unwrap();
}
