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

/// The float type a camera movement was recorded in. MineStudio quantizes the recorded numpy
/// array as it is, so the type decides the rounding at a bin edge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CameraDType {
    /// float64, as MineStudio's converter stores the camera.
    #[default]
    F64,
    /// float32, as some datasets store it.
    F32,
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

    /// The bin of one camera component recorded as float32, with numpy's float32 arithmetic:
    /// MineStudio's expression on a float32 array clips, scales and takes the log in float32
    /// (Python numbers do not widen a float32 array), then divides by `np.log(1.0 + mu)`, a
    /// float64 scalar, so the rest runs in float64.
    pub fn discretize_f32(&self, degrees: f32) -> u32 {
        let degrees = if degrees.is_nan() { 0.0 } else { degrees };
        let maxval = self.maxval as f32;
        let xy = degrees.clamp(-maxval, maxval);
        let bin = if self.scheme == QuantizationScheme::MuLaw {
            let scaled = xy / maxval;
            let log = (1.0 + self.mu as f32 * scaled.abs()).ln();
            let sign = np_sign(f64::from(scaled));
            let encoded = sign * (f64::from(log) / (1.0 + self.mu).ln()) * self.maxval;
            ((encoded + self.maxval) / self.binsize).round_ties_even()
        } else {
            f64::from(((xy + maxval) / self.binsize as f32).round_ties_even())
        };
        bin as u32
    }

    /// The bin of a camera component recorded in `dtype` (see [`CameraDType`]).
    pub fn discretize_as(&self, degrees: f64, dtype: CameraDType) -> u32 {
        match dtype {
            CameraDType::F64 => self.discretize(degrees),
            CameraDType::F32 => self.discretize_f32(degrees as f32),
        }
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
