//! The ROCKET-1 golden (`tests/golden/tiny_rocket_*`, written by MineStudio 1.1.6) as a
//! policy, batches and the state after three steps.

use super::*;

/// `mine-runtime/tests/golden`.
pub(super) fn golden_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
}

pub(super) fn golden() -> Value {
    let path = golden_dir().join("tiny_rocket_train.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON parses")
}

/// The golden's configuration: `policy_kwargs` and the backbone's multipliers.
pub(super) fn config(golden: &Value) -> RocketConfig {
    let mut kwargs = golden["policy_kwargs"].clone();
    let built = &golden["backbone"]["built_with"];
    kwargs["channel_multiplier"] = built["channel_multiplier"].clone();
    kwargs["depth_multiplier"] = built["depth_multiplier"].clone();
    // The reference ran with dropout off (deterministic), MineStudio's 0.1 otherwise.
    kwargs["pooling_dropout"] = 0.0.into();
    serde_json::from_value(kwargs).expect("policy_kwargs parse")
}

/// The tiny policy with the golden's initial weights.
pub(super) fn load_policy(device: &Device) -> RocketPolicy {
    let config = config(&golden());
    assert_eq!(
        config,
        RocketConfig::tiny(),
        "the golden is the tiny preset"
    );
    let path = golden_dir().join("tiny_rocket_weights.safetensors");
    let policy = RocketPolicy::new(&config, device).expect("tiny config is valid");
    let fit = StateDictFit::new(
        &policy,
        read_state_dict(&path).expect("golden weights read"),
    );
    assert!(
        fit.fits() && fit.unexpected.is_empty(),
        "golden weights: {}",
        fit.describe()
    );
    fit.apply(policy).expect("golden weights load")
}

/// The recorded inputs of one step as a batch: frames, object masks and interaction types,
/// agent actions, action mask.
pub(super) fn segmented_batch(inputs: &Value, device: &Device) -> Batch {
    Batch {
        segmentation: Some(Segmentation {
            obj_mask: float(&inputs["segmentation_obj_mask_uint8_BTHW"], device),
            obj_id: int(&inputs["segmentation_obj_id"], device),
        }),
        ..batch(inputs, "mask_uint8", device)
    }
}

/// The golden's state dict after the three steps (parameters and BatchNorm buffers), as
/// float32 values by PyTorch name.
pub(super) fn after_three_steps() -> BTreeMap<String, Vec<f64>> {
    let path = golden_dir().join("tiny_rocket_after3.safetensors");
    read_state_dict(&path)
        .expect("golden after-3 state reads")
        .into_iter()
        .map(|(name, tensor)| {
            let data = bridge::to_data(&tensor).expect("tensor data");
            (
                name,
                data.convert::<f64>().try_into_vec_as::<f64>().unwrap(),
            )
        })
        .collect()
}

/// Our state dict as PyTorch holds it, by name.
pub(super) fn state_dict(policy: &RocketPolicy) -> BTreeMap<String, Vec<f64>> {
    torch_state_dict(policy, &[])
        .into_iter()
        .map(|t| {
            let values = match t.dtype {
                ExportDtype::F32 => t
                    .bytes
                    .chunks(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
                ExportDtype::I64 => t
                    .bytes
                    .chunks(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f64)
                    .collect(),
            };
            (t.name, values)
        })
        .collect()
}
