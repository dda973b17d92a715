//! ROCKET-1 (MineStudio 1.1.6 `RocketPolicy`, `minestudio/models/rocket_one/body.py`): a
//! policy conditioned on the object to interact with, given as a segmentation mask and an
//! interaction type per frame.
//!
//! ```text
//! image [B,T,H,W,3] ─ /255, timm mean/std ──────┐
//! segmentation.obj_mask [B,T,H,W] (0/1) ───────┴ 4 channels ─ EfficientNet-B0 (last map)
//!   ─ updim (1x1 conv) ─ tokens ─ pooling (TransformerEncoder, mean) ─ [B,T,hiddim]
//! segmentation.obj_id [B,T] ─ +1 ─ interaction (Embedding 10) ─ condition (FiLM in every block)
//!   ─ TransformerXL blocks (memory in/out) ─ ReLU ─ lastlayer ─ final_ln ─┬─ pi_head ─ PiLogits
//!                                                                        └─ value_head ─ vpred
//! ```
//!
//! The module tree and names are MineStudio's, so its Hub directories and Lightning
//! checkpoints load unchanged (`policy.weights`, [`PretrainedPolicy`](super::pretrained::PretrainedPolicy)):
//! the backbone is timm's EfficientNet ([`efficientnet`](crate::policies::timm::efficientnet)), the recurrence, heads and memory
//! are VPT's ([`VptMemory`]). BatchNorm uses batch statistics on an autodiff device
//! (training) and its running statistics elsewhere.
//!
//! ```
//! use burn::tensor::{Device, Int, Tensor};
//! use mine_dsl::prelude::*;
//! use mine_runtime::policies::rocket::{RocketConfig, RocketPolicy};
//!
//! let device = Device::flex();
//! let policy = RocketPolicy::new(&RocketConfig::tiny(), &device)?;
//! let batch = Batch {
//!     image: Some(Tensor::zeros([2, 4, 33, 33, 3], &device)),
//!     segmentation: Some(Segmentation {
//!         obj_mask: Tensor::zeros([2, 4, 33, 33], &device),
//!         obj_id: Tensor::<2, Int>::zeros([2, 4], &device).sub_scalar(1),
//!     }),
//!     ..Batch::default()
//! };
//! let (latents, memory) = policy.forward(&batch, policy.initial_memory(2, &device))?;
//! assert_eq!(latents.pi_logits.camera.dims(), [2, 4, 1, 121]);
//! assert_eq!(memory.blocks.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod config;
mod pretrained;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use mine_dsl::batch::{Batch, Segmentation};
use mine_dsl::policy::{Forward, Policy, PolicyError};

use crate::kernels::ops::{conv2d_layer, layer_norm_layer};
use crate::policies::groot::PixelNorm;
use crate::policies::torch_nn::{EncoderShape, TransformerEncoder};
use crate::policies::vpt::layers::NormLinear;
use crate::policies::vpt::recurrent::ResidualRecurrentBlocks;
use crate::policies::vpt::{ValueHead, VptActionHead, VptMemory};

pub use config::{EFFICIENTNET_B0, RocketConfig, RocketConfigError};

use crate::policies::timm::efficientnet::EfficientNet;

/// Interaction types of MineStudio's `interaction` embedding (`obj_id + 1`, so `obj_id` in
/// `-1..=8`).
pub const INTERACTION_TYPES: usize = 10;
/// Layers of the spatial pooling (hard-coded in `RocketPolicy`).
const POOLING_LAYERS: usize = 2;

/// The ROCKET-1 policy. Produces `pi_logits` and `vpred`, so it trains with
/// `BehaviorClone`; carries a [`VptMemory`] (one key/value memory per block).
#[mine_dsl::policy(produces(pi_logits, vpred), memory = VptMemory)]
#[derive(Module, Debug)]
pub struct RocketPolicy {
    /// RGB normalization (the mask channel is used as it is).
    pub pixel_norm: PixelNorm,
    /// The timm EfficientNet over RGB and mask.
    pub backbone: EfficientNet,
    /// 1x1 convolution (no bias) from the backbone's channels to `hiddim`.
    pub updim: Conv2d,
    /// Transformer over each frame's tokens, averaged to one vector per frame.
    pub pooling: TransformerEncoder,
    /// Embedding of the interaction type (`obj_id + 1`).
    pub interaction: Embedding,
    /// The TransformerXL blocks, conditioned on the interaction (FiLM).
    pub recurrent: ResidualRecurrentBlocks,
    /// LayerNorm, linear, ReLU.
    pub lastlayer: NormLinear,
    /// Final LayerNorm.
    pub final_ln: LayerNorm,
    /// The action head.
    pub pi_head: VptActionHead,
    /// The value head.
    pub value_head: ValueHead,
    #[module(skip)]
    config: RocketConfig,
}

impl RocketPolicy {
    /// Validates `config` and builds a freshly initialized network on `device` (an autodiff
    /// device to train).
    pub fn new(config: &RocketConfig, device: &Device) -> Result<Self, RocketConfigError> {
        config.validate()?;
        let e = config.hiddim;
        let arch = config.backbone_architecture()?;
        let spec = arch.spec();
        let recurrence = config.recurrence();
        Ok(Self {
            pixel_norm: PixelNorm::from_stats(&arch.mean, &arch.std, device),
            updim: Conv2dConfig::new([spec.out_channels(), e], [1, 1])
                .with_bias(false)
                .init(device),
            backbone: EfficientNet::new(&spec, device),
            pooling: TransformerEncoder::new(
                &EncoderShape {
                    d: e,
                    heads: config.num_heads,
                    dim_feedforward: 2 * e,
                    layers: POOLING_LAYERS,
                    dropout: config.pooling_dropout,
                },
                device,
            ),
            interaction: EmbeddingConfig::new(INTERACTION_TYPES, e).init(device),
            recurrent: ResidualRecurrentBlocks::new(&recurrence, device).with_injection(device),
            lastlayer: NormLinear::new(e, e, true, true, 1.0, device),
            final_ln: LayerNormConfig::new(e).init(device),
            pi_head: VptActionHead::new(e, 1.0, device),
            value_head: ValueHead::new(e, device),
            config: config.clone(),
        })
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &RocketConfig {
        &self.config
    }

    /// Per-frame vectors `[B, T, hiddim]` from raw frames (`[B, T, H, W, 3]`, 0..=255) and
    /// object masks (`[B, T, H, W]`, 0/1): backbone, `updim`, pooling.
    pub fn frame_features(&self, image: Tensor<5>, obj_mask: Tensor<4>) -> Tensor<3> {
        let [b, t, h, w, _] = image.dims();
        let rgb = self.pixel_norm.forward(image);
        let mask = obj_mask.reshape([b * t, 1, h, w]);
        let features = self.backbone.forward(Tensor::cat(vec![rgb, mask], 1));
        let tokens = conv2d_layer(&self.updim, features, false);
        let [n, e, fh, fw] = tokens.dims();
        let tokens = tokens.reshape([n, e, fh * fw]).swap_dims(1, 2);
        self.pooling.forward(tokens).mean_dim(1).reshape([b, t, e])
    }

    /// The trunk: the `[B, T, hiddim]` latent both heads read, and the advanced memory.
    /// `obj_id` is `[B, T]` in `-1..=8`.
    pub fn forward_latent(
        &self,
        image: Tensor<5>,
        segmentation: &Segmentation,
        memory: VptMemory,
    ) -> (Tensor<3>, VptMemory) {
        let x = self.frame_features(image, segmentation.obj_mask.clone());
        let condition = self
            .interaction
            .forward(segmentation.obj_id.clone().add_scalar(1));
        let (z, memory) = self
            .recurrent
            .forward_conditioned(x, Some(&condition), memory);
        let z = layer_norm_layer(&self.final_ln, self.lastlayer.forward(relu(z)));
        (z, memory)
    }

    fn check(
        &self,
        image: &Tensor<5>,
        segmentation: &Segmentation,
        memory: &VptMemory,
    ) -> Result<(), PolicyError> {
        let [b, t, h, w, c] = image.dims();
        let invalid = |message: String| Err(PolicyError::Invalid(message));
        if c != 3 || b == 0 || t == 0 {
            return invalid(format!(
                "ROCKET-1 frames have shape [{b}, {t}, {h}, {w}, {c}], expected [B >= 1, T >= 1, H, W, 3]"
            ));
        }
        if segmentation.obj_mask.dims() != [b, t, h, w] {
            return invalid(format!(
                "ROCKET-1 segmentation.obj_mask has shape {:?}, expected [{b}, {t}, {h}, {w}] (one mask per frame, the frames' size)",
                segmentation.obj_mask.dims()
            ));
        }
        if segmentation.obj_id.dims() != [b, t] {
            return invalid(format!(
                "ROCKET-1 segmentation.obj_id has shape {:?}, expected [{b}, {t}]",
                segmentation.obj_id.dims()
            ));
        }
        let ids = segmentation
            .obj_id
            .clone()
            .into_data()
            .try_into_vec_as::<i64>()
            .unwrap_or_default();
        if let Some(bad) = ids
            .iter()
            .find(|id| !(-1..INTERACTION_TYPES as i64 - 1).contains(id))
        {
            return invalid(format!(
                "ROCKET-1 segmentation.obj_id holds {bad}; interaction types are -1 (no object) to {}",
                INTERACTION_TYPES - 2
            ));
        }
        let (blocks, rows) = (memory.blocks.len(), memory.batch_size());
        if blocks != self.recurrent.blocks.len() || rows != b {
            return invalid(format!(
                "ROCKET-1 memory has {blocks} blocks for {rows} rows, but the policy has {} blocks \
                 and the batch {b} rows; build it with `initial_memory({b}, ..)`",
                self.recurrent.blocks.len()
            ));
        }
        Ok(())
    }
}

impl Policy for RocketPolicy {
    /// The empty memory for `batch_size` episodes starting (all slots invalid).
    fn initial_memory(&self, batch_size: usize, device: &Device) -> VptMemory {
        VptMemory::initial(&self.config.recurrence(), batch_size, device)
    }

    /// Runs on the batch's `image` and `segmentation` (MineStudio `RocketPolicy.forward`).
    /// Like MineStudio, no frame starts an episode inside the window: the trainer resets
    /// memory rows from the timestamps before the call.
    fn forward(&self, batch: &Batch, memory: VptMemory) -> Forward<Self> {
        let image = batch.image()?;
        let segmentation = batch.segmentation()?;
        self.check(image, segmentation, &memory)?;
        let (latent, memory) = self.forward_latent(image.clone(), segmentation, memory);
        let latents = RocketPolicyLatents {
            pi_logits: self.pi_head.forward(latent.clone()),
            vpred: self.value_head.forward(latent),
        };
        Ok((latents, memory))
    }
}
