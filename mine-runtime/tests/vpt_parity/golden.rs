//! The VPT golden run (`golden/tiny_vpt_*`): its policy and memories.

use super::*;

pub(super) use super::common::shared_dir;

pub(super) fn golden() -> Value {
    super::common::golden("tiny_vpt_train.json")
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
