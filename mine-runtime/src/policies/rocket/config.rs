//! ROCKET-1's configuration: MineStudio's `RocketPolicy` constructor arguments, plus the
//! EfficientNet multipliers (1 for the published backbone).

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::policies::timm::efficientnet::config::valid_multiplier;
use crate::policies::timm::efficientnet::{EFFICIENTNET_B0_MODEL, EfficientNetArchitecture};
use crate::policies::timm::{TimmArchitecture, TimmBackboneConfig};
use crate::policies::vpt::VptConfig;

/// The timm backbone of MineStudio's ROCKET-1 checkpoints and tutorial.
pub const EFFICIENTNET_B0: &str = "efficientnet_b0.ra_in1k";

/// Size of a ROCKET-1 policy (MineStudio `RocketPolicy`).
///
/// The first six fields are `RocketPolicy`'s arguments (the keys of a ROCKET-1 Hub
/// `config.json`); the multipliers scale the EfficientNet-B0 backbone as timm's
/// `_gen_efficientnet` does (the published model: 1 and 1; the golden tests' tiny one: 0.125
/// and 0.5). Frames may have any size: the backbone is fully convolutional and the pooling
/// averages over its feature map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RocketConfig {
    /// The timm model name of the backbone; only EfficientNet-B0 (`efficientnet_b0`, with one
    /// of timm's pretrained tags, whose normalization the frames get, and an optional `timm/`
    /// prefix) is implemented.
    #[serde(default = "default_backbone")]
    pub backbone: String,
    /// Width of the tokens, the recurrence and the heads.
    #[serde(default = "default_hiddim")]
    pub hiddim: usize,
    /// Attention heads of the pooling and the recurrence; divides `hiddim`.
    #[serde(default = "default_heads")]
    pub num_heads: usize,
    /// Number of TransformerXL blocks.
    #[serde(default = "default_layers")]
    pub num_layers: usize,
    /// Frames per training window the attention is sized for.
    #[serde(default = "default_timesteps")]
    pub timesteps: usize,
    /// Past frames each block's key/value memory holds.
    #[serde(default = "default_mem_len")]
    pub mem_len: usize,
    /// Nucleus probability for sampling actions (MineStudio's inference; unused in training).
    #[serde(default = "default_nucleus_prob")]
    pub nucleus_prob: f64,
    /// EfficientNet width multiplier (timm `channel_multiplier`).
    #[serde(default = "one")]
    pub channel_multiplier: f64,
    /// EfficientNet depth multiplier (timm `depth_multiplier`).
    #[serde(default = "one")]
    pub depth_multiplier: f64,
    /// Dropout in the pooling TransformerEncoder's layers while training (PyTorch's
    /// `nn.TransformerEncoderLayer` default, which MineStudio keeps: 0.1). A setting of this
    /// program: MineStudio takes no such argument and an export leaves it out.
    #[serde(default = "default_pooling_dropout")]
    pub pooling_dropout: f64,
}

fn default_pooling_dropout() -> f64 {
    0.1
}

fn default_backbone() -> String {
    EFFICIENTNET_B0.into()
}
fn default_hiddim() -> usize {
    1024
}
fn default_heads() -> usize {
    8
}
fn default_layers() -> usize {
    4
}
fn default_timesteps() -> usize {
    128
}
fn default_mem_len() -> usize {
    128
}
fn default_nucleus_prob() -> f64 {
    0.85
}
fn one() -> f64 {
    1.0
}

impl Default for RocketConfig {
    fn default() -> Self {
        Self::rocket_1()
    }
}

/// A [`RocketConfig`] this port cannot build.
#[derive(Debug, Error, PartialEq)]
pub enum RocketConfigError {
    /// The backbone is not EfficientNet-B0.
    #[error(
        "ROCKET-1 config: backbone = \"{0}\" is not supported; only timm's EfficientNet-B0 \
         (\"{EFFICIENTNET_B0}\", ROCKET-1's published backbone) is implemented"
    )]
    Backbone(String),
    /// A size is zero or two sizes disagree.
    #[error("ROCKET-1 config: {0}")]
    Invalid(String),
}

impl RocketConfig {
    /// MineStudio's published ROCKET-1 (`RocketPolicy` defaults with the EfficientNet-B0
    /// backbone): hidden 1024, 8 heads, 4 blocks, 128 timesteps, memory 128.
    pub fn rocket_1() -> Self {
        Self {
            backbone: default_backbone(),
            hiddim: default_hiddim(),
            num_heads: default_heads(),
            num_layers: default_layers(),
            timesteps: default_timesteps(),
            mem_len: default_mem_len(),
            nucleus_prob: default_nucleus_prob(),
            channel_multiplier: 1.0,
            depth_multiplier: 1.0,
            pooling_dropout: default_pooling_dropout(),
        }
    }

    /// The tiny network of the golden parity data (`tiny_rocket_train.json`): hidden 8,
    /// 2 heads, 2 blocks, 4 timesteps, memory 8, EfficientNet-B0 at width 0.125, depth 0.5, no
    /// dropout.
    pub fn tiny() -> Self {
        Self {
            hiddim: 8,
            num_heads: 2,
            num_layers: 2,
            timesteps: 4,
            mem_len: 8,
            channel_multiplier: 0.125,
            depth_multiplier: 0.5,
            // The golden run switches dropout off to be deterministic.
            pooling_dropout: 0.0,
            ..Self::rocket_1()
        }
    }

    /// A ROCKET-1 that trains on a CPU in seconds (the `rocket` example): hidden 128, 4
    /// heads, 2 blocks over 16 timesteps with 16 memory slots, EfficientNet-B0 at width 0.25
    /// and depth 0.25 (one block per stage).
    pub fn small_cpu() -> Self {
        Self {
            hiddim: 128,
            num_heads: 4,
            num_layers: 2,
            timesteps: 16,
            mem_len: 16,
            channel_multiplier: 0.25,
            depth_multiplier: 0.25,
            ..Self::rocket_1()
        }
    }

    /// The backbone: timm's EfficientNet-B0 with 4 input channels (RGB and the object
    /// mask), the multipliers, and the normalization of the name's pretrained tag.
    pub fn backbone_architecture(&self) -> Result<EfficientNetArchitecture, RocketConfigError> {
        let timm = TimmBackboneConfig {
            channel_multiplier: Some(self.channel_multiplier),
            depth_multiplier: Some(self.depth_multiplier),
            ..TimmBackboneConfig::named(&self.backbone)
        };
        if timm.model() != EFFICIENTNET_B0_MODEL {
            return Err(RocketConfigError::Backbone(self.backbone.clone()));
        }
        match timm.resolve().map_err(RocketConfigError::Invalid)? {
            TimmArchitecture::EfficientNet(arch) => Ok(EfficientNetArchitecture {
                in_chans: 4,
                ..arch
            }),
            TimmArchitecture::Vit(_) => Err(RocketConfigError::Backbone(self.backbone.clone())),
        }
    }

    /// Checks that the network can be built.
    pub fn validate(&self) -> Result<(), RocketConfigError> {
        self.backbone_architecture()?;
        let sizes = [
            ("hiddim", self.hiddim),
            ("num_heads", self.num_heads),
            ("num_layers", self.num_layers),
            ("timesteps", self.timesteps),
            ("mem_len", self.mem_len),
        ];
        if let Some((name, _)) = sizes.iter().find(|(_, v)| *v == 0) {
            return Err(RocketConfigError::Invalid(format!(
                "{name} must be at least 1"
            )));
        }
        if !self.hiddim.is_multiple_of(self.num_heads) {
            return Err(RocketConfigError::Invalid(format!(
                "num_heads = {} must divide hiddim = {}",
                self.num_heads, self.hiddim
            )));
        }
        for (name, m) in [
            ("channel_multiplier", self.channel_multiplier),
            ("depth_multiplier", self.depth_multiplier),
        ] {
            if !valid_multiplier(m) {
                return Err(RocketConfigError::Invalid(format!(
                    "{name} = {m} must be a positive number (1 for the published EfficientNet-B0)"
                )));
            }
        }
        if !(0.0..1.0).contains(&self.pooling_dropout) {
            return Err(RocketConfigError::Invalid(format!(
                "pooling_dropout = {} must be at least 0 and below 1 (0.1 as in MineStudio)",
                self.pooling_dropout
            )));
        }
        Ok(())
    }

    /// The VPT recurrence settings of the TransformerXL blocks (MineStudio's
    /// `ResidualRecurrentBlocks` arguments in `RocketPolicy.__init__`).
    pub fn recurrence(&self) -> VptConfig {
        VptConfig {
            hidsize: self.hiddim,
            attention_heads: self.num_heads,
            attention_memory_size: self.mem_len + self.timesteps,
            timesteps: self.timesteps,
            n_recurrence_layers: self.num_layers,
            use_pointwise_layer: true,
            pointwise_ratio: 4,
            pointwise_use_activation: false,
            recurrence_is_residual: true,
            ..VptConfig::tiny()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minestudio_arguments_deserialize_and_typos_are_named() {
        let json = r#"{"backbone": "efficientnet_b0.ra_in1k", "hiddim": 8, "num_heads": 2,
            "num_layers": 2, "timesteps": 4, "mem_len": 8}"#;
        let config: RocketConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.hiddim, 8);
        assert_eq!(config.channel_multiplier, 1.0);
        config.validate().unwrap();
        let error = serde_json::from_str::<RocketConfig>(r#"{"hidim": 8}"#).unwrap_err();
        assert!(error.to_string().contains("hidim"), "{error}");
    }

    #[test]
    fn other_backbones_and_bad_sizes_are_refused() {
        let vit = RocketConfig {
            backbone: "timm/vit_base_patch16_224.dino".into(),
            ..RocketConfig::tiny()
        };
        assert!(
            vit.validate()
                .unwrap_err()
                .to_string()
                .contains("vit_base_patch16_224")
        );
        let timm = RocketConfig {
            backbone: "timm/efficientnet_b0.ra_in1k".into(),
            ..RocketConfig::tiny()
        };
        timm.validate().unwrap();
        let heads = RocketConfig {
            num_heads: 3,
            ..RocketConfig::tiny()
        };
        assert!(
            heads
                .validate()
                .unwrap_err()
                .to_string()
                .contains("num_heads = 3")
        );
    }
}
