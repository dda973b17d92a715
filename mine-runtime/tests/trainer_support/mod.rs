//! A small recurrent policy and a learnable synthetic task for the trainer tests.
//!
//! Each frame is a flat colour: red frames demand (buttons 5, camera 10), blue frames
//! (buttons 7, camera 70). The policy sees the mean colour of the frame plus a running mean
//! carried in its memory, so memory carry and reset matter to its outputs.

#![allow(dead_code)]

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::prelude::*;
use mine_runtime::trainer::GeneratedBatches;

/// Rows per batch, frames per row, frame size.
pub const B: usize = 2;
pub const T: usize = 4;
pub const S: usize = 4;
/// Batches per episode before a row starts a new one.
pub const EPISODE_BATCHES: usize = 3;

#[policy(produces(pi_logits), memory = Tensor<2>)]
#[derive(Module, Debug)]
pub struct ColourPolicy {
    buttons: Linear,
    camera: Linear,
}

impl ColourPolicy {
    pub fn new(device: &Device) -> Self {
        Self {
            buttons: LinearConfig::new(6, 8641).init(device),
            camera: LinearConfig::new(6, 121).init(device),
        }
    }
}

impl Policy for ColourPolicy {
    fn initial_memory(&self, batch_size: usize, device: &Device) -> Tensor<2> {
        Tensor::zeros([batch_size, 3], device)
    }

    fn forward(&self, batch: &Batch, memory: Tensor<2>) -> Forward<Self> {
        let image = batch.image()?.clone();
        let [b, t, h, w, c] = image.dims();
        let colour: Tensor<3> = image
            .reshape([b, t, h * w, c])
            .mean_dim(2)
            .reshape([b, t, c])
            / 255.0;
        let context: Tensor<3> = memory.clone().reshape([b, 1, c]).expand([b, t, c]);
        let features = Tensor::cat(vec![colour.clone(), context], 2);
        let buttons =
            log_softmax(self.buttons.forward(features.clone()), 2).reshape([b, t, 1, 8641]);
        let camera = log_softmax(self.camera.forward(features), 2).reshape([b, t, 1, 121]);
        let next = memory * 0.5 + colour.mean_dim(1).reshape([b, c]) * 0.5;
        Ok((
            ColourPolicyLatents {
                pi_logits: PiLogits { buttons, camera },
            },
            next,
        ))
    }
}

/// Whether frame `t` of row `row` in batch `index` of `epoch` is red.
fn is_red(epoch: u64, index: usize, row: usize, t: usize) -> bool {
    !(epoch as usize * 7 + index * 3 + row * 5 + t).is_multiple_of(3)
}

/// Batch `index` of `epoch`: episode-continuous rows (timestamps continue for
/// `EPISODE_BATCHES` batches, then restart at 0).
pub fn batch(epoch: u64, index: usize, device: &Device) -> Batch {
    let mut pixels = Vec::with_capacity(B * T * S * S * 3);
    let (mut buttons, mut camera) = (Vec::new(), Vec::new());
    for row in 0..B {
        for t in 0..T {
            let red = is_red(epoch, index, row, t);
            for _ in 0..S * S {
                pixels.extend_from_slice(if red {
                    &[220.0f32, 30.0, 30.0]
                } else {
                    &[30.0, 30.0, 220.0]
                });
            }
            buttons.push(if red { 5i64 } else { 7 });
            camera.push(if red { 10i64 } else { 70 });
        }
    }
    let start = (index % EPISODE_BATCHES * T) as i64;
    Batch {
        image: Some(Tensor::from_data(
            TensorData::new(pixels, [B, T, S, S, 3]),
            device,
        )),
        agent_action: Some(AgentAction {
            buttons: Tensor::<3, Int>::from_data(TensorData::new(buttons, [B, T, 1]), device),
            camera: Tensor::<3, Int>::from_data(TensorData::new(camera, [B, T, 1]), device),
        }),
        mask: Some(Tensor::ones([B, T], device)),
        info: BatchInfo {
            episode: (0..B)
                .map(|r| format!("episode-{r}-{}", index / EPISODE_BATCHES))
                .collect(),
            timestamp: vec![(start..start + T as i64).collect(); B],
            progress: vec![String::new(); B],
        },
        ..Batch::default()
    }
}

/// `batches` batches per epoch of the colour task.
pub fn source(batches: usize) -> GeneratedBatches<impl FnMut(u64, usize, &Device) -> Batch> {
    GeneratedBatches::new(batches, batch)
}
