//! Golden JSON values (nested arrays of numbers) as tensors, batches and episode resets.

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use mine_dsl::batch::{AgentAction, Batch};
use serde_json::Value;

/// Flattens a nested JSON array into its values and shape.
pub fn flatten(value: &Value) -> (Vec<f64>, Vec<usize>) {
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

/// A nested JSON array as a float tensor.
pub fn float<const D: usize>(value: &Value, device: &Device) -> Tensor<D> {
    let (data, shape) = flatten(value);
    let data: Vec<f32> = data.into_iter().map(|x| x as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A nested JSON array as an int tensor.
pub fn int<const D: usize>(value: &Value, device: &Device) -> Tensor<D, Int> {
    let (data, shape) = flatten(value);
    let data: Vec<i64> = data.into_iter().map(|x| x as i64).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A nested JSON array of 0/1 (or booleans) as a bool tensor.
pub fn boolean<const D: usize>(value: &Value, device: &Device) -> Tensor<D, Bool> {
    let (data, shape) = flatten(value);
    let data: Vec<bool> = data.into_iter().map(|x| x != 0.0).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

/// A float tensor's values.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float data")
}

/// Relative error of a tensor: `max_i |got_i - want_i| / max_i |want_i|` (plain relative
/// error for a scalar). The golden values are float32 results, so `want` is taken at float32
/// precision.
pub fn rel_err(got: &[f64], want: &[f64]) -> f64 {
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

/// The recorded inputs of one step (frames, agent actions, the action mask under `mask_key`)
/// as a batch.
pub fn batch(inputs: &Value, mask_key: &str, device: &Device) -> Batch {
    Batch {
        image: Some(float(&inputs["image_uint8_BTHWC"], device)),
        agent_action: Some(AgentAction {
            buttons: int(&inputs["agent_action_buttons"], device),
            camera: int(&inputs["agent_action_camera"], device),
        }),
        mask: Some(float(&inputs[mask_key], device)),
        ..Batch::default()
    }
}

/// MineLightning's `_make_memory` rule: a row is reset to the initial state when its first
/// timestamp does not continue the previous batch's last one (which starts at 0).
pub fn episode_resets(golden: &Value) -> Vec<Vec<bool>> {
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

/// The golden run's optimizer: AdamW with its learning rate, weight decay, linear warmup and
/// gradient clipping (`hparams`), as MineLightning configures it.
pub fn golden_optimizer(golden: &Value) -> mine_runtime::optim::OptimStep {
    use mine_runtime::optim::{OptimStep, OptimizerConfig};
    let hparams = &golden["hparams"];
    let config = OptimizerConfig {
        learning_rate: hparams["learning_rate"].as_f64().unwrap(),
        weight_decay: hparams["weight_decay"].as_f64().unwrap(),
        warmup_steps: hparams["warmup_steps"].as_u64().unwrap() as usize,
        gradient_clip_val: Some(hparams["grad_clip_norm"].as_f64().unwrap()),
        ..OptimizerConfig::default()
    };
    OptimStep::new(config, None).expect("the golden optimizer settings are valid")
}
