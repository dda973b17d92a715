//! A timm backbone by name: `"vit_base_patch32_clip_224.openai"` or `"efficientnet_b0.ra_in1k"`
//! (as MineStudio's configs write them, with or without timm's `timm/` Hub prefix), or a table
//! with the `name` and the `timm.create_model` keyword arguments that change the architecture,
//! as a test or a CPU-sized run shrinks the model:
//!
//! - a CLIP ViT: `img_size`, `patch_size`, `embed_dim`, `depth`, `num_heads`, `mlp_ratio`,
//!   `act_layer`, `class_token`, `pre_norm`;
//! - EfficientNet-B0: `channel_multiplier` and `depth_multiplier` (the arguments of timm's
//!   `_gen_efficientnet`, which `efficientnet_b0` fixes at 1), and `img_size`, the side of
//!   the frames (timm's pretrained `input_size`, 224; the network takes any size).
//!
//! ```
//! use mine_runtime::policies::timm::{TimmArchitecture, TimmBackboneConfig, VitActivation};
//!
//! let clip = TimmBackboneConfig::named("timm/vit_base_patch32_clip_224.openai").resolve()?;
//! let TimmArchitecture::Vit(vit) = &clip else { unreachable!() };
//! assert_eq!((vit.img_size, vit.patch_size, vit.embed_dim, vit.depth), (224, 32, 768, 12));
//! assert_eq!(vit.act_layer, VitActivation::Gelu); // timm's model, not OpenAI's QuickGELU
//!
//! let tiny: TimmBackboneConfig = toml::from_str(
//!     "name = 'vit_base_patch32_clip_224.openai'\nimg_size = 16\npatch_size = 4\nembed_dim = 16",
//! )?;
//! assert_eq!(tiny.resolve()?.feature_channels(), 16);
//!
//! let b0 = TimmBackboneConfig::named("efficientnet_b0.ra_in1k").resolve()?;
//! assert_eq!((b0.img_size(), b0.feature_grid(), b0.feature_channels()), (224, 7, 320));
//! assert_eq!(b0.mean(), [0.485, 0.456, 0.406]);
//! let error = toml::from_str::<TimmBackboneConfig>("name = 'efficientnet_b0'\npatch_size = 4")?
//!     .resolve()
//!     .unwrap_err();
//! assert!(error.contains("`patch_size`"), "{error}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::efficientnet::{EFFICIENTNET_B0_MODEL, EfficientNetArchitecture};

/// OpenAI CLIP's per-channel pixel mean (RGB, on 0..1 values): timm's `OPENAI_CLIP_MEAN`.
pub const OPENAI_CLIP_MEAN: [f64; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// OpenAI CLIP's per-channel pixel standard deviation: timm's `OPENAI_CLIP_STD`.
pub const OPENAI_CLIP_STD: [f64; 3] = [0.268_629_54, 0.261_302_58, 0.275_777_11];

/// The activation of a ViT's MLP (timm `act_layer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VitActivation {
    /// Exact (erf) GELU, timm's default.
    Gelu,
    /// `x * sigmoid(1.702 x)`, OpenAI CLIP's (timm's `*_clip_quickgelu_*` models).
    QuickGelu,
}

/// A timm backbone: its model name and the `create_model` arguments that resize it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimmBackboneConfig {
    /// timm's model name, with an optional pretrained tag (`.openai`) and `timm/` prefix.
    pub name: String,
    /// Side of the square input images (timm `img_size`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub img_size: Option<usize>,
    /// Side of the square patches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_size: Option<usize>,
    /// Token width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embed_dim: Option<usize>,
    /// Number of blocks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth: Option<usize>,
    /// Attention heads per block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_heads: Option<usize>,
    /// MLP hidden width as a multiple of `embed_dim`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mlp_ratio: Option<f64>,
    /// The MLP's activation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act_layer: Option<VitActivation>,
    /// Whether a class token is prepended (and dropped from the features).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class_token: Option<bool>,
    /// Whether a LayerNorm (`norm_pre`) follows the embeddings; it also drops the patch
    /// embedding's bias, as in timm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_norm: Option<bool>,
    /// EfficientNet's width multiplier (timm `channel_multiplier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel_multiplier: Option<f64>,
    /// EfficientNet's depth multiplier (timm `depth_multiplier`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub depth_multiplier: Option<f64>,
}

/// A resolved timm backbone: the architecture of one of the model families built here.
#[derive(Clone, Debug, PartialEq)]
pub enum TimmArchitecture {
    /// A CLIP ViT image tower.
    Vit(VitArchitecture),
    /// EfficientNet-B0.
    EfficientNet(EfficientNetArchitecture),
}

impl TimmArchitecture {
    /// Side of the square frames the backbone takes.
    pub fn img_size(&self) -> usize {
        match self {
            Self::Vit(vit) => vit.img_size,
            Self::EfficientNet(net) => net.img_size,
        }
    }

    /// Input channels.
    pub fn in_chans(&self) -> usize {
        match self {
            Self::Vit(vit) => vit.in_chans,
            Self::EfficientNet(net) => net.in_chans,
        }
    }

    /// Pixel mean of timm's pretrained configuration (RGB, on 0..1 values).
    pub fn mean(&self) -> [f64; 3] {
        match self {
            Self::Vit(vit) => vit.mean,
            Self::EfficientNet(net) => net.mean,
        }
    }

    /// Pixel standard deviation of timm's pretrained configuration.
    pub fn std(&self) -> [f64; 3] {
        match self {
            Self::Vit(vit) => vit.std,
            Self::EfficientNet(net) => net.std,
        }
    }

    /// Side of the last feature map (`features_only`'s last entry) for `img_size` frames.
    pub fn feature_grid(&self) -> usize {
        match self {
            Self::Vit(vit) => vit.grid(),
            Self::EfficientNet(net) => net.grid(),
        }
    }

    /// Channels of the last feature map (timm `feature_info[-1]['num_chs']`).
    pub fn feature_channels(&self) -> usize {
        match self {
            Self::Vit(vit) => vit.embed_dim,
            Self::EfficientNet(net) => net.spec().out_channels(),
        }
    }
}

/// Everything the ViT is built from, after the name's defaults and the arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct VitArchitecture {
    /// Side of the square input images.
    pub img_size: usize,
    /// Side of the square patches.
    pub patch_size: usize,
    /// Input channels (3: RGB).
    pub in_chans: usize,
    /// Token width.
    pub embed_dim: usize,
    /// Number of blocks.
    pub depth: usize,
    /// Attention heads per block.
    pub num_heads: usize,
    /// MLP hidden width as a multiple of `embed_dim`.
    pub mlp_ratio: f64,
    /// The MLP's activation.
    pub act_layer: VitActivation,
    /// Whether a class token is prepended.
    pub class_token: bool,
    /// Whether `norm_pre` exists (and the patch embedding has no bias).
    pub pre_norm: bool,
    /// Epsilon of every LayerNorm.
    pub norm_eps: f64,
    /// Pixel mean of timm's pretrained configuration (RGB, on 0..1 values).
    pub mean: [f64; 3],
    /// Pixel standard deviation of timm's pretrained configuration.
    pub std: [f64; 3],
}

impl VitArchitecture {
    /// Side of the patch grid (the feature map is `grid x grid`).
    pub fn grid(&self) -> usize {
        self.img_size / self.patch_size.max(1)
    }

    /// Hidden width of the MLPs (`int(embed_dim * mlp_ratio)`, as timm).
    pub fn mlp_hidden(&self) -> usize {
        (self.embed_dim as f64 * self.mlp_ratio) as usize
    }
}

/// The CLIP image towers timm registers (`timm.models.vision_transformer`):
/// `(model, patch_size, embed_dim, depth, num_heads, act_layer)`; all take 224x224 images,
/// pre-norm, a class token and LayerNorm eps 1e-5.
const CLIP_VITS: [(&str, usize, usize, usize, usize, VitActivation); 6] = [
    (
        "vit_base_patch32_clip_224",
        32,
        768,
        12,
        12,
        VitActivation::Gelu,
    ),
    (
        "vit_base_patch16_clip_224",
        16,
        768,
        12,
        12,
        VitActivation::Gelu,
    ),
    (
        "vit_large_patch14_clip_224",
        14,
        1024,
        24,
        16,
        VitActivation::Gelu,
    ),
    (
        "vit_base_patch32_clip_quickgelu_224",
        32,
        768,
        12,
        12,
        VitActivation::QuickGelu,
    ),
    (
        "vit_base_patch16_clip_quickgelu_224",
        16,
        768,
        12,
        12,
        VitActivation::QuickGelu,
    ),
    (
        "vit_large_patch14_clip_quickgelu_224",
        14,
        1024,
        24,
        16,
        VitActivation::QuickGelu,
    ),
];

impl TimmBackboneConfig {
    /// The model `name` at its registered size.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            ..Self::default()
        }
    }

    /// Whether any argument changes the named model's architecture.
    pub fn is_resized(&self) -> bool {
        *self != Self::named(&self.name)
    }

    /// The model name without the `timm/` (or `hf-hub:timm/`) prefix and without the tag.
    pub fn model(&self) -> &str {
        let name = self.name.trim_start_matches("hf-hub:");
        let name = name.strip_prefix("timm/").unwrap_or(name);
        name.split('.').next().unwrap_or(name)
    }

    /// The pretrained tag after the model name (`openai`), if any.
    pub fn tag(&self) -> Option<&str> {
        self.name.split_once('.').map(|(_, tag)| tag)
    }

    /// The architecture: the named model's, with the arguments applied. An error (a sentence
    /// naming the model or argument and what to use instead) for a model this program does
    /// not build or an argument the model does not take.
    pub fn resolve(&self) -> Result<TimmArchitecture, String> {
        let model = self.model();
        if model == EFFICIENTNET_B0_MODEL {
            return self
                .resolve_efficientnet()
                .map(TimmArchitecture::EfficientNet);
        }
        let Some(&(_, patch, dim, depth, heads, act)) =
            CLIP_VITS.iter().find(|entry| entry.0 == model)
        else {
            let mut known: Vec<&str> = CLIP_VITS.iter().map(|e| e.0).collect();
            known.push(EFFICIENTNET_B0_MODEL);
            return Err(format!(
                "`{}` is not a timm backbone this program builds; use one of {known:?}, \
                 optionally with a pretrained tag (`.openai`, `.ra_in1k`) and resized with \
                 create_model arguments (a ViT's img_size, patch_size, embed_dim, depth, \
                 num_heads, mlp_ratio, act_layer, class_token, pre_norm; EfficientNet's \
                 channel_multiplier, depth_multiplier and img_size)",
                self.name
            ));
        };
        self.refuse(
            &[
                ("channel_multiplier", self.channel_multiplier.is_some()),
                ("depth_multiplier", self.depth_multiplier.is_some()),
            ],
            "img_size, patch_size, embed_dim, depth, num_heads, mlp_ratio, act_layer, \
             class_token, pre_norm",
        )?;
        // timm's pretrained configurations: OpenAI's CLIP normalization, except LAION-2B's
        // ViT-L/14, trained on (0.5, 0.5, 0.5).
        let laion_large = model == "vit_large_patch14_clip_224"
            && self.tag().is_some_and(|t| t.starts_with("laion2b"));
        let (mean, std) = if laion_large {
            ([0.5; 3], [0.5; 3])
        } else {
            (OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)
        };
        Ok(TimmArchitecture::Vit(VitArchitecture {
            img_size: self.img_size.unwrap_or(224),
            patch_size: self.patch_size.unwrap_or(patch),
            in_chans: 3,
            embed_dim: self.embed_dim.unwrap_or(dim),
            depth: self.depth.unwrap_or(depth),
            num_heads: self.num_heads.unwrap_or(heads),
            mlp_ratio: self.mlp_ratio.unwrap_or(4.0),
            act_layer: self.act_layer.unwrap_or(act),
            class_token: self.class_token.unwrap_or(true),
            pre_norm: self.pre_norm.unwrap_or(true),
            norm_eps: 1e-5,
            mean,
            std,
        }))
    }

    /// EfficientNet-B0 with its tag's normalization, the multipliers and the frame size.
    fn resolve_efficientnet(&self) -> Result<EfficientNetArchitecture, String> {
        self.refuse(
            &[
                ("patch_size", self.patch_size.is_some()),
                ("embed_dim", self.embed_dim.is_some()),
                ("depth", self.depth.is_some()),
                ("num_heads", self.num_heads.is_some()),
                ("mlp_ratio", self.mlp_ratio.is_some()),
                ("act_layer", self.act_layer.is_some()),
                ("class_token", self.class_token.is_some()),
                ("pre_norm", self.pre_norm.is_some()),
            ],
            "channel_multiplier, depth_multiplier, img_size",
        )?;
        let b0 = EfficientNetArchitecture::b0(self.tag())?;
        Ok(EfficientNetArchitecture {
            img_size: self.img_size.unwrap_or(b0.img_size),
            channel_multiplier: self.channel_multiplier.unwrap_or(1.0),
            depth_multiplier: self.depth_multiplier.unwrap_or(1.0),
            ..b0
        })
    }

    /// An error naming the first of `arguments` that is set: the model does not take it.
    fn refuse(&self, arguments: &[(&str, bool)], takes: &str) -> Result<(), String> {
        match arguments.iter().find(|(_, set)| *set) {
            Some((argument, _)) => Err(format!(
                "backbone `{}` takes no `{argument}` argument: its resizing arguments are \
                 {takes}",
                self.name
            )),
            None => Ok(()),
        }
    }
}

/// Writes the bare name when nothing resizes the model (what MineStudio's `config.json`
/// holds), the table otherwise.
pub fn serialize_name_or_table<S: Serializer>(
    config: &TimmBackboneConfig,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    if config.is_resized() {
        config.serialize(serializer)
    } else {
        serializer.serialize_str(&config.name)
    }
}

/// Reads a model name or a table with `name` and `create_model` arguments.
pub fn deserialize_name_or_table<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<TimmBackboneConfig, D::Error> {
    struct NameOrTable;

    impl<'de> Visitor<'de> for NameOrTable {
        type Value = TimmBackboneConfig;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(
                "a timm model name (\"vit_base_patch32_clip_224.openai\") or a table with its \
                 `name` and create_model arguments",
            )
        }

        fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
            Ok(TimmBackboneConfig::named(name))
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            TimmBackboneConfig::deserialize(de::value::MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_any(NameOrTable)
}
