//! Which device each data-parallel rank trains on, checked against the devices the backend has.

use crate::trainer::backend::Backend;
use crate::trainer::config::ConfigError;

/// The ranks of a run and the devices they train on (`trainer.devices`).
///
/// ```
/// use mine_runtime::trainer::backend::Backend;
/// use mine_runtime::parallel::RankLayout;
///
/// // Two ranks on the one CPU device: they run one after the other.
/// let layout = RankLayout::resolve(Backend::Flex, &[0, 0]).unwrap();
/// assert_eq!((layout.world_size(), layout.devices.len()), (2, 1));
///
/// let err = RankLayout::resolve(Backend::Flex, &[0, 1]).unwrap_err().to_string();
/// assert!(err.contains("`devices` = [0, 1]") && err.contains("the flex backend has 1 device"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankLayout {
    /// The distinct device indices, in the order ranks first name them: rank 0's comes first.
    pub devices: Vec<usize>,
    /// For each rank, the position of its device in `devices` (which replica it trains).
    pub replica_of_rank: Vec<usize>,
}

impl RankLayout {
    /// Checks `ranks` (the device index of each rank) against `backend`: every index must
    /// exist, and the ranks may spread over several devices only where burn all-reduces
    /// between devices (CUDA). The error names the setting and what to write instead.
    pub fn resolve(backend: Backend, ranks: &[usize]) -> Result<Self, ConfigError> {
        let fail = |problem: String, fix: String| ConfigError::Devices {
            devices: ranks.to_vec(),
            problem,
            fix,
        };
        if ranks.is_empty() {
            return Err(fail(
                "no rank".into(),
                "list at least one device index, or omit `devices`".into(),
            ));
        }
        let mut devices: Vec<usize> = Vec::new();
        let replica_of_rank = ranks
            .iter()
            .map(|index| match devices.iter().position(|d| d == index) {
                Some(replica) => replica,
                None => {
                    devices.push(*index);
                    devices.len() - 1
                }
            })
            .collect();
        if let Some(available) = available_devices(backend) {
            let plural = if available == 1 { "" } else { "s" };
            let repeat = "repeat an index (`devices = [0, 0]`) to run several ranks one after \
                          the other on one device";
            if devices.len() > available {
                return Err(fail(
                    format!(
                        "it asks for {} devices, but the {backend} backend has {available} \
                         device{plural} here",
                        devices.len()
                    ),
                    format!("list at most {available} distinct index{plural}, or {repeat}",),
                ));
            }
            if let Some(index) = devices.iter().find(|&&i| i >= available) {
                return Err(fail(
                    format!(
                        "device index {index} does not exist: the {backend} backend has \
                         {available} device{plural} here (indices 0 to {})",
                        available - 1
                    ),
                    format!("use indices below {available}"),
                ));
            }
        }
        if devices.len() > 1 && backend != Backend::Cuda {
            return Err(fail(
                format!(
                    "ranks on {} {backend} devices need a gradient all-reduce between devices, \
                     which burn 0.22 implements only on CUDA (NCCL)",
                    devices.len()
                ),
                "use `backend = \"cuda\"`, or repeat one index (`devices = [0, 0]`) to run the \
                 ranks one after the other on one device"
                    .into(),
            ));
        }
        Ok(Self {
            devices,
            replica_of_rank,
        })
    }

    /// One rank on device `index` (not checked: the backend opens it).
    pub fn single(index: usize) -> Self {
        Self {
            devices: vec![index],
            replica_of_rank: vec![0],
        }
    }

    /// The number of ranks.
    pub fn world_size(&self) -> usize {
        self.replica_of_rank.len()
    }
}

/// How many devices `backend` has on this machine, where burn can list them (`None`: not
/// checked here; wgpu's adapter is checked when burn opens it).
pub fn available_devices(backend: Backend) -> Option<usize> {
    #[allow(unreachable_code)]
    match backend {
        Backend::Flex => {
            #[cfg(feature = "flex")]
            return Some(burn::tensor::Device::enumerate(burn::tensor::DeviceType::Flex).len());
            None
        }
        Backend::Cuda => {
            #[cfg(feature = "cuda")]
            return Some(burn::tensor::Device::enumerate(burn::tensor::DeviceType::Cuda).len());
            None
        }
        Backend::Wgpu => None,
    }
}
