//! The VPT action head: log-probabilities and entropies against MineStudio
//! (golden/callbacks.json `intermediate`), gradients, and sampling.

use std::path::PathBuf;

use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::action::{
    ActionError, AgentActionFrame, EnvActionFrame, Sampling, entropy, log_prob, sample,
};
use mine_dsl::batch::{AgentAction, EnvAction};
use mine_dsl::latent::PiLogits;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::Value;

fn golden(name: &str) -> Value {
    let dir = std::env::var("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")));
    let path = dir.join("golden").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; set MINE_SHARED_DIR to the shared/ directory",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("golden file is valid JSON")
}

/// Flattens nested JSON arrays of numbers into f64 values.
fn flat(v: &Value, out: &mut Vec<f64>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| flat(i, out)),
        other => out.push(other.as_f64().expect("number")),
    }
}

fn flat_of(v: &Value) -> Vec<f64> {
    let mut out = Vec::new();
    flat(v, &mut out);
    out
}

fn floats<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

fn ints<const D: usize>(t: Tensor<D, Int>) -> Vec<i64> {
    t.into_data().iter::<i64>().collect()
}

/// `pi_logits = log_softmax(float32(raw))` as MineStudio's head computes it.
fn golden_pi(g: &Value, device: &Device) -> PiLogits {
    let head = |key: &str, n: usize| {
        let raw: Vec<f32> = flat_of(&g["inputs"][key])
            .iter()
            .map(|&x| x as f32)
            .collect();
        let raw = Tensor::<4>::from_data(TensorData::new(raw, [2, 4, 1, n]), device);
        log_softmax(raw, 3)
    };
    PiLogits {
        buttons: head("raw_logits_buttons", 8641),
        camera: head("raw_logits_camera", 121),
    }
}

fn golden_frames(g: &Value) -> Vec<Vec<AgentActionFrame>> {
    let b = flat_of(&g["inputs"]["agent_action_buttons"]);
    let c = flat_of(&g["inputs"]["agent_action_camera"]);
    (0..2)
        .map(|row| {
            (0..4)
                .map(|t| AgentActionFrame {
                    buttons: b[row * 4 + t] as u32,
                    camera: c[row * 4 + t] as u32,
                })
                .collect()
        })
        .collect()
}

fn assert_rel_close(got: &[f32], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}: length");
    let mut worst = 0.0f64;
    for (i, (&g, &e)) in got.iter().zip(expected).enumerate() {
        let err = (f64::from(g) - e).abs() / e.abs().max(1e-12);
        assert!(
            err <= 1e-5,
            "{what}[{i}]: {g} vs {e} (relative error {err:e})"
        );
        worst = worst.max(err);
    }
    eprintln!("{what}: max relative error {worst:e}");
}

#[test]
fn log_prob_and_entropy_match_minestudio() {
    let g = golden("callbacks.json");
    let device = Device::flex();
    let pi = golden_pi(&g, &device);
    let action = AgentAction::from_frames(&golden_frames(&g), &device).unwrap();
    assert_eq!(action.buttons.dims(), [2, 4, 1]);

    let lp = log_prob(&pi, &action);
    assert_eq!(lp.buttons.dims(), [2, 4]);
    let inter = &g["intermediate"];
    assert_rel_close(
        &floats(lp.buttons),
        &flat_of(&inter["logprob_buttons_BT"]),
        "logp buttons",
    );
    assert_rel_close(
        &floats(lp.camera),
        &flat_of(&inter["logprob_camera_BT"]),
        "logp camera",
    );

    let ent = entropy(&pi);
    assert_eq!(ent.camera.dims(), [2, 4]);
    assert_rel_close(
        &floats(ent.buttons),
        &flat_of(&inter["entropy_buttons_BT"]),
        "entropy buttons",
    );
    assert_rel_close(
        &floats(ent.camera),
        &flat_of(&inter["entropy_camera_BT"]),
        "entropy camera",
    );
}

#[test]
fn log_prob_and_entropy_are_differentiable() {
    let device = Device::flex().autodiff();
    let p = [0.1f32, 0.2, 0.3, 0.4];
    let logp: Vec<f32> = p.iter().map(|x| x.ln()).collect();
    let leaf = |n: usize| {
        let data: Vec<f32> = logp.iter().copied().cycle().take(4 * n).collect();
        Tensor::<4>::from_data(TensorData::new(data, [1, n, 1, 4]), &device).require_grad()
    };
    let (buttons, camera) = (leaf(2), leaf(1));
    let pi = PiLogits {
        buttons: buttons.clone(),
        camera: camera.clone(),
    };
    let frames = vec![vec![
        AgentActionFrame {
            buttons: 3,
            camera: 1,
        },
        AgentActionFrame {
            buttons: 0,
            camera: 1,
        },
    ]];
    let mut action = AgentAction::from_frames(&frames, &device).unwrap();
    action.camera = action.camera.slice([0..1, 0..1, 0..1]);

    // d(sum logp[chosen]) / d logp = one-hot of the chosen class.
    let lp = log_prob(&pi, &action);
    let grads = (lp.buttons.sum() + lp.camera.sum()).backward();
    let gb = floats(buttons.grad(&grads).expect("button gradient"));
    assert_eq!(gb, [0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0]);
    let gc = floats(camera.grad(&grads).expect("camera gradient"));
    assert_eq!(gc, [0.0, 1.0, 0.0, 0.0]);

    // d(-sum exp(l) l) / dl = -exp(l) (l + 1).
    let ent = entropy(&pi);
    let grads = ent.camera.sum().backward();
    let gc = floats(camera.grad(&grads).expect("entropy gradient"));
    for (k, (&g, &l)) in gc.iter().zip(&logp).enumerate() {
        let expected = -l.exp() * (l + 1.0);
        assert!((g - expected).abs() < 1e-6, "class {k}: {g} vs {expected}");
    }

    // Sampling works on tracked tensors too (and records no gradient).
    let mut rng = StdRng::seed_from_u64(1);
    let drawn = sample(&pi, Sampling::Stochastic { temperature: 1.0 }, &mut rng).unwrap();
    assert_eq!(drawn.buttons.dims(), [1, 2, 1]);
    assert_eq!(drawn.camera.dims(), [1, 1, 1]);
}

#[test]
fn deterministic_sampling_is_argmax() {
    let g = golden("callbacks.json");
    let device = Device::flex();
    let pi = golden_pi(&g, &device);
    let argmax_host = |key: &str, n: usize| -> Vec<i64> {
        let raw = flat_of(&g["inputs"][key]);
        raw.chunks(n)
            .map(|row| {
                let best = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                row.iter().position(|&x| x == best).unwrap() as i64
            })
            .collect()
    };
    let mut rng = StdRng::seed_from_u64(0);
    let action = sample(&pi, Sampling::Deterministic, &mut rng).unwrap();
    assert_eq!(action.buttons.dims(), [2, 4, 1]);
    assert_eq!(
        ints(action.buttons),
        argmax_host("raw_logits_buttons", 8641)
    );
    assert_eq!(ints(action.camera), argmax_host("raw_logits_camera", 121));
}

/// `n` frames of the same distribution `p` over `p.len()` classes, as a `[1, n, 1, K]` head.
fn repeated(p: &[f64], n: usize, device: &Device) -> Tensor<4> {
    let logp: Vec<f32> = p
        .iter()
        .map(|x| x.ln() as f32)
        .cycle()
        .take(p.len() * n)
        .collect();
    Tensor::from_data(TensorData::new(logp, [1, n, 1, p.len()]), device)
}

fn frequencies(classes: Vec<i64>, k: usize) -> Vec<f64> {
    let mut counts = vec![0usize; k];
    for c in &classes {
        counts[*c as usize] += 1;
    }
    counts
        .iter()
        .map(|&c| c as f64 / classes.len() as f64)
        .collect()
}

/// `softmax(log p / temperature)`.
fn tempered(p: &[f64], temperature: f64) -> Vec<f64> {
    let w: Vec<f64> = p.iter().map(|x| x.powf(1.0 / temperature)).collect();
    let z: f64 = w.iter().sum();
    w.iter().map(|x| x / z).collect()
}

#[test]
fn stochastic_sampling_matches_probabilities() {
    const N: usize = 40_000;
    let device = Device::flex();
    let pb = [0.1, 0.2, 0.3, 0.4];
    let pc = [0.6, 0.3, 0.1];
    let pi = PiLogits {
        buttons: repeated(&pb, N, &device),
        camera: repeated(&pc, N, &device),
    };
    let mut rng = StdRng::seed_from_u64(42);
    for temperature in [1.0, 0.5, 2.0] {
        let action = sample(&pi, Sampling::Stochastic { temperature }, &mut rng).unwrap();
        assert_eq!(action.buttons.dims(), [1, N, 1]);
        for (got, p) in [
            (
                frequencies(ints(action.buttons), 4),
                tempered(&pb, temperature),
            ),
            (
                frequencies(ints(action.camera), 3),
                tempered(&pc, temperature),
            ),
        ] {
            for (k, (&f, &q)) in got.iter().zip(&p).enumerate() {
                let sigma = (q * (1.0 - q) / N as f64).sqrt();
                assert!(
                    (f - q).abs() < 5.0 * sigma,
                    "temperature {temperature}, class {k}: frequency {f} vs probability {q}"
                );
            }
        }
    }
}

#[test]
fn stochastic_sampling_is_reproducible() {
    let device = Device::flex();
    let g = golden("callbacks.json");
    let pi = golden_pi(&g, &device);
    let draw = |seed: u64| {
        let mut rng = StdRng::seed_from_u64(seed);
        let sampling = Sampling::Stochastic { temperature: 1.0 };
        let a = sample(&pi, sampling, &mut rng).unwrap();
        let b = sample(&pi, sampling, &mut rng).unwrap();
        [
            ints(a.buttons),
            ints(a.camera),
            ints(b.buttons),
            ints(b.camera),
        ]
    };
    assert_eq!(draw(7), draw(7));
    // Different seeds (and successive draws) give different samples of these flat heads.
    assert_ne!(draw(7), draw(8));
    let d = draw(7);
    assert_ne!(d[0], d[2]);
    // Deterministic sampling leaves the rng untouched.
    let mut rng = StdRng::seed_from_u64(7);
    sample(&pi, Sampling::Deterministic, &mut rng).unwrap();
    let after = sample(&pi, Sampling::Stochastic { temperature: 1.0 }, &mut rng).unwrap();
    assert_eq!(ints(after.buttons), d[0]);
}

#[test]
fn invalid_temperatures_are_errors() {
    let device = Device::flex();
    let pi = PiLogits {
        buttons: repeated(&[0.5, 0.5], 1, &device),
        camera: repeated(&[1.0], 1, &device),
    };
    let mut rng = StdRng::seed_from_u64(0);
    for temperature in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = sample(&pi, Sampling::Stochastic { temperature }, &mut rng).unwrap_err();
        assert!(matches!(err, ActionError::InvalidTemperature(_)), "{err}");
    }
}

#[test]
fn frames_round_trip_through_tensors() {
    let device = Device::flex();
    let agent = vec![
        vec![
            AgentActionFrame {
                buttons: 0,
                camera: 60,
            },
            AgentActionFrame {
                buttons: 8640,
                camera: 0,
            },
            AgentActionFrame {
                buttons: 17,
                camera: 120,
            },
        ],
        vec![
            AgentActionFrame {
                buttons: 1,
                camera: 61,
            },
            AgentActionFrame {
                buttons: 2,
                camera: 5,
            },
            AgentActionFrame {
                buttons: 3,
                camera: 7,
            },
        ],
    ];
    let tensors = AgentAction::from_frames(&agent, &device).unwrap();
    assert_eq!(tensors.camera.dims(), [2, 3, 1]);
    assert_eq!(ints(tensors.buttons.clone()), [0, 8640, 17, 1, 2, 3]);
    assert_eq!(tensors.to_frames().unwrap(), agent);

    let mut a = EnvActionFrame {
        camera: [1.5, -3.25],
        ..Default::default()
    };
    a.buttons[0] = true;
    a.buttons[19] = true;
    let b = EnvActionFrame {
        camera: [0.0, 10.0],
        ..Default::default()
    };
    let env = vec![vec![a, b], vec![b, a]];
    let tensors = EnvAction::from_frames(&env, &device).unwrap();
    assert_eq!(tensors.camera.dims(), [2, 2, 2]);
    assert_eq!(tensors.buttons.dims(), [2, 2, 20]);
    assert_eq!(
        floats(tensors.camera.clone()),
        [1.5, -3.25, 0.0, 10.0, 0.0, 10.0, 1.5, -3.25]
    );
    assert_eq!(tensors.to_frames().unwrap(), env);
}

#[test]
fn bad_frames_and_tensors_are_errors() {
    let device = Device::flex();
    let f = AgentActionFrame {
        buttons: 0,
        camera: 60,
    };
    let err = AgentAction::from_frames(&[vec![f, f], vec![f]], &device).unwrap_err();
    assert_eq!(
        err,
        ActionError::RaggedFrames {
            row: 1,
            len: 1,
            expected: 2
        }
    );
    assert!(err.to_string().contains("pad every row"), "{err}");
    assert!(AgentAction::from_frames(&[], &device).is_err());
    assert!(EnvAction::from_frames(&[vec![]], &device).is_err());

    let negative = AgentAction {
        buttons: Tensor::from_data(TensorData::new(vec![-1i64], [1, 1, 1]), &device),
        camera: Tensor::from_data(TensorData::new(vec![60i64], [1, 1, 1]), &device),
    };
    assert!(matches!(
        negative.to_frames(),
        Err(ActionError::NegativeClass { class: -1, .. })
    ));
    let wide = AgentAction {
        buttons: Tensor::zeros([1, 1, 2], &device),
        camera: Tensor::zeros([1, 1, 2], &device),
    };
    assert!(matches!(
        wide.to_frames(),
        Err(ActionError::BadShape { .. })
    ));
    let env = EnvAction {
        camera: Tensor::zeros([1, 2, 2], &device),
        buttons: Tensor::zeros([1, 2, 19], &device),
    };
    assert!(matches!(
        env.to_frames(),
        Err(ActionError::BadShape {
            field: "env_action.buttons",
            ..
        })
    ));
}
