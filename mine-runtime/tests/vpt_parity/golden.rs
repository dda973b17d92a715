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

/// A VPT memory as the blocks the shared comparisons take.
pub(super) fn blocks(memory: &VptMemory) -> Vec<BlockRef<'_>> {
    memory
        .blocks
        .iter()
        .map(|b| (&b.mask, &b.keys, &b.values))
        .collect()
}
