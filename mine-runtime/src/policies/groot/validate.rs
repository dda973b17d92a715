//! Validation of a [`GrootConfig`]: every field checked, errors naming the first bad one.

use thiserror::Error;

use super::config::{BackboneConfig, GrootConfig};

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

impl GrootConfig {
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
        let e = self.hiddim;
        for (field, heads) in [
            ("video_encoder.heads", self.video_encoder.heads),
            ("image_encoder.heads", self.image_encoder.heads),
            ("fuser.heads", self.fuser.heads),
            ("decoder.heads", self.decoder.heads),
        ] {
            if heads == 0 || !e.is_multiple_of(heads) {
                return Err(invalid(
                    field,
                    heads,
                    format!("must be >= 1 and divide hiddim = {e}"),
                ));
            }
        }
        for (field, p) in [
            ("video_encoder.dropout", self.video_encoder.dropout),
            ("image_encoder.dropout", self.image_encoder.dropout),
            ("fuser.dropout", self.fuser.dropout),
        ] {
            if !(p.is_finite() && (0.0..1.0).contains(&p)) {
                return Err(invalid(field, p, "must be in [0, 1)"));
            }
        }
        for (field, n) in [
            ("decoder.layers", self.decoder.layers),
            ("decoder.timesteps", self.decoder.timesteps),
            ("decoder.mem_len", self.decoder.mem_len),
        ] {
            if n == 0 {
                return Err(invalid(field, n, "must be >= 1"));
            }
        }
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
