//! The golden values (`golden/tiny_vpt_*`) as tensors, policies, memories and batches.

use super::*;

pub(super) use super::common::shared_dir;

pub(super) fn golden() -> Value {
    super::common::golden("tiny_vpt_train.json")
}

/// Flattens a nested JSON array into its values and shape.
pub(super) fn flatten(value: &Value) -> (Vec<f64>, Vec<usize>) {
    pub(super) fn walk(v: &Value, depth: usize, out: &mut Vec<f64>, shape: &mut Vec<usize>) {
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

pub(super) fn float<const D: usize>(value: &Value, device: &Device) -> Tensor<D> {
    let (data, shape) = flatten(value);
    let data: Vec<f32> = data.into_iter().map(|x| x as f32).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

pub(super) fn int<const D: usize>(value: &Value, device: &Device) -> Tensor<D, Int> {
    let (data, shape) = flatten(value);
    let data: Vec<i64> = data.into_iter().map(|x| x as i64).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

pub(super) fn boolean<const D: usize>(value: &Value, device: &Device) -> Tensor<D, Bool> {
    let (data, shape) = flatten(value);
    let data: Vec<bool> = data.into_iter().map(|x| x != 0.0).collect();
    Tensor::from_data(TensorData::new(data, shape), device)
}

pub(super) fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    t.into_data().try_into_vec_as::<f64>().expect("float data")
}

/// Relative error of a tensor: `max_i |got_i - want_i| / max_i |want_i|` (plain relative
/// error for a scalar). The golden values are float32 results, so `want` is taken at float32
/// precision.
pub(super) fn rel_err(got: &[f64], want: &[f64]) -> f64 {
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

pub(super) fn load_policy(device: &Device) -> VptPolicy {
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

pub(super) fn memory_from_golden(list: &Value, device: &Device) -> VptMemory {
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

/// The recorded inputs of one step (frames, agent actions, mask) as a batch.
pub(super) fn batch(inputs: &Value, device: &Device) -> Batch {
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

/// MineLightning's `_make_memory` rule: a row is reset to the initial state when its first
/// timestamp does not continue the previous batch's last one (which starts at 0).
pub(super) fn episode_resets(golden: &Value) -> Vec<Vec<bool>> {
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
