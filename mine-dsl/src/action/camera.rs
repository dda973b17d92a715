//! The camera quantizer: degrees <-> bins (MineStudio's `CameraQuantizer`).

use super::{ActionSpaceConfig, QuantizationScheme};

/// Discretizes camera movements (degrees) into bins and back.
///
/// Both directions follow MineStudio's float64 arithmetic step by step, including numpy's
/// round-half-to-even, so bins match the original exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CameraQuantizer {
    maxval: f64,
    binsize: f64,
    mu: f64,
    scheme: QuantizationScheme,
}

/// numpy's `sign`: 0 for zero (Rust's `signum` gives +-1 there) and NaN for NaN.
fn np_sign(x: f64) -> f64 {
    if x > 0.0 {
        1.0
    } else if x < 0.0 {
        -1.0
    } else {
        x
    }
}

impl CameraQuantizer {
    /// The quantizer of a configuration (assumed validated).
    pub fn new(config: &ActionSpaceConfig) -> Self {
        Self {
            maxval: f64::from(config.camera_maxval),
            binsize: f64::from(config.camera_binsize),
            mu: config.camera_mu,
            scheme: config.quantization_scheme,
        }
    }

    /// The bin of one camera component in degrees.
    ///
    /// Values are clipped to `[-maxval, maxval]`; a NaN component counts as no movement.
    pub fn discretize(&self, degrees: f64) -> u32 {
        let degrees = if degrees.is_nan() { 0.0 } else { degrees };
        let mut xy = degrees.clamp(-self.maxval, self.maxval);
        if self.scheme == QuantizationScheme::MuLaw {
            xy /= self.maxval;
            let mut encoded =
                np_sign(xy) * ((1.0 + self.mu * xy.abs()).ln() / (1.0 + self.mu).ln());
            encoded *= self.maxval;
            xy = encoded;
        }
        let bin = ((xy + self.maxval) / self.binsize).round_ties_even();
        // In range 0..=2*maxval/binsize after clipping, so the cast is exact.
        bin as u32
    }

    /// The centre of a bin in degrees (MineStudio's `undiscretize`).
    pub fn undiscretize(&self, bin: u32) -> f64 {
        // Integer arithmetic as numpy does on int64 bins, then float.
        let offset = i64::from(bin) * self.binsize as i64 - self.maxval as i64;
        let mut xy = offset as f64;
        if self.scheme == QuantizationScheme::MuLaw {
            xy /= self.maxval;
            let mut decoded =
                np_sign(xy) * (1.0 / self.mu) * ((1.0 + self.mu).powf(xy.abs()) - 1.0);
            decoded *= self.maxval;
            xy = decoded;
        }
        xy
    }
}
