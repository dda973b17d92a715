//! Acting with any DSL policy that produces `pi_logits` (MineStudio's `MinePolicy.get_action`):
//! one forward on an observation batch, an action sampled (or the most probable one) per row
//! and frame, in agent form (class indices) and in environment form (camera degrees and
//! buttons), and the advanced memory.
//!
//! ```
//! use burn::tensor::{Device, Tensor};
//! use mine_dsl::action::Sampling;
//! use mine_dsl::prelude::*;
//! use mine_runtime::policies::groot::{ScratchGrootConfig, GrootPolicy};
//! use mine_runtime::policies::inference::get_action;
//! use rand::SeedableRng;
//!
//! let device = Device::flex();
//! let policy = GrootPolicy::new(&ScratchGrootConfig::tiny(), &device)?;
//! let mut memory = policy.initial_memory(1, &device);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! for _ in 0..3 {
//!     // One frame per call: [B = 1, T = 1, H, W, C].
//!     let obs = Batch { image: Some(Tensor::zeros([1, 1, 16, 16, 3], &device)), ..Batch::default() };
//!     let step = get_action(&policy, &obs, memory, Sampling::Stochastic { temperature: 1.0 }, &mut rng)?;
//!     let [pitch, yaw] = step.env[0][0].camera;
//!     assert!(pitch.abs() <= 10.0 && yaw.abs() <= 10.0);
//!     memory = step.memory;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use mine_dsl::action::{
    ActionError, ActionSpace, AgentActionFrame, EnvActionFrame, Sampling, sample,
};
use mine_dsl::batch::{AgentAction, Batch};
use mine_dsl::latent::pi_logits;
use mine_dsl::memory::Memory;
use mine_dsl::policy::{Policy, PolicyError, Provides};
use rand::Rng;
use thiserror::Error;

/// Marks the latents read for inference in [`Provides`] bounds (`#[policy]` provides every
/// produced key to every reader, so any policy producing `pi_logits` satisfies
/// `Provides<pi_logits, Inference>`).
pub enum Inference {}

/// The action chosen for every row and frame of an observation batch.
#[derive(Clone, Debug)]
pub struct ActionStep<M> {
    /// Agent actions (class indices), `[B, T, 1]` tensors.
    pub agent: AgentAction,
    /// The same agent actions on the host, `[B][T]`.
    pub agent_frames: Vec<Vec<AgentActionFrame>>,
    /// The environment actions (camera degrees, 20 buttons) the agent actions map to, `[B][T]`.
    pub env: Vec<Vec<EnvActionFrame>>,
    /// The policy's memory after this batch (detached), to pass to the next call.
    pub memory: M,
}

/// Why no action could be chosen.
#[derive(Debug, Error)]
pub enum InferenceError {
    /// The policy's forward failed.
    #[error("policy `{policy}` failed during inference: {cause}")]
    Policy {
        /// The policy's name.
        policy: &'static str,
        /// What it reported.
        cause: PolicyError,
    },
    /// Sampling or mapping the action failed (invalid temperature, out-of-range class).
    #[error(transparent)]
    Action(#[from] ActionError),
}

/// Runs `policy` on `batch` (typically one observation per row: `[B, 1, ..]`) from `memory`
/// and picks an action per row and frame with `sampling` (`rng` is only drawn from when
/// sampling is stochastic).
///
/// The returned memory is detached from any autodiff graph; run inference on a plain device
/// or on the policy's [`valid`](burn::module::Module::valid) form. Reset memory rows
/// ([`Memory::reset_rows`]) when an episode starts anew.
pub fn get_action<P, R>(
    policy: &P,
    batch: &Batch,
    memory: P::Memory,
    sampling: Sampling,
    rng: &mut R,
) -> Result<ActionStep<P::Memory>, InferenceError>
where
    P: Policy + Provides<pi_logits, Inference>,
    R: Rng + ?Sized,
{
    let (latents, memory) =
        policy
            .forward(batch, memory)
            .map_err(|cause| InferenceError::Policy {
                policy: P::NAME,
                cause,
            })?;
    let pi = <P as Provides<pi_logits, Inference>>::latent(&latents);
    let agent = sample(pi, sampling, rng)?;
    let agent_frames = agent.to_frames()?;
    let space = ActionSpace::vpt();
    let env = agent_frames
        .iter()
        .map(|row| {
            row.iter()
                .map(|frame| space.agent_to_env(*frame))
                .collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ActionStep {
        agent,
        agent_frames,
        env,
        memory: memory.detach(),
    })
}
