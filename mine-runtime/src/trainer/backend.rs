//! Which burn backend a run uses, and in which float precision.
//!
//! The trainer is one generic program: the backend is chosen at run time by the configuration
//! (`backend = "flex" | "cuda" | "wgpu"`), among those compiled in by the cargo features of the
//! same names. `flex` (CPU) is the default feature.

use std::fmt;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

pub use crate::trainer::precision::Precision;

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
         `--features {backend}` (e.g. `cargo run --release --features {backend}`), or train on \
         the CPU with `backend = \"flex\"`"
    )]
    NotCompiled {
        /// The backend's name, which is also its cargo feature.
        backend: Backend,
    },
    /// The device has no bf16 arithmetic, which the precision needs.
    #[error(
        "`trainer.precision` = \"{precision}\" needs bf16 arithmetic, which this {backend} \
         device does not have: set `trainer.precision = \"f32\"`, or train on a device with \
         bf16 (`trainer.backend = \"flex\"` on the CPU, or `\"cuda\"` on an Ampere or newer \
         NVIDIA GPU)"
    )]
    PrecisionUnsupported {
        /// The backend.
        backend: Backend,
        /// The precision asked for.
        precision: Precision,
    },
    /// The device refused the precision.
    #[error(
        "the {backend} device cannot use `trainer.precision` = \"{precision}\": {reason}; set \
         `trainer.precision = \"bf16-mixed\"` or `\"f32\"`"
    )]
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

    /// Checks that the backend is compiled in. Whether it supports a precision depends on the
    /// device: [`device`](Self::device) checks that.
    pub fn check(self) -> Result<(), BackendError> {
        if !self.is_compiled() {
            return Err(BackendError::NotCompiled { backend: self });
        }
        Ok(())
    }

    /// The device (without autodiff) of this backend, `index` selecting the GPU, configured
    /// for `precision` (see [`Precision::configure`]: refused when the device has no bf16).
    /// Call it before creating any tensor on the device.
    ///
    /// ```
    /// use mine_runtime::trainer::backend::{Backend, Precision};
    ///
    /// let device = Backend::Flex.device(0, Precision::F32).unwrap();
    /// assert!(!device.is_autodiff());
    /// // burn's CPU backend has bf16 arithmetic: mixed precision runs there.
    /// assert!(Backend::Flex.device(0, Precision::Bf16Mixed).is_ok());
    /// ```
    pub fn device(self, index: usize, precision: Precision) -> Result<Device, BackendError> {
        self.check()?;
        let device = self.raw_device(index)?;
        precision.configure(self, device)
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
    /// use mine_runtime::trainer::backend::{Backend, Precision};
    ///
    /// let device = Backend::Flex.init_device(0, Precision::F32).unwrap();
    /// assert_eq!(device, Device::flex());
    /// ```
    pub fn init_device(self, index: usize, precision: Precision) -> Result<Device, BackendError> {
        self.check()?;
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

    /// How many device indices this backend has on this machine, as burn lists them: `flex`
    /// has one; CUDA one per GPU the driver reports (none without an NVIDIA driver); wgpu,
    /// whose index 0 is the default adapter and `i > 0` the discrete GPU `i - 1`, has 0 when it
    /// finds no adapter (no Vulkan, Metal or DirectX 12 driver), else 1 plus its discrete GPUs.
    /// `None` when the backend is not compiled in.
    ///
    /// ```
    /// use mine_runtime::trainer::backend::Backend;
    ///
    /// assert_eq!(Backend::Flex.device_count(), Some(1));
    /// ```
    #[allow(unreachable_code)]
    pub fn device_count(self) -> Option<usize> {
        match self {
            Backend::Flex => {
                #[cfg(feature = "flex")]
                return Some(Device::enumerate(burn::tensor::DeviceType::Flex).len());
            }
            Backend::Cuda => {
                #[cfg(feature = "cuda")]
                return Some(Device::enumerate(burn::tensor::DeviceType::Cuda).len());
            }
            Backend::Wgpu => {
                #[cfg(feature = "wgpu")]
                return Some(wgpu_device_count());
            }
        }
        None
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
                return Ok(Device::wgpu(wgpu_kind(index)));
            }
        }
        Err(BackendError::NotCompiled { backend: self })
    }
}

/// The wgpu adapter of device index `index`: 0 the default adapter (wgpu's choice, a
/// high-power GPU first), `i > 0` the discrete GPU `i - 1`.
#[cfg(feature = "wgpu")]
fn wgpu_kind(index: usize) -> burn::tensor::DeviceKind {
    match index {
        0 => burn::tensor::DeviceKind::DefaultDevice,
        i => burn::tensor::DeviceKind::DiscreteGpu(i - 1),
    }
}

/// The number of wgpu device indices (see [`wgpu_kind`]): none without an adapter, else the
/// default adapter and each discrete GPU burn enumerates.
#[cfg(feature = "wgpu")]
fn wgpu_device_count() -> usize {
    let adapters = Device::enumerate(burn::tensor::DeviceType::Wgpu).into_vec();
    if adapters.is_empty() {
        return 0;
    }
    1 + (1..)
        .take_while(|&index| adapters.contains(&Device::wgpu(wgpu_kind(index))))
        .count()
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
