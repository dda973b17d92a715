//! Parity of the VPT network (and, for the training steps, the optimizer) with MineStudio
//! 1.1.6 on the tiny golden policy
//! (`golden/tiny_vpt_weights.safetensors` + `golden/tiny_vpt_train.json`).

use std::path::PathBuf;

use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;

use burn::optim::GradientsParams;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, bridge};
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use mine_runtime::optim::{OptimStep, OptimizerConfig};
use mine_runtime::policies::vpt::{
    BlockMemory, TorchParameter, VptConfig, VptMemory, VptOutput, VptPolicy, torch_parameters,
};
use serde_json::Value;

fn shared_dir() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn golden() -> Value {
    let path = shared_dir().join("golden/tiny_vpt_train.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON parses")
}

/// Flattens a nested JSON array into its values and shape.
fn flatten(value: &Value) -> (Vec<f64>, Vec<usize>) {
    fn walk(v: &Value, depth: usize, out: &mut Vec<f64>, shape: &mut Vec<usize>) {
        match v {
            Value::Array(items) => {
                if shape.len() == depth {
                    shape.push(items.len());
                }
                for item in items {
                    walk(item, depth + 1, out, shape);
                }
            }
            Value::Bool(b) => out.push(if *b { 1.0 } else { 0.0 }),
            other => out.push(other.as_f64().expect("numeric leaf")),
        }
    }
    let (mut out, mut shape) = (Vec::new(), Vec::new());
    walk(value, 0, &mut out, &mut shape);
    (out, shape)
}

fn float<const D: usize>(value: &Value, device: &Device) -> Tensor<D> {
    let (data, shape) = flatten(value);
    let data: Vec<f32> = data.into_iter().map(|x| x as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn int<const D: usize>(value: &Value, device: &Device) -> Tensor<D, Int> {
    let (data, shape) = flatten(value);
    let data: Vec<i64> = data.into_iter().map(|x| x as i64).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn boolean<const D: usize>(value: &Value, device: &Device) -> Tensor<D, Bool> {
    let (data, shape) = flatten(value);
    let data: Vec<bool> = data.into_iter().map(|x| x != 0.0).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float data")
}

/// Relative error of a tensor: `max_i |got_i - want_i| / max_i |want_i|` (plain relative
/// error for a scalar). The golden values are float32 results, so `want` is taken at float32
/// precision.
fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let want: Vec<f64> = want.iter().map(|w| *w as f32 as f64).collect();
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs())).max(1e-30);
    let diff = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    diff / scale
}

/// Records the worst relative error seen per check and asserts it stays within `tol`.
struct Report {
    tol: f64,
    rows: Vec<(String, f64)>,
}

impl Report {
    fn new(tol: f64) -> Self {
        Self {
            tol,
            rows: Vec::new(),
        }
    }

    fn check(&mut self, name: &str, got: &[f64], want: &[f64]) {
        let err = rel_err(got, want);
        self.rows.push((name.to_string(), err));
    }

    fn finish(self, title: &str) {
        println!("{title}:");
        for (name, err) in &self.rows {
            println!("  {name:<68} rel err {err:.3e}");
        }
        let bad: Vec<_> = self
            .rows
            .iter()
            .filter(|(_, e)| e.is_nan() || *e > self.tol)
            .collect();
        assert!(bad.is_empty(), "{title}: beyond {:e}: {bad:?}", self.tol);
    }
}

fn load_policy(device: &Device) -> VptPolicy {
    let config: VptConfig =
        serde_json::from_value(golden()["policy_kwargs"].clone()).expect("policy_kwargs parse");
    assert_eq!(
        config,
        VptConfig::tiny(),
        "golden policy_kwargs are the tiny preset"
    );
    VptPolicy::new(&config, device)
        .expect("tiny config is valid")
        .load_weights(shared_dir().join("golden/tiny_vpt_weights.safetensors"))
        .expect("golden weights load")
}

fn memory_from_golden(list: &Value, device: &Device) -> VptMemory {
    let list = list.as_array().expect("memory list");
    let blocks = list
        .chunks(3)
        .map(|c| BlockMemory {
            mask: boolean(&c[0]["values"], device),
            keys: float(&c[1]["values"], device),
            values: float(&c[2]["values"], device),
        })
        .collect();
    VptMemory { blocks }
}

fn compare_memory(report: &mut Report, step: usize, tag: &str, got: &VptMemory, want: &Value) {
    let want = want.as_array().expect("memory list");
    assert_eq!(want.len(), 3 * got.blocks.len());
    for (i, block) in got.blocks.iter().enumerate() {
        let (mask_want, _) = flatten(&want[3 * i]["values"]);
        let mask_got: Vec<f64> = block
            .mask
            .clone()
            .into_data()
            .try_into_vec_as::<bool>()
            .expect("bool data")
            .into_iter()
            .map(|b| if b { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(mask_got, mask_want, "step {step} {tag} block {i} mask");
        for (j, (name, t)) in [("keys", &block.keys), ("values", &block.values)]
            .into_iter()
            .enumerate()
        {
            let (w, _) = flatten(&want[3 * i + 1 + j]["values"]);
            report.check(
                &format!("step {step} {tag} block {i} {name}"),
                &values(t.clone()),
                &w,
            );
        }
    }
}

fn compare_outputs(
    report: &mut Report,
    step: &Value,
    inputs: &Value,
    out: &VptOutput,
    device: &Device,
) {
    let s = step["step"].as_u64().unwrap();
    let (vpred, _) = flatten(&step["vpred"]);
    report.check(
        &format!("step {s} vpred"),
        &values(out.vpred.clone()),
        &vpred,
    );
    let (cam, _) = flatten(&step["pi_logits_camera"]);
    report.check(
        &format!("step {s} pi_logits camera"),
        &values(out.pi_logits.camera.clone()),
        &cam,
    );
    let buttons = out.pi_logits.buttons.clone();
    let probe: Tensor<1, Int> = int(&step["pi_logits_buttons_probe_idx"], device);
    let (want, _) = flatten(&step["pi_logits_buttons_at_probe"]);
    report.check(
        &format!("step {s} buttons at probe idx"),
        &values(buttons.clone().select(3, probe)),
        &want,
    );
    let labels: Tensor<3, Int> = int(&inputs["agent_action_buttons"], device);
    let [b, t, _] = labels.dims();
    let (want, _) = flatten(&step["pi_logits_buttons_at_label"]);
    report.check(
        &format!("step {s} buttons at label"),
        &values(buttons.clone().gather(3, labels.reshape([b, t, 1, 1]))),
        &want,
    );
    let (want, _) = flatten(&step["pi_logits_buttons_max"]);
    report.check(
        &format!("step {s} buttons max"),
        &values(buttons.clone().max_dim(3)),
        &want,
    );
    let (want, _) = flatten(&step["pi_logits_buttons_argmax"]);
    let got: Vec<f64> = buttons
        .argmax(3)
        .into_data()
        .try_into_vec_as::<i64>()
        .unwrap()
        .into_iter()
        .map(|x| x as f64)
        .collect();
    assert_eq!(got, want, "step {s} buttons argmax");
}

/// The recorded inputs of one step (frames, agent actions, mask) as a batch.
fn batch(inputs: &Value, device: &Device) -> Batch {
    Batch {
        image: Some(float(&inputs["image_uint8_BTHWC"], device)),
        agent_action: Some(AgentAction {
            buttons: int(&inputs["agent_action_buttons"], device),
            camera: int(&inputs["agent_action_camera"], device),
        }),
        mask: Some(float(&inputs["mask"], device)),
        ..Batch::default()
    }
}

/// Our `BehaviorClone` objective (MineStudio's `BehaviorCloneCallback`, weight 1) wired to VPT.
fn behavior_clone(policy: VptPolicy) -> (VptPolicy, Objectives<VptPolicy>) {
    Experiment::new(policy)
        .objective(BehaviorClone { weight: 1.0 })
        .into_parts()
}

/// Checks the losses MineStudio logged for a step; returns the total to differentiate.
fn check_losses(report: &mut Report, s: usize, losses: StepLosses, step: &Value) -> Tensor<1> {
    let metrics = losses.metric_values();
    for name in ["loss", "camera_loss", "button_loss", "entropy"] {
        let want = step[name].as_f64().unwrap();
        report.check(&format!("step {s} {name}"), &[metrics[name]], &[want]);
    }
    losses.total
}

fn compare_grad_norms(
    report: &mut Report,
    step: &Value,
    policy: &VptPolicy,
    grads: &GradientsParams,
) {
    let s = step["step"].as_u64().unwrap();
    // Per-parameter norms are recorded for step 0 only; the global norm for every step.
    let want = step["param_grad_norms_before_clip"].as_object();
    let mut total = 0.0;
    let mut seen = 0;
    for param in torch_parameters(policy) {
        let got = grad_norm(grads, &param);
        total += got.map_or(0.0, |g| g * g);
        let Some(want) = want else { continue };
        match (got, want.get(&param.name)) {
            (Some(got), Some(w)) => {
                seen += 1;
                report.check(
                    &format!("step {s} grad norm {}", param.name),
                    &[got],
                    &[w.as_f64().unwrap()],
                );
            }
            (None, None) => {}
            (got, w) => panic!("step {s} {}: gradient {got:?} but golden {w:?}", param.name),
        }
    }
    if let Some(want) = want {
        assert_eq!(seen, want.len(), "every golden gradient has a parameter");
    }
    report.check(
        &format!("step {s} global grad norm"),
        &[total.sqrt()],
        &[step["grad_global_norm_before_clip"].as_f64().unwrap()],
    );
}

/// Euclidean norm of the gradient of `param`, if it has one.
fn grad_norm(grads: &GradientsParams, param: &TorchParameter) -> Option<f64> {
    fn norm<const D: usize>(g: Option<Tensor<D>>) -> Option<f64> {
        g.map(|g| values(g).iter().map(|x| x * x).sum::<f64>().sqrt())
    }
    match param.shape.len() {
        0 | 1 => norm::<1>(grads.get(param.id)),
        2 => norm::<2>(grads.get(param.id)),
        3 => norm::<3>(grads.get(param.id)),
        4 => norm::<4>(grads.get(param.id)),
        n => panic!("unexpected rank {n} of {}", param.name),
    }
}

#[test]
fn config_from_policy_kwargs_and_weight_names() {
    let device = Device::flex();
    let policy = load_policy(&device);
    let names: Vec<String> = torch_parameters(&policy)
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names.len(), 102, "every state-dict key of the tiny VPT");
    assert!(names.contains(&"net.recurrent_layer.blocks.1.r.orc_block.b_nd".to_string()));
    assert!(names.contains(&"value_head.normalizer.debiasing_term".to_string()));
}

/// Step 0 of the golden run: one forward from the empty memory, the BC loss and its gradients.
#[test]
fn single_step_forward_and_gradients_match_minestudio() {
    let golden = golden();
    let device = Device::flex().autodiff();
    let (policy, objectives) = behavior_clone(load_policy(&device));
    let step = &golden["steps"][0];
    let inputs = &golden["inputs"][0];

    let memory = policy.initial_memory(2, &device);
    let mut forward = Report::new(1e-5);
    compare_memory(&mut forward, 0, "memory_in", &memory, &step["memory_in"]);
    let batch = batch(inputs, &device);
    let (out, memory) = policy.forward(&batch, memory).unwrap();
    compare_memory(&mut forward, 0, "memory_out", &memory, &step["memory_out"]);
    compare_outputs(&mut forward, step, inputs, &out, &device);

    let losses = objectives
        .evaluate(&out, &batch, &StepContext::train(0, 0))
        .unwrap();
    let loss = check_losses(&mut forward, 0, losses, step);
    forward.finish("single forward (step 0)");

    let grads = GradientsParams::from_grads(loss.backward(), &policy);
    let mut grads_report = Report::new(1e-4);
    compare_grad_norms(&mut grads_report, step, &policy, &grads);
    grads_report.finish("gradients (step 0)");
}

/// MineLightning's `_make_memory` rule: a row is reset to the initial state when its first
/// timestamp does not continue the previous batch's last one (which starts at 0).
fn episode_resets(golden: &Value) -> Vec<Vec<bool>> {
    let mut last = vec![0i64; golden["B"].as_u64().unwrap() as usize];
    golden["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|inputs| {
            let stamps = inputs["timestamp"].as_array().unwrap();
            stamps
                .iter()
                .zip(&mut last)
                .map(|(row, last)| {
                    let row = row.as_array().unwrap();
                    let first = row[0].as_i64().unwrap();
                    let reset = first != *last + 1;
                    *last = row[row.len() - 1].as_i64().unwrap();
                    reset
                })
                .collect()
        })
        .collect()
}

/// Golden step 2 starts a new episode in row 1: its memory_in is step 1's memory_out with that
/// row reset.
#[test]
fn memory_reset_matches_minestudio() {
    let golden = golden();
    let device = Device::flex();
    let resets = episode_resets(&golden);
    assert_eq!(
        resets,
        vec![vec![false, false], vec![false, false], vec![false, true]]
    );
    let previous = memory_from_golden(&golden["steps"][1]["memory_out"], &device);
    let initial = VptMemory::initial(&VptConfig::tiny(), 2, &device);
    let reset = previous.clone().reset_rows(&resets[2], &initial);
    let mut report = Report::new(0.0);
    compare_memory(
        &mut report,
        2,
        "memory_in",
        &reset,
        &golden["steps"][2]["memory_in"],
    );
    report.finish("memory reset");
}

/// The three golden training steps: memory carried (detached) between steps and reset for row 1
/// at its episode start, BC loss, backward, global-norm clipping to 1, PyTorch AdamW with
/// LambdaLR warmup; every step's memory, outputs, losses and gradient norms, then the
/// parameters after the third step.
#[test]
fn three_training_steps_match_minestudio() {
    let golden = golden();
    let device = Device::flex().autodiff();
    let (mut policy, objectives) = behavior_clone(load_policy(&device));
    let hparams = &golden["hparams"];
    let mut optim = OptimStep::new(
        OptimizerConfig {
            learning_rate: hparams["learning_rate"].as_f64().unwrap(),
            weight_decay: hparams["weight_decay"].as_f64().unwrap(),
            warmup_steps: hparams["warmup_steps"].as_u64().unwrap() as usize,
            gradient_clip_val: Some(hparams["grad_clip_norm"].as_f64().unwrap()),
            ..OptimizerConfig::default()
        },
        None,
    )
    .unwrap();
    let resets = episode_resets(&golden);
    let mut report = Report::new(1e-4);
    let mut memory = policy.initial_memory(2, &device);
    for (s, (step, inputs)) in golden["steps"]
        .as_array()
        .unwrap()
        .iter()
        .zip(golden["inputs"].as_array().unwrap())
        .enumerate()
    {
        memory = memory.reset_rows(&resets[s], &policy.initial_memory(2, &device));
        compare_memory(&mut report, s, "memory_in", &memory, &step["memory_in"]);
        let batch = batch(inputs, &device);
        let (out, next) = policy.forward(&batch, memory).unwrap();
        compare_memory(&mut report, s, "memory_out", &next, &step["memory_out"]);
        compare_outputs(&mut report, step, inputs, &out, &device);
        let ctx = StepContext::train(s, s as u64);
        let losses = objectives.evaluate(&out, &batch, &ctx).unwrap();
        let loss = check_losses(&mut report, s, losses, step);
        let grads = GradientsParams::from_grads(loss.backward(), &policy);
        compare_grad_norms(&mut report, step, &policy, &grads);
        let (updated, stepped) = optim.step_params(policy, grads);
        policy = updated;
        let stepped = stepped.expect("one batch per optimizer step");
        report.check(
            &format!("step {s} lr"),
            &[stepped.lr],
            &[step["lr"].as_f64().unwrap()],
        );
        report.check(
            &format!("step {s} grad norm before clip (optimizer)"),
            &[stepped.grad_norm_before_clip],
            &[step["grad_global_norm_before_clip"].as_f64().unwrap()],
        );
        memory = Memory::detach(next);
    }

    // Parameters after the third step, by sum and norm. A sum can be near zero, so its error is
    // taken relative to the largest sum the same norm allows (`sqrt(numel) * norm`).
    let want = golden["params_after_3_steps"].as_object().unwrap();
    let tensors = policy.collect(None, Some(Box::new(BurnToPyTorchAdapter)), false);
    assert_eq!(
        tensors.len(),
        want.len(),
        "every golden parameter is in the network"
    );
    for tensor in tensors {
        let w = want
            .get(&tensor.name)
            .unwrap_or_else(|| panic!("{} not in golden", tensor.name));
        let data = bridge::to_data(&tensor)
            .unwrap()
            .try_into_vec_as::<f64>()
            .unwrap();
        let sum: f64 = data.iter().sum();
        let norm = data.iter().map(|x| x * x).sum::<f64>().sqrt();
        let (want_sum, want_norm) = (w["sum"].as_f64().unwrap(), w["norm"].as_f64().unwrap());
        report.check(
            &format!("after 3 steps norm {}", tensor.name),
            &[norm],
            &[want_norm],
        );
        let scale = (data.len() as f64).sqrt() * want_norm;
        let sum_err = if scale > 0.0 {
            (sum - want_sum).abs() / scale
        } else {
            (sum - want_sum).abs()
        };
        report.rows.push((
            format!("after 3 steps sum {} (of sqrt(n)*norm)", tensor.name),
            sum_err,
        ));
    }
    report.finish("three training steps");
}
