//! GROOT (MineStudio 1.1.6 `GrootPolicy`, `minestudio/models/groot_one/body.py`): a policy
//! conditioned on a goal latent encoded from a reference video.
//!
//! ```text
//! image [B,T,H,W,C] 0..255 ─ /255, mean/std ─ backbone ─ 1x1 conv to hiddim ─ tokens [B,T,P,hiddim]
//!   reference = the same window (training) ─┬─ VideoEncoder(all frames)  ─ posterior (mu, log_var, z)
//!                                           └─ ImageEncoder(first frame) ─ prior (mu, log_var, z)
//!   tokens + posterior.z ─ Fuser (mean over P+1 tokens) ─ Decoder (memory in/out) ─┬─ pi_head ─ PiLogits
//!                                                                                 └─ value_head ─ vpred
//! ```
//!
//! - **Reference video.** MineStudio's offline GROOT training is self-supervised: the
//!   reference is the batch's own window (`reference = image` in `GrootPolicy.forward`), so
//!   the posterior sees the whole window, the prior its first frame, and the decoder must
//!   reproduce the window's actions from `z`. [`GrootPolicy`] does the same with
//!   [`Batch::image`]. For goal-conditioned inference, encode a reference video once with
//!   [`GrootPolicy::encode_goal`] and put it in the memory ([`GrootMemory::with_goal`]); the
//!   forward then uses it instead (MineStudio's `ref_video_path` branch).
//! - **Architecture.** [`GrootConfig`] selects MineStudio's (`architecture = "minestudio"`:
//!   a timm backbone, EfficientNet-B0 by default or a CLIP ViT, under MineStudio's parameter
//!   names, so MineStudio's checkpoints load through `policy.weights` and exports load back
//!   into MineStudio) or our own (`"scratch"`: a small ViT or VPT's ImpalaCNN trained from
//!   scratch, every size configurable). Both share the encoders (PyTorch's
//!   `nn.TransformerEncoder`), the decoder (VPT's Transformer-XL blocks) and the heads.
//! - **Frozen backbone.** `freeze_backbone` makes the backbone's parameters not require
//!   gradients: autodiff records none of its operations and the optimizer leaves it as it is.
//!   EfficientNet's BatchNorm layers still run as in MineStudio, where the frozen backbone
//!   stays in train mode: batch statistics while training, running statistics updated.
//! - **Goal latent.** `z = mu + exp(log_var / 2) * eps` while training and `z = mu` in
//!   evaluation ([`LatentMode`]); `eps` comes from a host generator seeded by the
//!   configuration's `seed` ([`GrootPolicy::reseed`]), or from recorded draws
//!   ([`GrootPolicy::inject_noise`]).
//! - **Memory.** [`GrootMemory`] holds each decoder block's keys and values; it is carried
//!   from batch to batch within episodes and reset per row through the
//!   [`Memory`](mine_dsl::memory::Memory) trait.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use mine_dsl::prelude::*;
//! use mine_runtime::policies::groot::{GrootPolicy, MineStudioGrootConfig};
//!
//! let device = Device::flex();
//! let policy = GrootPolicy::new(&MineStudioGrootConfig::tiny(), &device)?;
//! let batch = Batch { image: Some(Tensor::zeros([2, 4, 16, 16, 3], &device)), ..Batch::default() };
//! let (latents, memory) = policy.forward(&batch, policy.initial_memory(2, &device))?;
//! assert_eq!(latents.pi_logits.camera.dims(), [2, 4, 1, 121]);
//! assert_eq!(latents.posterior_dist.z.dims(), [2, 8]);
//! assert_eq!(memory.layers.len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod backbone;
pub mod config;
pub mod decoder;
pub mod encoders;
pub mod latent;
pub mod memory;
mod pretrained;
pub mod validate;
pub mod weights;

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};
use mine_dsl::batch::Batch;
use mine_dsl::latent::DiagGaussian;
use mine_dsl::policy::{Forward, Policy, PolicyError};

use crate::kernels::autocast::to_full;
use crate::kernels::ops::conv2d_layer;
use crate::policies::vpt::{ValueHead, VptActionHead};

pub use backbone::{Backbone, ImpalaBackbone, PixelNorm, TimmBackbone, VitBackbone};
pub use config::{
    BackboneConfig, DecoderConfig, DecoderKwargs, FuserConfig, GrootConfig, ImageEncoderConfig,
    ImageEncoderKwargs, ImpalaBackboneConfig, MineStudioGrootConfig, ScratchGrootConfig,
    VideoEncoderConfig, VideoEncoderKwargs, VitConfig,
};
pub use decoder::GrootDecoder;
pub use encoders::{ImageEncoder, VideoEncoder, fuse};
pub use latent::{LatentMode, LatentSpace, NoiseSource};
pub use memory::{GaussianMemory, GoalCondition, GrootLayerMemory, GrootMemory};
pub use validate::GrootConfigError;
pub use weights::{BackboneLoadOptions, GrootWeightsError};

use crate::policies::torch_nn::TransformerEncoder;
use encoders::encoder;

/// The GROOT policy: backbone, goal encoders, fuser, decoder and the VPT heads.
///
/// Produces `pi_logits`, `vpred`, `posterior_dist` and `prior_dist`, so it trains with
/// `BehaviorClone` and `KlDivergence`. Build it on an autodiff device
/// (`Device::flex().autodiff()`) to train, and run inference on a plain device or on its
/// [`valid`](burn::module::Module::valid) form.
#[mine_dsl::policy(produces(pi_logits, vpred, posterior_dist, prior_dist), memory = GrootMemory)]
#[derive(Module, Debug)]
pub struct GrootPolicy {
    /// Frame normalization.
    pub pixel_norm: PixelNorm,
    /// The vision encoder run on every frame.
    pub backbone: Backbone,
    /// 1x1 convolution from the backbone's channels to `hiddim` (MineStudio `updim`).
    pub updim: Conv2d,
    /// The posterior encoder over the reference video.
    pub video_encoder: VideoEncoder,
    /// The prior encoder over the reference's first frame.
    pub image_encoder: ImageEncoder,
    /// Joins each frame's tokens with the goal latent ([`fuse`]).
    pub fuser: TransformerEncoder,
    /// The recurrent decoder.
    pub decoder: GrootDecoder,
    /// The action head.
    pub pi_head: VptActionHead,
    /// The value head.
    pub value_head: ValueHead,
    #[module(skip)]
    config: GrootConfig,
    #[module(skip)]
    noise: NoiseSource,
}

impl GrootPolicy {
    /// Validates `config` (a [`GrootConfig`], or either architecture's configuration) and
    /// builds a freshly initialized network (frozen backbone if `freeze_backbone`).
    pub fn new<C: Clone + Into<GrootConfig>>(
        config: &C,
        device: &Device,
    ) -> Result<Self, GrootConfigError> {
        let config: GrootConfig = config.clone().into();
        config.validate()?;
        let e = config.hiddim();
        let noise = NoiseSource::new(config.seed());
        let mode = config.latent_mode();
        let latent = || LatentSpace::new(e, mode, noise.clone(), device);
        let (video, image, fuser) = (
            config.video_encoder(),
            config.image_encoder(),
            config.fuser(),
        );
        let mut backbone = Backbone::new(&config, device);
        if config.freeze_backbone() {
            backbone = backbone.freeze();
        }
        Ok(Self {
            pixel_norm: PixelNorm::new(&config, device),
            backbone,
            updim: Conv2dConfig::new([config.backbone_channels(), e], [1, 1]).init(device),
            video_encoder: VideoEncoder {
                pooling: encoder(e, video.spatial_layers, video.heads, video.dropout, device),
                encode_video: encoder(e, video.temporal_layers, video.heads, video.dropout, device),
                encode_dist: latent(),
            },
            image_encoder: ImageEncoder {
                pooling: encoder(e, image.layers, image.heads, image.dropout, device),
                encode_dist: latent(),
            },
            fuser: encoder(e, fuser.layers, fuser.heads, fuser.dropout, device),
            decoder: GrootDecoder::new(&config, device),
            pi_head: VptActionHead::new(e, config.temperature(), device),
            value_head: ValueHead::new(e, device),
            config,
            noise,
        })
    }

    /// The configuration the network was built from (with the current latent mode).
    pub fn config(&self) -> &GrootConfig {
        &self.config
    }

    /// Restarts the reparameterization noise from `seed` (shared with clones of this policy).
    pub fn reseed(&self, seed: u64) {
        self.noise.reseed(seed);
    }

    /// Replays recorded noise: the next sampled latents use `draws` (one row-major
    /// `[B, hiddim]` draw per latent, the posterior's before the prior's in each forward)
    /// instead of generated noise. See [`NoiseSource::inject`].
    pub fn inject_noise(&self, draws: impl IntoIterator<Item = Vec<f32>>) {
        self.noise.inject(draws);
    }

    /// Returns the policy with goal latents drawn according to `mode`.
    pub fn with_latent_mode(mut self, mode: LatentMode) -> Self {
        self.config.set_latent_mode(mode);
        self.video_encoder.encode_dist.mode = mode;
        self.image_encoder.encode_dist.mode = mode;
        self
    }

    /// Encodes a reference video (`[B, T, H, W, C]`, raw 0..=255 pixels) into the goal that
    /// conditions inference: the posterior over all frames and the prior over the first.
    pub fn encode_goal(&self, reference: Tensor<5>) -> Result<GoalCondition, PolicyError> {
        self.check_frames(&reference, "reference")?;
        let (posterior, prior) = self.encode_reference(self.tokens(reference));
        Ok(GoalCondition {
            posterior: posterior.into(),
            prior: prior.into(),
        })
    }

    /// `[B, T, H, W, C]` raw frames to the backbone's last feature map
    /// `[B * T, C', h, w]` (MineStudio: `backbone(transforms(image))[-1]`).
    pub fn backbone_features(&self, image: Tensor<5>) -> Tensor<4> {
        self.backbone.forward(self.pixel_norm.forward(image))
    }

    /// `[B, T, H, W, C]` raw frames to `[B, T, P, hiddim]` tokens (the backbone's features
    /// through `updim`; f32 under autocast, as the encoders that read them expect).
    pub fn tokens(&self, image: Tensor<5>) -> Tensor<4> {
        let [b, t, ..] = image.dims();
        let features = conv2d_layer(&self.updim, self.backbone_features(image), false);
        let [_, d, h, w] = features.dims();
        to_full(features.reshape([b, t, d, h * w]).swap_dims(2, 3))
    }

    /// The posterior (whole reference) and prior (first frame) of reference tokens.
    fn encode_reference(&self, tokens: Tensor<4>) -> (DiagGaussian, DiagGaussian) {
        let [b, _, p, d] = tokens.dims();
        let first = tokens.clone().slice([0..b, 0..1]).reshape([b, p, d]);
        (
            self.video_encoder.forward(tokens),
            self.image_encoder.forward(first),
        )
    }

    fn check_frames(&self, image: &Tensor<5>, what: &str) -> Result<(), PolicyError> {
        let [b, t, h, w, c] = image.dims();
        let expected = self.config.img_shape();
        if [h, w, c] != expected || b == 0 || t == 0 {
            let source = match self.config {
                GrootConfig::MineStudio(_) => "the input size of the GrootConfig's backbone",
                GrootConfig::Scratch(_) => "img_shape of the GrootConfig",
            };
            return Err(PolicyError::Invalid(format!(
                "GROOT {what} frames have shape [{b}, {t}, {h}, {w}, {c}], expected \
                 [B >= 1, T >= 1, {expected:?}] ({source}); set the dataset's \
                 frame_height/frame_width to match"
            )));
        }
        Ok(())
    }

    fn check_memory(&self, memory: &GrootMemory, b: usize) -> Result<(), PolicyError> {
        let layers = self.decoder.layers();
        let rows = memory.batch_size();
        if memory.layers.len() != layers || rows != b {
            return Err(PolicyError::Invalid(format!(
                "GROOT memory has {} decoder layers for {rows} rows, but the policy has {layers} \
                 layers and the batch {b} rows; build it with `initial_memory({b}, ..)`",
                memory.layers.len()
            )));
        }
        if let Some(goal) = &memory.goal {
            let [gb, gd] = goal.posterior.z.dims();
            if gb != b || gd != self.config.hiddim() {
                return Err(PolicyError::Invalid(format!(
                    "GROOT goal has shape [{gb}, {gd}], expected [{b}, {}]: encode one \
                     reference per batch row",
                    self.config.hiddim()
                )));
            }
        }
        Ok(())
    }
}

impl Policy for GrootPolicy {
    fn initial_memory(&self, batch_size: usize, device: &Device) -> GrootMemory {
        let (m, e) = (self.config.decoder().mem_len, self.config.hiddim());
        GrootMemory {
            layers: (0..self.decoder.layers())
                .map(|_| GrootLayerMemory::empty(batch_size, m, e, device))
                .collect(),
            goal: None,
        }
    }

    fn forward(&self, batch: &Batch, memory: GrootMemory) -> Forward<Self> {
        let image = batch.image()?.clone();
        self.check_frames(&image, "image")?;
        self.check_memory(&memory, image.dims()[0])?;
        let tokens = self.tokens(image);
        let (posterior_dist, prior_dist) = match &memory.goal {
            Some(goal) => (goal.posterior.clone().into(), goal.prior.clone().into()),
            None => self.encode_reference(tokens.clone()),
        };
        let fused = fuse(&self.fuser, tokens, posterior_dist.z.clone());
        let (latent, layers) = self.decoder.forward(fused, memory.layers);
        let latents = GrootPolicyLatents {
            pi_logits: self.pi_head.forward(latent.clone()),
            vpred: self.value_head.forward(latent),
            posterior_dist,
            prior_dist,
        };
        Ok((
            latents,
            GrootMemory {
                layers,
                goal: memory.goal,
            },
        ))
    }
}
