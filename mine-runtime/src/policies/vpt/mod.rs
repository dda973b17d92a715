//! The VPT policy network (MineStudio 1.1.6 `VPTPolicy` / `MinecraftPolicy`, transformer
//! recurrence), with weight import from MineStudio / OpenAI checkpoints.
//!
//! ```text
//! image [B,T,H,W,C] 0..255 ─ /255 ─ ImpalaCNN ─ dense 256 ─ linear hidsize ─ [LayerNorm]
//!   ─ attention blocks (memory in/out) ─ ReLU ─ lastlayer ─ final LayerNorm ─┬─ pi_head ─ PiLogits
//!                                                                          └─ value_head ─ vpred
//! ```
//!
//! The module tree mirrors MineStudio's so parameter paths are the PyTorch state-dict keys
//! (see [`import`]). Build with [`VptPolicy::new`], load weights with
//! [`VptPolicy::load_weights`], start each episode from [`VptMemory::initial`].

pub mod attention;
pub mod config;
pub mod film;
pub mod heads;
pub mod impala;
pub mod import;
pub mod layers;
pub mod memory;
pub mod net;
pub(crate) mod pretrained;
pub mod recurrent;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use mine_dsl::batch::Batch;
use mine_dsl::policy::{Forward, Policy, PolicyError};

pub use crate::policies::torch_names::{TorchParameter, torch_parameters};
pub use config::{ImpalaKwargs, InitNormKwargs, VptConfig, VptConfigError};
pub use heads::{ValueHead, VptActionHead};
pub use import::{ImportOptions, VptImportError};
pub use memory::{BlockMemory, VptMemory};
pub use net::MinecraftPolicy;

/// The VPT policy: trunk (`net`), action head (`pi_head`) and value head (`value_head`).
///
/// Produces `pi_logits` (action log-probabilities: buttons `[B, T, 1, 8641]`, camera
/// `[B, T, 1, 121]`) and `vpred` (normalized value prediction `[B, T, 1]`) in a [`VptOutput`],
/// and carries a [`VptMemory`] from one batch to the next.
#[mine_dsl::policy(produces(pi_logits, vpred), memory = VptMemory, latents = VptOutput)]
#[derive(Module, Debug)]
pub struct VptPolicy {
    /// The trunk producing the latent.
    pub net: MinecraftPolicy,
    /// The action head.
    pub pi_head: VptActionHead,
    /// The value head.
    pub value_head: ValueHead,
    /// The configuration the network was built from.
    #[module(skip)]
    config: VptConfig,
}

impl VptPolicy {
    /// Builds a freshly initialized network (MineStudio's initialization scales) on `device`.
    /// Use an autodiff device (`Device::flex().autodiff()`) to train it.
    pub fn new(config: &VptConfig, device: &Device) -> Result<Self, VptConfigError> {
        config.validate()?;
        Ok(Self {
            net: MinecraftPolicy::new(config, device),
            pi_head: VptActionHead::new(config.hidsize, config.temperature, device),
            value_head: ValueHead::new(config.hidsize, device),
            config: config.clone(),
        })
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &VptConfig {
        &self.config
    }

    /// The network's device.
    pub fn device(&self) -> Device {
        self.net.final_ln.gamma.val().device()
    }

    /// Predicts action log-probabilities and values for `[B, T, H, W, C]` frames holding raw
    /// 0..=255 pixel values, continuing from `memory`; returns the advanced memory.
    ///
    /// Like MineStudio's `VPTPolicy.forward`, no frame is treated as an episode start: reset
    /// memory rows with [`Memory::reset_rows`](mine_dsl::memory::Memory::reset_rows) before a batch
    /// that starts episodes (the trainer does it from the batch timestamps).
    ///
    /// On an autodiff device every call records a graph that burn frees only when a backward
    /// pass runs: [`Memory::detach`](mine_dsl::memory::Memory::detach) the memory between training steps, and run validation
    /// or inference on the [`valid`](burn::module::Module::valid) form of the network (or on a
    /// plain device), otherwise repeated forwards without backward keep their graphs alive.
    ///
    /// # Panics
    ///
    /// If the image is not `[B, T, img_shape]` or `memory` was not built for this config and
    /// batch size.
    pub fn forward_frames(&self, image: Tensor<5>, memory: VptMemory) -> (VptOutput, VptMemory) {
        let (latent, memory) = self.forward_latent(image, memory);
        let output = VptOutput {
            pi_logits: self.pi_head.forward(latent.clone()),
            vpred: self.value_head.forward(latent),
        };
        (output, memory)
    }

    /// The trunk alone: the `[B, T, hidsize]` latent both heads read, and the advanced memory.
    pub fn forward_latent(&self, image: Tensor<5>, memory: VptMemory) -> (Tensor<3>, VptMemory) {
        self.net.forward(image, memory)
    }
}

impl Policy for VptPolicy {
    /// The empty memory for `batch_size` episodes starting (all slots invalid).
    fn initial_memory(&self, batch_size: usize, device: &Device) -> VptMemory {
        VptMemory::initial(&self.config, batch_size, device)
    }

    /// Runs on the batch's frames (`image`, `[B, T, H, W, C]`, 0..=255); see
    /// [`VptPolicy::forward_frames`].
    fn forward(&self, batch: &Batch, memory: VptMemory) -> Forward<Self> {
        let image = batch.image()?;
        let [_, _, h, w, c] = image.dims();
        let expected = self.config.img_shape;
        if [h, w, c] != expected {
            return Err(PolicyError::Invalid(format!(
                "VPT expects {}x{}x{} frames (config `img_shape`), got {h}x{w}x{c}; \
                 set the dataset's frame_height/frame_width to match",
                expected[0], expected[1], expected[2]
            )));
        }
        Ok(self.forward_frames(image.clone(), memory))
    }
}
