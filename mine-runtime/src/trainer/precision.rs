//! The float precision of a run (`trainer.precision`), with Lightning's meanings.
//!
//! - `"f32"` (default): every float is f32.
//! - `"bf16-mixed"`, or `"bf16"` as Lightning spells it: bf16 mixed precision, Lightning's
//!   `precision="bf16"` (`torch.autocast(dtype=torch.bfloat16)`). Parameters, gradients, AdamW
//!   moments and the gradient norm stay f32; inside the forward (training and validation) the
//!   linear layers, convolutions and attention matmuls run on bf16 inputs (accumulating in f32
//!   inside the kernel) and return bf16 activations, while normalizations, softmax and
//!   log-softmax, the policies' outputs and the losses are f32. See
//!   [`kernels::autocast`](crate::kernels::autocast).
//! - `"bf16-pure"` (Lightning's `"bf16-true"`, also accepted): bf16 as the device's default
//!   float type, so everything is bf16, parameters and AdamW moments included.
//!
//! Both bf16 settings need a device that reports bf16 arithmetic (burn's `supports_dtype`):
//! burn 0.22's `flex` CPU backend does (bf16 matmuls and convolutions computed through f32), and
//! so does CUDA (natively from Ampere on). Our `wgpu` feature compiles WGSL shaders, which have
//! no bf16 type, so every wgpu adapter is refused (burn's SPIR-V `vulkan` path has bf16 storage
//! and conversions but no arithmetic; its `metal` path has bf16). A device without it is
//! refused when the device is created, naming the setting and the fix.

use std::fmt;

use burn::tensor::{Device, FloatDType};
use serde::{Deserialize, Serialize};

use crate::trainer::backend::{Backend, BackendError};

/// Float precision of a run; see the [module documentation](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Precision {
    /// 32-bit floats everywhere (the default).
    #[default]
    F32,
    /// bf16 mixed precision (`"bf16-mixed"` or `"bf16"`): f32 weights, gradients and optimizer
    /// state, bf16 matrix inputs and activations inside the forward.
    Bf16Mixed,
    /// bf16 everywhere (`"bf16-pure"` or `"bf16-true"`): bf16 is the device's default float type.
    Bf16Pure,
}

impl Precision {
    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16Mixed => "bf16-mixed",
            Precision::Bf16Pure => "bf16-pure",
        }
    }

    /// The dtype of the autocast scope the trainer opens around each forward (`bf16-mixed`),
    /// or `None` (no autocast: every operation computes in its inputs' dtype).
    ///
    /// ```
    /// use burn::tensor::FloatDType;
    /// use mine_runtime::trainer::backend::Precision;
    ///
    /// assert_eq!(Precision::Bf16Mixed.autocast(), Some(FloatDType::BF16));
    /// assert_eq!(Precision::Bf16Pure.autocast(), None);
    /// assert_eq!(Precision::F32.autocast(), None);
    /// ```
    pub fn autocast(self) -> Option<FloatDType> {
        match self {
            Precision::Bf16Mixed => Some(FloatDType::BF16),
            Precision::F32 | Precision::Bf16Pure => None,
        }
    }

    /// The device's default float type this precision sets, when not f32 (`bf16-pure`).
    pub fn default_float(self) -> Option<FloatDType> {
        match self {
            Precision::Bf16Pure => Some(FloatDType::BF16),
            Precision::F32 | Precision::Bf16Mixed => None,
        }
    }

    /// Whether the precision needs bf16 arithmetic on the device.
    pub fn needs_bf16(self) -> bool {
        self != Precision::F32
    }

    /// Checks that a device of `backend` can run this precision (`has_bf16`: whether it reports
    /// bf16 arithmetic). The error names `trainer.precision` and the fix.
    pub fn check_support(self, backend: Backend, has_bf16: bool) -> Result<(), BackendError> {
        if self.needs_bf16() && !has_bf16 {
            return Err(BackendError::PrecisionUnsupported {
                backend,
                precision: self,
            });
        }
        Ok(())
    }

    /// What to know before training in this precision on the CPU (`flex`), given whether the
    /// CPU has AVX512_BF16 (`has_bf16_dot`): without it, bf16-mixed computes the same values by
    /// rounding the operands for the f32 kernels, which is slower than f32 itself (the small
    /// VPT's step time 1.05-1.2x on an AMD EPYC Zen 3, 1.4-1.5x on a Zen 4 with the `vdpbf16ps`
    /// kernels turned off).
    ///
    /// ```
    /// use mine_runtime::trainer::backend::Precision;
    ///
    /// assert!(Precision::Bf16Mixed.cpu_note(false).is_some());
    /// assert!(Precision::Bf16Mixed.cpu_note(true).is_none());
    /// assert!(Precision::F32.cpu_note(false).is_none());
    /// ```
    pub fn cpu_note(self, has_bf16_dot: bool) -> Option<&'static str> {
        (self == Precision::Bf16Mixed && !has_bf16_dot).then_some(
            "`trainer.precision = \"bf16-mixed\"` on a CPU without AVX512_BF16: the \
             convolutions and linear layers round their operands to bf16 and run the f32 \
             kernels, which is slower than f32 training (1.05-1.4x the step time); set \
             `trainer.precision = \"f32\"` for speed, or keep bf16-mixed for its numerics",
        )
    }

    /// Checks `device` (of `backend`) for this precision and sets its default float type
    /// (`bf16-pure` only: `bf16-mixed` keeps f32 as the default, for the weights). Call it before
    /// creating any tensor on the device.
    pub fn configure(self, backend: Backend, mut device: Device) -> Result<Device, BackendError> {
        self.check_support(backend, device.supports_dtype(FloatDType::BF16))?;
        if backend == Backend::Flex
            && let Some(note) = self.cpu_note(crate::kernels::cpu::conv3x3::dpbf16::available())
        {
            tracing::warn!("{note}");
        }
        let Some(dtype) = self.default_float() else {
            return Ok(device);
        };
        match device.configure(dtype) {
            Ok(()) => Ok(device),
            // Configured before (by an earlier run in this process): fine if it is already bf16.
            Err(_) if device.settings().float_dtype == dtype => Ok(device),
            Err(e) => Err(BackendError::Device {
                backend,
                precision: self,
                reason: e.to_string(),
            }),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Precision {
    type Error = BackendError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "f32" => Ok(Precision::F32),
            "bf16-mixed" | "bf16" => Ok(Precision::Bf16Mixed),
            "bf16-pure" | "bf16-true" => Ok(Precision::Bf16Pure),
            _ => Err(BackendError::Unknown {
                field: "precision",
                value,
                known: "\"f32\", \"bf16-mixed\" (or \"bf16\"), \"bf16-pure\"",
            }),
        }
    }
}

impl From<Precision> for String {
    fn from(precision: Precision) -> Self {
        precision.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str) -> Result<Precision, BackendError> {
        Precision::try_from(name.to_owned())
    }

    #[test]
    fn bf16_means_mixed_as_in_lightning() {
        assert_eq!(parse("bf16").unwrap(), Precision::Bf16Mixed);
        assert_eq!(parse("bf16-mixed").unwrap(), Precision::Bf16Mixed);
        assert_eq!(parse("bf16-pure").unwrap(), Precision::Bf16Pure);
        assert_eq!(parse("bf16-true").unwrap(), Precision::Bf16Pure);
        assert_eq!(parse("f32").unwrap(), Precision::F32);
        // The canonical names round-trip; the aliases are written out canonically.
        for p in [Precision::F32, Precision::Bf16Mixed, Precision::Bf16Pure] {
            assert_eq!(parse(p.as_str()).unwrap(), p);
        }
        let err = parse("fp16").unwrap_err().to_string();
        assert!(err.contains("`precision` = \"fp16\" is not known"), "{err}");
        assert!(err.contains("\"bf16-mixed\""), "{err}");
    }

    #[test]
    fn a_device_without_bf16_is_refused_naming_the_setting_and_the_fix() {
        for precision in [Precision::Bf16Mixed, Precision::Bf16Pure] {
            let err = precision
                .check_support(Backend::Wgpu, false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("`trainer.precision` = \"{precision}\"")),
                "{err}"
            );
            assert!(err.contains("wgpu device"), "{err}");
            assert!(err.contains("`trainer.precision = \"f32\"`"), "{err}");
            assert!(precision.check_support(Backend::Wgpu, true).is_ok());
        }
        assert!(Precision::F32.check_support(Backend::Wgpu, false).is_ok());
    }

    #[cfg(feature = "flex")]
    #[test]
    fn flex_runs_bf16_mixed_with_an_f32_default() {
        let device = Precision::Bf16Mixed
            .configure(Backend::Flex, Device::flex())
            .unwrap();
        assert!(device.supports_dtype(FloatDType::BF16));
        // Mixed precision leaves the default float type alone (checked without locking it).
        assert_eq!(device.settings().float_dtype, FloatDType::F32);
    }
}
