//! timm backbones as MineStudio's policies create them (`timm.create_model(name,
//! pretrained=True, features_only=True)`), under timm's parameter names.
//!
//! - [`config`]: a backbone named as in timm (`"vit_base_patch32_clip_224.openai"`,
//!   `"efficientnet_b0.ra_in1k"`, optionally with `create_model` keyword arguments that resize
//!   it), resolved to its architecture and to the pixel mean/std of timm's pretrained
//!   configuration.
//! - [`vit`]: the Vision Transformer (`timm.models.vision_transformer.VisionTransformer`) as
//!   `features_only` wraps it: the last block's patch tokens as a feature map.
//! - [`efficientnet`]: EfficientNet-B0 (`timm.models.efficientnet.EfficientNetFeatures`), the
//!   backbone of MineStudio's ROCKET-1 and its default for GROOT: the last stage's output.

pub mod config;
pub mod efficientnet;
pub mod vit;

pub use config::{
    OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TimmArchitecture, TimmBackboneConfig, VitActivation,
    VitArchitecture,
};
pub use efficientnet::{EfficientNet, EfficientNetArchitecture, EfficientNetSpec};
pub use vit::VisionTransformer;
