//! Which burn backend a run uses, and in which float precision.
//!
//! The trainer is one generic program: the backend is chosen at run time by the configuration
//! (`backend = "flex" | "cuda" | "wgpu"`), among those compiled in by the cargo features of the
//! same names. `flex` (CPU) is the default feature.

use std::fmt;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// A burn backend the trainer can run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Backend {
    /// burn's CPU backend (cargo feature `flex`, on by default).
    #[default]
    Flex,
    /// NVIDIA GPUs through CUDA (cargo feature `cuda`).
    Cuda,
    /// GPUs through wgpu: Vulkan, Metal, DirectX, WebGPU (cargo feature `wgpu`).
    Wgpu,
}

/// Float precision of parameters and activations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Precision {
    /// 32-bit floats everywhere (the default, and the only choice on `flex` and `wgpu`).
    #[default]
    F32,
    /// bfloat16 as the default float type of the device (CUDA only).
    Bf16,
}

/// The backend or precision of the configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The configuration names a backend or precision that does not exist.
    #[error("`{field}` = \"{value}\" is not known: use one of {known}")]
    Unknown {
        /// The configuration field.
        field: &'static str,
        /// The rejected value.
        value: String,
        /// The accepted values.
        known: &'static str,
    },
    /// The backend exists but this build does not include it.
    #[error(
        "`backend` = \"{backend}\" is not compiled into this build: rebuild with \
         `--features {backend}` (e.g. `cargo run --release --features {backend}`)"
    )]
    NotCompiled {
        /// The backend's name, which is also its cargo feature.
        backend: Backend,
    },
    /// The precision is not available on the backend.
    #[error(
        "`precision` = \"{precision}\" is not supported with `backend` = \"{backend}\": \
         bf16 needs `backend = \"cuda\"`; use `precision = \"f32\"`"
    )]
    PrecisionUnsupported {
        /// The backend.
        backend: Backend,
        /// The precision asked for.
        precision: Precision,
    },
    /// The device refused the precision.
    #[error("the {backend} device cannot use `precision` = \"{precision}\": {reason}")]
    Device {
        /// The backend.
        backend: Backend,
        /// The precision asked for.
        precision: Precision,
        /// What burn reported.
        reason: String,
    },
}

impl Backend {
    /// The name used in configuration files and as the cargo feature.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Flex => "flex",
            Backend::Cuda => "cuda",
            Backend::Wgpu => "wgpu",
        }
    }

    /// Whether this build includes the backend.
    pub fn is_compiled(self) -> bool {
        match self {
            Backend::Flex => cfg!(feature = "flex"),
            Backend::Cuda => cfg!(feature = "cuda"),
            Backend::Wgpu => cfg!(feature = "wgpu"),
        }
    }

    /// Checks that the backend is compiled in and supports `precision`.
    pub fn check(self, precision: Precision) -> Result<(), BackendError> {
        if !self.is_compiled() {
            return Err(BackendError::NotCompiled { backend: self });
        }
        if precision == Precision::Bf16 && self != Backend::Cuda {
            return Err(BackendError::PrecisionUnsupported {
                backend: self,
                precision,
            });
        }
        Ok(())
    }

    /// The device (without autodiff) of this backend, `index` selecting the GPU, configured
    /// for `precision`. Configure it before creating any tensor on it.
    ///
    /// ```
    /// use mine_runtime::backend::{Backend, Precision};
    ///
    /// let device = Backend::Flex.device(0, Precision::F32).unwrap();
    /// assert!(!device.is_autodiff());
    /// let err = Backend::Flex.device(0, Precision::Bf16).unwrap_err();
    /// assert!(err.to_string().contains("bf16 needs `backend = \"cuda\"`"));
    /// ```
    pub fn device(self, index: usize, precision: Precision) -> Result<Device, BackendError> {
        self.check(precision)?;
        let device = self.raw_device(index)?;
        configure_precision(self, device, precision)
    }

    /// The device a policy's initial weights are drawn on: burn's CPU device (`flex`) for every
    /// backend when it is compiled in and `precision` is f32, otherwise the backend's own device
    /// ([`device`](Self::device)).
    ///
    /// burn's random generators are per backend: seeded alike, a GPU draws other numbers than
    /// the CPU (see <https://github.com/tracel-ai/cubek/issues/529>), so a policy built on a
    /// wgpu or CUDA device starts from other weights than the same run on `flex`. Built on this
    /// device, then moved, it starts from the CPU run's weights. bf16 policies are built on
    /// their device, which is configured for bf16.
    ///
    /// ```
    /// use burn::tensor::Device;
    /// use mine_runtime::backend::{Backend, Precision};
    ///
    /// let device = Backend::Flex.init_device(0, Precision::F32).unwrap();
    /// assert_eq!(device, Device::flex());
    /// ```
    pub fn init_device(self, index: usize, precision: Precision) -> Result<Device, BackendError> {
        self.check(precision)?;
        if precision == Precision::F32 && Backend::Flex.is_compiled() {
            return Backend::Flex.raw_device(0);
        }
        self.device(index, precision)
    }

    /// Whether [`init_device`](Self::init_device) is the CPU device, so that initial weights
    /// do not depend on the backend.
    pub fn initializes_on_host(self, precision: Precision) -> bool {
        self == Backend::Flex || (precision == Precision::F32 && Backend::Flex.is_compiled())
    }

    #[allow(unused_variables, unreachable_code)]
    fn raw_device(self, index: usize) -> Result<Device, BackendError> {
        match self {
            Backend::Flex => {
                #[cfg(feature = "flex")]
                return Ok(Device::flex());
            }
            Backend::Cuda => {
                #[cfg(feature = "cuda")]
                return Ok(Device::cuda(index));
            }
            Backend::Wgpu => {
                #[cfg(feature = "wgpu")]
                return Ok(Device::wgpu(match index {
                    0 => burn::tensor::DeviceKind::DefaultDevice,
                    i => burn::tensor::DeviceKind::DiscreteGpu(i - 1),
                }));
            }
        }
        Err(BackendError::NotCompiled { backend: self })
    }
}

/// Sets the device's default float type for `precision` (nothing to do for f32).
fn configure_precision(
    backend: Backend,
    mut device: Device,
    precision: Precision,
) -> Result<Device, BackendError> {
    if precision == Precision::F32 {
        return Ok(device);
    }
    let dtype = burn::tensor::FloatDType::BF16;
    let refused = |reason: String| BackendError::Device {
        backend,
        precision,
        reason,
    };
    if !device.supports_dtype(dtype) {
        return Err(refused("the device has no bf16 arithmetic".into()));
    }
    match device.configure(dtype) {
        Ok(()) => Ok(device),
        // Configured before (by an earlier run in this process): fine if it is already bf16.
        Err(_) if device.settings().float_dtype == dtype => Ok(device),
        Err(e) => Err(refused(e.to_string())),
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Backend {
    type Error = BackendError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "flex" => Ok(Backend::Flex),
            "cuda" => Ok(Backend::Cuda),
            "wgpu" => Ok(Backend::Wgpu),
            _ => Err(BackendError::Unknown {
                field: "backend",
                value,
                known: "\"flex\", \"cuda\", \"wgpu\"",
            }),
        }
    }
}

impl From<Backend> for String {
    fn from(backend: Backend) -> Self {
        backend.as_str().to_owned()
    }
}

impl Precision {
    /// The name used in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
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
            "bf16" => Ok(Precision::Bf16),
            _ => Err(BackendError::Unknown {
                field: "precision",
                value,
                known: "\"f32\", \"bf16\"",
            }),
        }
    }
}

impl From<Precision> for String {
    fn from(precision: Precision) -> Self {
        precision.as_str().to_owned()
    }
}
