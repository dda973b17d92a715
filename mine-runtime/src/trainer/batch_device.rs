//! Moving a batch's tensors to the device a step runs on, and counting its frames.

use burn::tensor::Device;
use mine_dsl::batch::{AgentAction, Batch, EnvAction, Segmentation};

fn agent(action: AgentAction, device: &Device) -> AgentAction {
    AgentAction {
        buttons: action.buttons.to_device(device),
        camera: action.camera.to_device(device),
    }
}

fn env(action: EnvAction, device: &Device) -> EnvAction {
    EnvAction {
        camera: action.camera.to_device(device),
        buttons: action.buttons.to_device(device),
    }
}

fn segmentation(segmentation: Segmentation, device: &Device) -> Segmentation {
    Segmentation {
        obj_mask: segmentation.obj_mask.to_device(device),
        obj_id: segmentation.obj_id.to_device(device),
    }
}

/// The batch with every tensor on `device` (no copy for tensors already there).
pub fn batch_to_device(batch: Batch, device: &Device) -> Batch {
    Batch {
        image: batch.image.map(|t| t.to_device(device)),
        agent_action: batch.agent_action.map(|a| agent(a, device)),
        env_action: batch.env_action.map(|a| env(a, device)),
        agent_prev_action: batch.agent_prev_action.map(|a| agent(a, device)),
        env_prev_action: batch.env_prev_action.map(|a| env(a, device)),
        mask: batch.mask.map(|t| t.to_device(device)),
        segmentation: batch.segmentation.map(|s| segmentation(s, device)),
        info: batch.info,
    }
}

/// Frames in a batch: `B * T` of the first tensor present, else of the timestamps.
pub fn batch_frames(batch: &Batch) -> u64 {
    let dims = if let Some(mask) = &batch.mask {
        Some(mask.dims())
    } else if let Some(image) = &batch.image {
        let [b, t, ..] = image.dims();
        Some([b, t])
    } else if let Some(action) = &batch.agent_action {
        let [b, t, _] = action.buttons.dims();
        Some([b, t])
    } else if let Some(action) = &batch.env_action {
        let [b, t, _] = action.buttons.dims();
        Some([b, t])
    } else {
        None
    };
    match dims {
        Some([b, t]) => (b * t) as u64,
        None => batch
            .info
            .timestamp
            .iter()
            .map(|row| row.len() as u64)
            .sum(),
    }
}
