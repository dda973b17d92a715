//! Validation of a [`GrootConfig`]: every field checked, errors naming the first bad one as it
//! is written in the configuration (`video_encoder.heads` for ours,
//! `video_encoder_kwargs.num_heads` for MineStudio's).

use thiserror::Error;

use super::config::{
    BackboneConfig, FUSER_HEADS, GrootConfig, MineStudioGrootConfig, ScratchGrootConfig,
};
use crate::policies::timm::efficientnet::config::valid_multiplier;
use crate::policies::timm::{EfficientNetArchitecture, TimmArchitecture, VitArchitecture};

/// A [`GrootConfig`] field holds a value the network cannot be built with.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum GrootConfigError {
    /// A field is out of range or does not fit another field.
    #[error("GROOT config: `{field}` = {value} is invalid: it {requirement}")]
    InvalidField {
        /// Dotted name of the field, as written in the configuration file.
        field: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What a valid value looks like.
        requirement: String,
    },
}

fn invalid(
    field: &'static str,
    value: impl std::fmt::Debug,
    requirement: impl Into<String>,
) -> GrootConfigError {
    GrootConfigError::InvalidField {
        field,
        value: format!("{value:?}"),
        requirement: requirement.into(),
    }
}

/// The checks both vocabularies share, on fields named as each writes them.
struct Parts<'a> {
    hiddim: usize,
    /// Attention heads, each of which must divide `hiddim`.
    heads: &'a [(&'static str, usize)],
    /// Dropout probabilities, each in `[0, 1)`.
    dropouts: &'a [(&'static str, f64)],
    /// Sizes that must be at least 1.
    counts: &'a [(&'static str, usize)],
}

impl Parts<'_> {
    fn validate(&self) -> Result<(), GrootConfigError> {
        if self.hiddim == 0 {
            return Err(invalid("hiddim", self.hiddim, "must be >= 1"));
        }
        let e = self.hiddim;
        for &(field, heads) in self.heads {
            if heads == 0 || !e.is_multiple_of(heads) {
                return Err(invalid(
                    field,
                    heads,
                    format!("must be >= 1 and divide hiddim = {e}"),
                ));
            }
        }
        for &(field, p) in self.dropouts {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err(invalid(field, p, "must be in [0, 1)"));
            }
        }
        for &(field, n) in self.counts {
            if n == 0 {
                return Err(invalid(field, n, "must be >= 1"));
            }
        }
        Ok(())
    }
}

impl GrootConfig {
    /// Checks every field, returning the first invalid one.
    pub fn validate(&self) -> Result<(), GrootConfigError> {
        match self {
            Self::MineStudio(config) => config.validate(),
            Self::Scratch(config) => config.validate(),
        }
    }
}

impl MineStudioGrootConfig {
    /// Checks every field, returning the first invalid one.
    pub fn validate(&self) -> Result<(), GrootConfigError> {
        let timm = self.backbone.resolve().map_err(|message| {
            invalid(
                "backbone",
                &self.backbone.name,
                format!("names no backbone: {message}"),
            )
        })?;
        match &timm {
            TimmArchitecture::Vit(vit) => validate_vit(vit)?,
            TimmArchitecture::EfficientNet(net) => validate_efficientnet(net)?,
        }
        if !self.hiddim.is_multiple_of(FUSER_HEADS) {
            return Err(invalid(
                "hiddim",
                self.hiddim,
                format!(
                    "must be a multiple of {FUSER_HEADS}: MineStudio's fuser has {FUSER_HEADS} attention heads"
                ),
            ));
        }
        if let Some(space) = self.action_space.as_ref().filter(|space| !space.is_null()) {
            return Err(invalid(
                "action_space",
                space,
                "must be null: only VPT's default action space (8641 button and 121 camera \
                 classes) is supported",
            ));
        }
        let (video, image, decoder) = (
            &self.video_encoder_kwargs,
            &self.image_encoder_kwargs,
            &self.decoder_kwargs,
        );
        Parts {
            hiddim: self.hiddim,
            heads: &[
                ("video_encoder_kwargs.num_heads", video.num_heads),
                ("image_encoder_kwargs.num_heads", image.num_heads),
                ("decoder_kwargs.num_heads", decoder.num_heads),
            ],
            dropouts: &[
                ("video_encoder_kwargs.dropout", video.dropout),
                ("image_encoder_kwargs.dropout", image.dropout),
                ("fuser_dropout", self.fuser_dropout),
            ],
            counts: &[
                ("decoder_kwargs.num_layers", decoder.num_layers),
                ("decoder_kwargs.timesteps", decoder.timesteps),
                ("decoder_kwargs.mem_len", decoder.mem_len),
            ],
        }
        .validate()
    }
}

/// A timm ViT's resizing arguments.
fn validate_vit(vit: &VitArchitecture) -> Result<(), GrootConfigError> {
    if vit.patch_size == 0 || vit.img_size == 0 || !vit.img_size.is_multiple_of(vit.patch_size) {
        return Err(invalid(
            "backbone.patch_size",
            vit.patch_size,
            format!(
                "must be >= 1 and divide backbone.img_size = {}",
                vit.img_size
            ),
        ));
    }
    if vit.num_heads == 0 || !vit.embed_dim.is_multiple_of(vit.num_heads) {
        return Err(invalid(
            "backbone.num_heads",
            vit.num_heads,
            format!(
                "must be >= 1 and divide backbone.embed_dim = {}",
                vit.embed_dim
            ),
        ));
    }
    for (field, n) in [
        ("backbone.embed_dim", vit.embed_dim),
        ("backbone.depth", vit.depth),
    ] {
        if n == 0 {
            return Err(invalid(field, n, "must be >= 1"));
        }
    }
    if !(vit.mlp_ratio.is_finite() && vit.mlp_hidden() >= 1) {
        return Err(invalid(
            "backbone.mlp_ratio",
            vit.mlp_ratio,
            "must be a finite number giving an MLP width >= 1",
        ));
    }
    Ok(())
}

/// EfficientNet's frame size and multipliers.
fn validate_efficientnet(net: &EfficientNetArchitecture) -> Result<(), GrootConfigError> {
    if net.img_size == 0 {
        return Err(invalid("backbone.img_size", net.img_size, "must be >= 1"));
    }
    for (field, m) in [
        ("backbone.channel_multiplier", net.channel_multiplier),
        ("backbone.depth_multiplier", net.depth_multiplier),
    ] {
        if !valid_multiplier(m) {
            return Err(invalid(
                field,
                m,
                "must be a finite number > 0 (1 for the published EfficientNet-B0)",
            ));
        }
    }
    Ok(())
}

impl ScratchGrootConfig {
    /// Checks every field, returning the first invalid one.
    pub fn validate(&self) -> Result<(), GrootConfigError> {
        if self.img_shape.contains(&0) {
            return Err(invalid(
                "img_shape",
                self.img_shape,
                "must have no zero side",
            ));
        }
        if self.hiddim == 0 {
            return Err(invalid("hiddim", self.hiddim, "must be >= 1"));
        }
        self.validate_backbone()?;
        let channels = self.img_shape[2];
        for (field, values) in [
            ("pixel_mean", &self.pixel_mean),
            ("pixel_std", &self.pixel_std),
        ] {
            if values.len() != channels || values.iter().any(|v| !v.is_finite()) {
                return Err(invalid(
                    field,
                    values,
                    format!("must hold {channels} finite numbers, one per image channel"),
                ));
            }
        }
        if self.pixel_std.iter().any(|s| *s <= 0.0) {
            return Err(invalid(
                "pixel_std",
                &self.pixel_std,
                "must be > 0 everywhere",
            ));
        }
        let (video, image, fuser, decoder) = (
            &self.video_encoder,
            &self.image_encoder,
            &self.fuser,
            &self.decoder,
        );
        Parts {
            hiddim: self.hiddim,
            heads: &[
                ("video_encoder.heads", video.heads),
                ("image_encoder.heads", image.heads),
                ("fuser.heads", fuser.heads),
                ("decoder.heads", decoder.heads),
            ],
            dropouts: &[
                ("video_encoder.dropout", video.dropout),
                ("image_encoder.dropout", image.dropout),
                ("fuser.dropout", fuser.dropout),
            ],
            counts: &[
                ("decoder.layers", decoder.layers),
                ("decoder.timesteps", decoder.timesteps),
                ("decoder.mem_len", decoder.mem_len),
            ],
        }
        .validate()?;
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(invalid(
                "temperature",
                self.temperature,
                "must be a finite number > 0",
            ));
        }
        Ok(())
    }

    fn validate_backbone(&self) -> Result<(), GrootConfigError> {
        let [h, w, _] = self.img_shape;
        match &self.backbone {
            BackboneConfig::Vit(vit) => {
                if vit.patch_size == 0
                    || !h.is_multiple_of(vit.patch_size)
                    || !w.is_multiple_of(vit.patch_size)
                {
                    return Err(invalid(
                        "backbone.patch_size",
                        vit.patch_size,
                        format!("must be >= 1 and divide the image height {h} and width {w}"),
                    ));
                }
                if vit.width == 0 {
                    return Err(invalid("backbone.width", vit.width, "must be >= 1"));
                }
                if vit.heads == 0 || !vit.width.is_multiple_of(vit.heads) {
                    return Err(invalid(
                        "backbone.heads",
                        vit.heads,
                        format!("must be >= 1 and divide backbone.width = {}", vit.width),
                    ));
                }
                if vit.mlp_ratio == 0 {
                    return Err(invalid("backbone.mlp_ratio", vit.mlp_ratio, "must be >= 1"));
                }
            }
            BackboneConfig::Impala(impala) => {
                if impala.chans.is_empty() || impala.chans.contains(&0) {
                    return Err(invalid(
                        "backbone.chans",
                        &impala.chans,
                        "must list at least one non-zero channel count",
                    ));
                }
                if let Some(groups) = impala.group_norm_groups
                    && (groups == 0 || impala.chans.iter().any(|c| !c.is_multiple_of(groups)))
                {
                    return Err(invalid(
                        "backbone.group_norm_groups",
                        groups,
                        format!(
                            "must be >= 1 and divide every entry of backbone.chans {:?}",
                            impala.chans
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
