//! timm backbones as MineStudio's policies create them (`timm.create_model(name,
//! pretrained=True, features_only=True)`), under timm's parameter names.
//!
//! - [`config`]: a backbone named as in timm (`"vit_base_patch32_clip_224.openai"`, optionally
//!   with `create_model` keyword arguments that resize it), resolved to its architecture and to
//!   the pixel mean/std of timm's pretrained configuration.
//! - [`vit`]: the Vision Transformer (`timm.models.vision_transformer.VisionTransformer`) as
//!   `features_only` wraps it: the last block's patch tokens as a feature map.

pub mod config;
pub mod vit;

pub use config::{
    OPENAI_CLIP_MEAN, OPENAI_CLIP_STD, TimmBackboneConfig, VitActivation, VitArchitecture,
};
pub use vit::VisionTransformer;
