//! The VPT golden (`golden/tiny_vpt_*`) as a policy and batches.

use super::*;

pub(super) fn shared_dir() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

pub(super) fn golden() -> Value {
    let path = shared_dir().join("golden/tiny_vpt_train.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON parses")
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
