//! `efficientnet_b0` as a named timm backbone: the pretrained configurations timm 1.0.31
//! registers for it (pixel mean/std, input size) and the `_gen_efficientnet` multipliers that
//! resize it.

use super::arch::EfficientNetSpec;

/// The model name timm registers EfficientNet-B0 under.
pub const EFFICIENTNET_B0_MODEL: &str = "efficientnet_b0";
/// ImageNet's per-channel pixel mean (RGB, on 0..1 values): timm's `IMAGENET_DEFAULT_MEAN`.
pub const IMAGENET_DEFAULT_MEAN: [f64; 3] = [0.485, 0.456, 0.406];
/// ImageNet's per-channel pixel standard deviation: timm's `IMAGENET_DEFAULT_STD`.
pub const IMAGENET_DEFAULT_STD: [f64; 3] = [0.229, 0.224, 0.225];

/// timm's pretrained tags of `efficientnet_b0`, the default (an untagged name) first, with
/// their normalization: `(tag, mean, std)`; all take 224x224 images.
const B0_TAGS: [(&str, [f64; 3], [f64; 3]); 2] = [
    ("ra_in1k", IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD),
    ("ra4_e3600_r224_in1k", [0.5; 3], [0.5; 3]),
];

/// The side of the square images of B0's pretrained configurations (`input_size`).
const B0_INPUT_SIZE: usize = 224;

/// Everything an EfficientNet-B0 backbone is built from.
#[derive(Clone, Debug, PartialEq)]
pub struct EfficientNetArchitecture {
    /// Side of the square frames the policy takes (timm's `input_size`: 224; the network is
    /// convolutional and takes any size).
    pub img_size: usize,
    /// Input channels (3: RGB).
    pub in_chans: usize,
    /// Width multiplier (timm `channel_multiplier`, 1 for the published model).
    pub channel_multiplier: f64,
    /// Depth multiplier (timm `depth_multiplier`, 1 for the published model).
    pub depth_multiplier: f64,
    /// Pixel mean of timm's pretrained configuration (RGB, on 0..1 values).
    pub mean: [f64; 3],
    /// Pixel standard deviation of timm's pretrained configuration.
    pub std: [f64; 3],
}

impl EfficientNetArchitecture {
    /// EfficientNet-B0 with the pretrained configuration of `tag` (`None`: timm's default,
    /// `ra_in1k`) at multipliers 1; an error naming the tags timm knows otherwise.
    pub fn b0(tag: Option<&str>) -> Result<Self, String> {
        let tag = tag.unwrap_or(B0_TAGS[0].0);
        let Some(&(_, mean, std)) = B0_TAGS.iter().find(|entry| entry.0 == tag) else {
            let known: Vec<&str> = B0_TAGS.iter().map(|e| e.0).collect();
            return Err(format!(
                "`{EFFICIENTNET_B0_MODEL}.{tag}` is not a pretrained configuration timm has; \
                 use one of the tags {known:?} (or none: `{}`)",
                B0_TAGS[0].0
            ));
        };
        Ok(Self {
            img_size: B0_INPUT_SIZE,
            in_chans: 3,
            channel_multiplier: 1.0,
            depth_multiplier: 1.0,
            mean,
            std,
        })
    }

    /// The network's shape (stem and blocks).
    pub fn spec(&self) -> EfficientNetSpec {
        EfficientNetSpec::b0(
            self.in_chans,
            self.channel_multiplier,
            self.depth_multiplier,
        )
    }

    /// Side of the last feature map for `img_size` frames: five stride-2 stages, each
    /// rounding up (`k // 2` padding).
    pub fn grid(&self) -> usize {
        (0..5).fold(self.img_size, |side, _| side.div_ceil(2))
    }
}

/// Whether `m` is a usable multiplier (finite and positive).
pub fn valid_multiplier(m: f64) -> bool {
    m.is_finite() && m > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_give_timm_s_normalization_and_unknown_tags_are_named() {
        let default = EfficientNetArchitecture::b0(None).unwrap();
        assert_eq!(
            default,
            EfficientNetArchitecture::b0(Some("ra_in1k")).unwrap()
        );
        assert_eq!(default.mean, IMAGENET_DEFAULT_MEAN);
        assert_eq!((default.img_size, default.grid()), (224, 7));
        let ra4 = EfficientNetArchitecture::b0(Some("ra4_e3600_r224_in1k")).unwrap();
        assert_eq!(ra4.std, [0.5; 3]);
        let error = EfficientNetArchitecture::b0(Some("in22k")).unwrap_err();
        assert!(
            error.contains("efficientnet_b0.in22k") && error.contains("ra_in1k"),
            "{error}"
        );
    }

    #[test]
    fn the_feature_grid_rounds_up_at_every_stride() {
        let arch = EfficientNetArchitecture {
            img_size: 33,
            ..EfficientNetArchitecture::b0(None).unwrap()
        };
        // 33 -> 17 -> 9 -> 5 -> 3 -> 2, as timm's golden run shows.
        assert_eq!(arch.grid(), 2);
        assert_eq!(arch.spec().out_channels(), 320);
    }
}
