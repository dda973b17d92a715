//! The VPT action space: camera quantizer, hierarchical button/camera mapping, action head.
//!
//! Three forms of an action exist on the host:
//! - [`EnvActionFrame`]: what Minecraft takes, camera degrees and 20 buttons;
//! - [`FactoredActionFrame`]: camera quantized to bins, buttons unchanged;
//! - [`AgentActionFrame`]: the policy's two class indices (joint buttons, joint camera).
//!
//! [`ActionSpace`] converts between them exactly as MineStudio 1.1.6 does; [`AgentAction`] and
//! [`EnvAction`] gain `from_frames` / `to_frames` to move `[B][T]` frames to and from batch
//! tensors. The [`head`] module computes log-probabilities, entropies and samples of the
//! policy's [`PiLogits`](crate::latent::PiLogits); a runtime may install a faster entropy
//! ([`install_entropy_kernel`]).
//!
//! [`AgentAction`]: crate::batch::AgentAction
//! [`EnvAction`]: crate::batch::EnvAction

mod buttons;
mod camera;
mod config;
mod error;
mod frames;
pub mod head;
mod kernels;
mod space;
mod tensors;

pub use buttons::{BUTTONS_ALL, INVENTORY, button_index};
pub use camera::{CameraDType, CameraQuantizer};
pub use config::{ActionSpaceConfig, MAX_CAMERA_BINS, QuantizationScheme};
pub use error::ActionError;
pub use frames::{AgentActionFrame, EnvActionFrame, FactoredActionFrame};
pub use head::{ActionTerms, Sampling, entropy, log_prob, sample};
pub use kernels::{EntropyKernel, install_entropy_kernel};
pub use space::ActionSpace;
