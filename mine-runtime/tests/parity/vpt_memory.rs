//! VPT's TransformerXL memory (VPT's and ROCKET-1's) from and for the golden files.

use burn::tensor::Device;
use mine_runtime::policies::vpt::{BlockMemory, VptMemory};
use serde_json::Value;

use super::json::{boolean, float};
use super::report::BlockRef;

/// A recorded memory list (`[mask, keys, values]` per block) as a [`VptMemory`].
pub fn memory_from_golden(list: &Value, device: &Device) -> VptMemory {
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
pub fn blocks(memory: &VptMemory) -> Vec<BlockRef<'_>> {
    memory
        .blocks
        .iter()
        .map(|b| (&b.mask, &b.keys, &b.values))
        .collect()
}
