//! Configuration of the VPT action space (MineStudio's `ActionTransformer` and
//! `CameraHierarchicalMapping` keyword arguments).

use serde::{Deserialize, Serialize};

use super::ActionError;

/// Largest accepted `n_camera_bins` (the camera table has `n_camera_bins^2` classes).
pub const MAX_CAMERA_BINS: u32 = 1001;

/// How camera degrees are mapped to bins before linear quantization.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum QuantizationScheme {
    /// Mu-law companding (`sign(x) * ln(1 + mu |x|) / ln(1 + mu)` on `x / maxval`), finer bins
    /// near zero; VPT's choice.
    MuLaw,
    /// Uniform bins of `camera_binsize` degrees.
    Linear,
}

/// Parameters of the action space; [`ActionSpaceConfig::vpt`] (also `Default`) is VPT's.
///
/// Deserializes from e.g. TOML with `quantization_scheme = "mu_law"` or `"linear"`; missing
/// fields take VPT's values and unknown fields are rejected.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ActionSpaceConfig {
    /// Width of a camera bin in (companded) degrees. VPT: 2.
    pub camera_binsize: u32,
    /// Camera movements are clipped to `[-camera_maxval, camera_maxval]` degrees. VPT: 10.
    pub camera_maxval: u32,
    /// Mu of the mu-law companding (ignored by the linear scheme). VPT: 10.
    pub camera_mu: f64,
    /// The quantization scheme. VPT: [`QuantizationScheme::MuLaw`].
    pub quantization_scheme: QuantizationScheme,
    /// Bins per camera axis; must equal `2 * camera_maxval / camera_binsize + 1`. VPT: 11.
    pub n_camera_bins: u32,
}

impl ActionSpaceConfig {
    /// VPT's configuration: bin size 2, max 10 degrees, mu-law with mu 10, 11 bins per axis.
    pub const fn vpt() -> Self {
        Self {
            camera_binsize: 2,
            camera_maxval: 10,
            camera_mu: 10.0,
            quantization_scheme: QuantizationScheme::MuLaw,
            n_camera_bins: 11,
        }
    }

    /// Checks that the parameters describe a usable, symmetric action space.
    pub fn validate(&self) -> Result<(), ActionError> {
        let bad = |msg: String| Err(ActionError::InvalidConfig(msg));
        if self.camera_binsize == 0 {
            return bad("camera_binsize is 0; use a positive bin width such as 2".into());
        }
        if self.camera_maxval == 0 {
            return bad("camera_maxval is 0; use a positive clip value such as 10".into());
        }
        if !self.camera_maxval.is_multiple_of(self.camera_binsize) {
            return bad(format!(
                "camera_maxval ({}) is not a multiple of camera_binsize ({}); choose values where \
                 it is, so that zero movement falls on the centre bin",
                self.camera_maxval, self.camera_binsize
            ));
        }
        let expected = u64::from(self.camera_maxval / self.camera_binsize) * 2 + 1;
        if u64::from(self.n_camera_bins) != expected {
            return bad(format!(
                "n_camera_bins is {} but camera_maxval={} and camera_binsize={} produce {} bins; \
                 set n_camera_bins = 2 * camera_maxval / camera_binsize + 1 = {}",
                self.n_camera_bins, self.camera_maxval, self.camera_binsize, expected, expected
            ));
        }
        if self.n_camera_bins > MAX_CAMERA_BINS {
            return bad(format!(
                "n_camera_bins is {} (more than {MAX_CAMERA_BINS}); use a larger camera_binsize",
                self.n_camera_bins
            ));
        }
        if self.quantization_scheme == QuantizationScheme::MuLaw
            && !(self.camera_mu.is_finite() && self.camera_mu > 0.0)
        {
            return bad(format!(
                "camera_mu is {} but mu-law needs a finite mu > 0 (VPT uses 10)",
                self.camera_mu
            ));
        }
        Ok(())
    }
}

impl Default for ActionSpaceConfig {
    fn default() -> Self {
        Self::vpt()
    }
}
