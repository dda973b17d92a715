//! Clip-consistent video augmentation (MineStudio's `enable_video_aug`): one random draw per
//! window of colour jitter (brightness, contrast, saturation, hue, in a drawn order) and of an
//! affine warp (rotation, scale, shear about the centre), applied identically to every frame
//! of the window and, geometrically, to its segmentation masks. Off by default.
//!
//! MineStudio's `VideoAugmentation` replays one albumentations draw (`ColorJitter` then
//! `Affine`) over the frames; the ranges here default to its values. The draw depends on the
//! data config's `seed`, the epoch and the item, so a run is reproducible (and resumes
//! exactly) while every epoch sees other draws. Padding frames stay zero; the masks are
//! warped with the nearest pixel (they stay 0/1) and take no colour jitter.

pub mod affine;
pub mod color;

use serde::{Deserialize, Serialize};

use super::error::{DataError, DataResult};
use super::sample::Sample;
use super::synthetic::rng::SplitMix64;

pub use affine::{AffineDraw, Warp};
pub use color::ColorOp;

/// The ranges draws are taken from (uniformly, both ends included); the defaults are
/// MineStudio's `VideoAugmentation`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VideoAugConfig {
    /// Brightness factor.
    pub brightness: [f64; 2],
    /// Contrast factor.
    pub contrast: [f64; 2],
    /// Saturation factor.
    pub saturation: [f64; 2],
    /// Hue shift, in turns (-0.5..=0.5).
    pub hue: [f64; 2],
    /// Rotation in degrees.
    pub rotate: [f64; 2],
    /// Scale factor.
    pub scale: [f64; 2],
    /// Shear in degrees, drawn for x and y separately.
    pub shear: [f64; 2],
}

impl Default for VideoAugConfig {
    fn default() -> Self {
        Self {
            brightness: [0.8, 1.2],
            contrast: [0.8, 1.2],
            saturation: [0.8, 1.2],
            hue: [-0.1, 0.1],
            rotate: [-4.0, 2.0],
            scale: [0.98, 1.02],
            shear: [-2.0, 2.0],
        }
    }
}

impl VideoAugConfig {
    /// Ranges that change nothing (every draw is the identity).
    pub fn identity() -> Self {
        Self {
            brightness: [1.0, 1.0],
            contrast: [1.0, 1.0],
            saturation: [1.0, 1.0],
            hue: [0.0, 0.0],
            rotate: [0.0, 0.0],
            scale: [1.0, 1.0],
            shear: [0.0, 0.0],
        }
    }

    /// Checks the ranges; the message names the field.
    pub fn validate(&self) -> DataResult<()> {
        let fields = [
            ("brightness", self.brightness, 0.0, 10.0),
            ("contrast", self.contrast, 0.0, 10.0),
            ("saturation", self.saturation, 0.0, 10.0),
            ("hue", self.hue, -0.5, 0.5),
            ("rotate", self.rotate, -180.0, 180.0),
            ("scale", self.scale, 0.01, 100.0),
            ("shear", self.shear, -60.0, 60.0),
        ];
        for (name, [lo, hi], min, max) in fields {
            if !(lo.is_finite() && hi.is_finite() && min <= lo && lo <= hi && hi <= max) {
                return Err(DataError::Config(format!(
                    "`video_aug.{name}` = [{lo}, {hi}]: write [low, high] with {min} <= low <= \
                     high <= {max}"
                )));
            }
        }
        Ok(())
    }

    /// The draw of item `index` in `epoch` of a dataset seeded with `seed`.
    pub fn draw(&self, seed: u64, epoch: u64, index: usize) -> AugmentDraw {
        let mut rng =
            SplitMix64::for_episode(seed ^ epoch.wrapping_mul(0xA24B_AED4_963E_E407), index);
        let mut pick = |[lo, hi]: [f64; 2]| rng.uniform(lo, hi);
        let mut color = [
            ColorOp::Brightness(pick(self.brightness) as f32),
            ColorOp::Contrast(pick(self.contrast) as f32),
            ColorOp::Saturation(pick(self.saturation) as f32),
            ColorOp::Hue(pick(self.hue) as f32),
        ];
        let affine = AffineDraw {
            rotate: pick(self.rotate),
            scale: pick(self.scale),
            shear_x: pick(self.shear),
            shear_y: pick(self.shear),
        };
        // ColorJitter applies its four operations in a random order (Fisher-Yates).
        for i in (1..color.len()).rev() {
            let j = rng.range(0, i as i64) as usize;
            color.swap(i, j);
        }
        AugmentDraw { color, affine }
    }
}

/// One window's draw.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AugmentDraw {
    /// The colour operations, in the order applied.
    pub color: [ColorOp; 4],
    /// The geometric warp.
    pub affine: AffineDraw,
}

impl AugmentDraw {
    /// Applies the draw to one RGB24 frame (`width x height`), through `warp` (this draw's
    /// warp of that size, `None` when it is the identity).
    pub fn frame(&self, frame: &mut Vec<u8>, warp: Option<&Warp>) {
        for op in self.color {
            color::apply(op, frame);
        }
        if let Some(warp) = warp {
            *frame = warp.bilinear(frame, 3);
        }
    }

    /// The warp of `width x height` frames, `None` for the identity.
    pub fn warp(&self, width: usize, height: usize) -> Option<Warp> {
        (!self.affine.is_identity()).then(|| Warp::new(&self.affine, width, height))
    }

    /// Augments a sample's real frames and its segmentation masks in place.
    pub fn apply(&self, sample: &mut Sample) {
        if let Some(image) = &mut sample.image {
            let warp = self.warp(image.width, image.height);
            let n = image.width * image.height * 3;
            for (t, &real) in image.mask.clone().iter().enumerate() {
                if real == 1 {
                    let mut frame = image.frames[t * n..(t + 1) * n].to_vec();
                    self.frame(&mut frame, warp.as_ref());
                    image.frames[t * n..(t + 1) * n].copy_from_slice(&frame);
                }
            }
        }
        if let Some(seg) = &mut sample.segmentation {
            let Some(warp) = self.warp(seg.width, seg.height) else {
                return;
            };
            let n = seg.width * seg.height;
            for t in 0..seg.len() {
                let mask = &mut seg.obj_mask[t * n..(t + 1) * n];
                if mask.iter().any(|&v| v != 0) {
                    let warped = warp.nearest(mask);
                    mask.copy_from_slice(&warped);
                }
            }
        }
    }
}
