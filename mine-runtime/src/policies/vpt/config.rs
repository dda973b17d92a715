//! The VPT network's size and shape options, in MineStudio's `policy_kwargs` vocabulary.
//!
//! Field names and defaults follow MineStudio 1.1.6's `MinecraftPolicy.__init__`, so the
//! `policy_kwargs` object of a MineStudio config (or of a VPT `.model` file, converted to JSON)
//! deserializes directly. Keys MineStudio itself ignores (`only_img_input`,
//! `diff_mlp_embedding`, `active_reward_monitors`, ...) are ignored here too; options whose
//! non-default values this port does not implement are rejected by [`VptConfig::validate`].

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Channel width of the ImpalaCNN's final dense layer (fixed in MineStudio's `MinecraftPolicy`).
pub const CNN_OUTSIZE: usize = 256;
/// Residual blocks per ImpalaCNN down-stack (fixed in MineStudio's `MinecraftPolicy`).
pub const IMPALA_BLOCKS_PER_STACK: usize = 2;
/// Number of basis vectors of the learned relative-position attention bias (`b_nd`).
pub const RELATIVE_BASIS: usize = 10;
/// Number of joint button classes of the VPT action head.
pub const BUTTON_CLASSES: usize = 8641;
/// Number of camera classes of the VPT action head (11 x 11 quantized pitch/yaw bins).
pub const CAMERA_CLASSES: usize = 121;

/// Size and shape of a VPT policy network (MineStudio `VPTPolicy` / `MinecraftPolicy`).
///
/// Build one with a preset ([`VptConfig::tiny`], [`VptConfig::small_cpu`],
/// [`VptConfig::foundation_1x`], [`VptConfig::foundation_2x`], [`VptConfig::foundation_3x`])
/// or deserialize MineStudio's `policy_kwargs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VptConfig {
    /// Recurrence type; only `"transformer"` is implemented.
    #[serde(default = "default_recurrence_type")]
    pub recurrence_type: String,
    /// Multiplier applied to every entry of `impala_chans`.
    #[serde(default = "default_impala_width")]
    pub impala_width: usize,
    /// Base output channels of the ImpalaCNN down-stacks (one stack per entry).
    #[serde(default = "default_impala_chans")]
    pub impala_chans: Vec<usize>,
    /// Width of the latent carried through the recurrent blocks and into the heads.
    #[serde(default = "default_hidsize")]
    pub hidsize: usize,
    /// Input image shape `[height, width, channels]`.
    pub img_shape: [usize; 3],
    /// Normalization of the convolution layers.
    #[serde(default)]
    pub init_norm_kwargs: InitNormKwargs,
    /// Extra ImpalaCNN options.
    #[serde(default)]
    pub impala_kwargs: ImpalaKwargs,
    /// Whether the first convolution of the first down-stack is normalized too.
    #[serde(default)]
    pub first_conv_norm: bool,
    /// Attention mask style; only `"clipped_causal"` is implemented.
    #[serde(default = "default_mask_style")]
    pub attention_mask_style: String,
    /// Number of attention heads; must divide `hidsize`.
    #[serde(default = "default_heads")]
    pub attention_heads: usize,
    /// Attention window: the key/value memory holds `attention_memory_size - timesteps` past
    /// positions, and each query sees itself and that many minus one previous positions.
    #[serde(default = "default_memory_size")]
    pub attention_memory_size: usize,
    /// Whether each recurrent block has the pointwise MLP after attention.
    #[serde(default = "default_true")]
    pub use_pointwise_layer: bool,
    /// Hidden width of the pointwise MLP as a multiple of `hidsize`.
    #[serde(default = "default_pointwise_ratio")]
    pub pointwise_ratio: usize,
    /// Whether the second pointwise layer is followed by a ReLU.
    #[serde(default)]
    pub pointwise_use_activation: bool,
    /// Number of residual recurrent (attention) blocks.
    #[serde(default = "default_layers")]
    pub n_recurrence_layers: usize,
    /// Whether the pointwise MLP is residual.
    #[serde(default = "default_true")]
    pub recurrence_is_residual: bool,
    /// Sequence length the attention window is sized for (MineStudio's `timesteps`).
    pub timesteps: usize,
    /// Whether a LayerNorm (`pre_lstm_ln`) precedes the recurrent blocks.
    #[serde(default = "default_true")]
    pub use_pre_lstm_ln: bool,
    /// Whether images are divided by 255 (MineStudio `scale_input_img`).
    #[serde(default = "default_true")]
    pub scale_input_img: bool,
    /// Path of a mean/std image file; not implemented, must be absent.
    #[serde(default)]
    pub img_statistics: Option<String>,
    /// Softmax temperature of the action head (MineStudio `pi_head_opts.temperature`).
    #[serde(default = "default_temperature")]
    pub temperature: f64,
}

/// Normalization options of the convolution layers (MineStudio `init_norm_kwargs`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InitNormKwargs {
    /// BatchNorm in the convolution layers; not implemented, must be `false`.
    #[serde(default)]
    pub batch_norm: bool,
    /// GroupNorm group count before each convolution (and LayerNorm before each dense layer).
    #[serde(default)]
    pub group_norm_groups: Option<usize>,
}

/// Extra ImpalaCNN options (MineStudio `impala_kwargs`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImpalaKwargs {
    /// GroupNorm group count applied after each max-pool (`stacks.N.n`), if any.
    #[serde(default)]
    pub post_pool_groups: Option<usize>,
}

/// A [`VptConfig`] asks for something this port does not implement or cannot build.
#[derive(Debug, Error, PartialEq)]
pub enum VptConfigError {
    /// An option has a value this port does not implement.
    #[error("VPT config: {option} = {value} is not supported; {fix}")]
    Unsupported {
        /// The option's name in `policy_kwargs`.
        option: &'static str,
        /// The rejected value.
        value: String,
        /// What to use instead.
        fix: &'static str,
    },
    /// Two options contradict each other or a size is zero.
    #[error("VPT config: {0}")]
    Invalid(String),
}

impl VptConfig {
    /// The tiny network of the golden parity data (`tiny_vpt_train.json`): 16x16 images,
    /// hidden 32, 2 heads, 2 blocks, 4 timesteps, memory 8.
    pub fn tiny() -> Self {
        Self {
            hidsize: 32,
            img_shape: [16, 16, 3],
            attention_heads: 2,
            attention_memory_size: 8,
            timesteps: 4,
            n_recurrence_layers: 2,
            ..Self::foundation_base()
        }
    }

    /// A small network that trains on a CPU: 128x128 images, ImpalaCNN 16/32/32, hidden 256,
    /// 4 heads, 2 blocks, 16 timesteps, memory 32.
    pub fn small_cpu() -> Self {
        Self {
            hidsize: 256,
            attention_heads: 4,
            attention_memory_size: 32,
            timesteps: 16,
            n_recurrence_layers: 2,
            ..Self::foundation_base()
        }
    }

    /// The published VPT "1x" width (foundation-model-1x): ImpalaCNN width 4, hidden 1024.
    pub fn foundation_1x() -> Self {
        Self {
            impala_width: 4,
            hidsize: 1024,
            ..Self::foundation_base()
        }
    }

    /// The published VPT "2x" width (foundation-model-2x, rl-from-early-game-2x, ...):
    /// ImpalaCNN width 8, hidden 2048.
    pub fn foundation_2x() -> Self {
        Self {
            impala_width: 8,
            hidsize: 2048,
            ..Self::foundation_base()
        }
    }

    /// The published VPT "3x" width (foundation-model-3x): ImpalaCNN width 12, hidden 3072.
    pub fn foundation_3x() -> Self {
        Self {
            impala_width: 12,
            hidsize: 3072,
            ..Self::foundation_base()
        }
    }

    /// Shared options of the published VPT models (128x128 images, 16 heads, 4 blocks,
    /// 128 timesteps, memory 256, GroupNorm(1) convolutions, no pre-recurrence LayerNorm).
    fn foundation_base() -> Self {
        Self {
            recurrence_type: default_recurrence_type(),
            impala_width: 1,
            impala_chans: default_impala_chans(),
            hidsize: 1024,
            img_shape: [128, 128, 3],
            init_norm_kwargs: InitNormKwargs {
                batch_norm: false,
                group_norm_groups: Some(1),
            },
            impala_kwargs: ImpalaKwargs {
                post_pool_groups: Some(1),
            },
            first_conv_norm: false,
            attention_mask_style: default_mask_style(),
            attention_heads: 16,
            attention_memory_size: 256,
            use_pointwise_layer: true,
            pointwise_ratio: 4,
            pointwise_use_activation: false,
            n_recurrence_layers: 4,
            recurrence_is_residual: true,
            timesteps: 128,
            use_pre_lstm_ln: false,
            scale_input_img: true,
            img_statistics: None,
            temperature: 1.0,
        }
    }

    /// Checks that every option is implemented and the sizes fit together.
    pub fn validate(&self) -> Result<(), VptConfigError> {
        let unsupported = |option, value: &dyn std::fmt::Debug, fix| {
            Err(VptConfigError::Unsupported {
                option,
                value: format!("{value:?}"),
                fix,
            })
        };
        if self.recurrence_type != "transformer" {
            return unsupported(
                "recurrence_type",
                &self.recurrence_type,
                "use \"transformer\" (the LSTM variants are not ported)",
            );
        }
        if self.attention_mask_style != "clipped_causal" {
            return unsupported(
                "attention_mask_style",
                &self.attention_mask_style,
                "use \"clipped_causal\"",
            );
        }
        if self.init_norm_kwargs.batch_norm {
            return unsupported(
                "init_norm_kwargs.batch_norm",
                &true,
                "use group_norm_groups (the published models use 1)",
            );
        }
        if self.img_statistics.is_some() {
            return unsupported(
                "img_statistics",
                &self.img_statistics,
                "remove it; images are scaled by 1/255",
            );
        }
        let invalid = |msg: String| Err(VptConfigError::Invalid(msg));
        if self.impala_chans.is_empty() || self.impala_chans.contains(&0) || self.impala_width == 0
        {
            return invalid(format!(
                "impala_chans {:?} x impala_width {} must give at least one non-zero width",
                self.impala_chans, self.impala_width
            ));
        }
        if self.img_shape.contains(&0) {
            return invalid(format!("img_shape {:?} has a zero side", self.img_shape));
        }
        if self.hidsize == 0
            || self.attention_heads == 0
            || !self.hidsize.is_multiple_of(self.attention_heads)
        {
            return invalid(format!(
                "hidsize {} must be a non-zero multiple of attention_heads {}",
                self.hidsize, self.attention_heads
            ));
        }
        if self.timesteps == 0 || self.attention_memory_size <= self.timesteps {
            return invalid(format!(
                "attention_memory_size {} must exceed timesteps {} (the memory holds the difference) \
                 and timesteps must be non-zero",
                self.attention_memory_size, self.timesteps
            ));
        }
        if self.n_recurrence_layers == 0 {
            return invalid("n_recurrence_layers must be at least 1".into());
        }
        if self.use_pointwise_layer && self.pointwise_ratio == 0 {
            return invalid("pointwise_ratio must be at least 1".into());
        }
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return invalid(format!(
                "temperature {} must be positive and finite",
                self.temperature
            ));
        }
        let widths = self.conv_widths();
        let mut normalized = widths.clone();
        if self.first_conv_norm {
            normalized.push(self.img_shape[2]);
        }
        for (name, groups, channels) in [
            (
                "init_norm_kwargs.group_norm_groups",
                self.init_norm_kwargs.group_norm_groups,
                &normalized,
            ),
            (
                "impala_kwargs.post_pool_groups",
                self.impala_kwargs.post_pool_groups,
                &widths,
            ),
        ] {
            if let Some(groups) = groups
                && (groups == 0 || channels.iter().any(|c| !c.is_multiple_of(groups)))
            {
                return invalid(format!(
                    "{name} = {groups} must divide every normalized channel count {channels:?}"
                ));
            }
        }
        Ok(())
    }

    /// Output channels of each ImpalaCNN down-stack (`impala_chans * impala_width`).
    pub fn conv_widths(&self) -> Vec<usize> {
        self.impala_chans
            .iter()
            .map(|c| c * self.impala_width)
            .collect()
    }

    /// Number of past positions held in each block's key/value memory
    /// (`attention_memory_size - timesteps`, MineStudio's `maxlen`).
    pub fn memory_len(&self) -> usize {
        self.attention_memory_size.saturating_sub(self.timesteps)
    }

    /// Width of each attention head.
    pub fn head_dim(&self) -> usize {
        self.hidsize / self.attention_heads.max(1)
    }

    /// Flattened size of the ImpalaCNN output (`C * H * W` after all down-stacks).
    pub fn cnn_flat_size(&self) -> usize {
        let [mut h, mut w, _] = self.img_shape;
        for _ in &self.impala_chans {
            h = h.div_ceil(2);
            w = w.div_ceil(2);
        }
        self.conv_widths().last().copied().unwrap_or(0) * h * w
    }
}

fn default_recurrence_type() -> String {
    "transformer".into()
}
fn default_impala_width() -> usize {
    1
}
fn default_impala_chans() -> Vec<usize> {
    vec![16, 32, 32]
}
fn default_hidsize() -> usize {
    512
}
fn default_mask_style() -> String {
    "clipped_causal".into()
}
fn default_heads() -> usize {
    8
}
fn default_memory_size() -> usize {
    2048
}
fn default_true() -> bool {
    true
}
fn default_pointwise_ratio() -> usize {
    4
}
fn default_layers() -> usize {
    1
}
fn default_temperature() -> f64 {
    1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate() {
        for config in [
            VptConfig::tiny(),
            VptConfig::small_cpu(),
            VptConfig::foundation_1x(),
            VptConfig::foundation_2x(),
            VptConfig::foundation_3x(),
        ] {
            config.validate().unwrap();
        }
        assert_eq!(VptConfig::tiny().cnn_flat_size(), 32 * 2 * 2);
        assert_eq!(VptConfig::foundation_1x().cnn_flat_size(), 128 * 16 * 16);
        assert_eq!(VptConfig::small_cpu().memory_len(), 16);
    }

    #[test]
    fn rejects_unsupported_options() {
        let mut config = VptConfig::tiny();
        config.recurrence_type = "multi_layer_lstm".into();
        assert!(matches!(
            config.validate(),
            Err(VptConfigError::Unsupported {
                option: "recurrence_type",
                ..
            })
        ));
        let mut config = VptConfig::tiny();
        config.attention_memory_size = config.timesteps;
        assert!(matches!(config.validate(), Err(VptConfigError::Invalid(_))));
        let mut config = VptConfig::tiny();
        config.attention_heads = 3;
        assert!(matches!(config.validate(), Err(VptConfigError::Invalid(_))));
    }
}
