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
pub mod heads;
pub mod impala;
pub mod import;
pub mod layers;
pub mod memory;
pub mod net;
pub mod recurrent;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use mine_dsl::latent::PiLogits;

pub use config::{ImpalaKwargs, InitNormKwargs, VptConfig, VptConfigError};
pub use heads::{ValueHead, VptActionHead};
pub use import::{ImportOptions, TorchParameter, VptImportError, torch_parameters};
pub use memory::{BlockMemory, VptMemory, VptMemoryError};
pub use net::MinecraftPolicy;

/// What one forward pass predicts for every frame.
#[derive(Clone, Debug)]
pub struct VptOutput {
    /// Action log-probabilities: buttons `[B, T, 1, 8641]`, camera `[B, T, 1, 121]`.
    pub pi_logits: PiLogits,
    /// Normalized value prediction `[B, T, 1]`.
    pub vpred: Tensor<3>,
}

/// The VPT policy: trunk (`net`), action head (`pi_head`) and value head (`value_head`).
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

    /// The empty memory for `batch_size` episodes starting, on the network's device.
    pub fn initial_memory(&self, batch_size: usize) -> VptMemory {
        let device = self.net.final_ln.gamma.val().device();
        VptMemory::initial(&self.config, batch_size, &device)
    }

    /// Predicts action log-probabilities and values for `[B, T, H, W, C]` frames holding raw
    /// 0..=255 pixel values, continuing from `memory`; returns the advanced memory.
    ///
    /// Like MineStudio's `VPTPolicy.forward`, no frame is treated as an episode start: reset
    /// memory rows with [`VptMemory::reset_rows`] before a batch that starts episodes.
    ///
    /// On an autodiff device every call records a graph that burn frees only when a backward
    /// pass runs: [`VptMemory::detach`] the memory between training steps, and run validation
    /// or inference on the [`valid`](burn::module::Module::valid) form of the network (or on a
    /// plain device), otherwise repeated forwards without backward keep their graphs alive.
    ///
    /// # Panics
    ///
    /// If the image is not `[B, T, img_shape]` or `memory` was not built for this config and
    /// batch size.
    pub fn forward(&self, image: Tensor<5>, memory: VptMemory) -> (VptOutput, VptMemory) {
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
