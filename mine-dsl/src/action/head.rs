//! The VPT action head over [`PiLogits`]: log-probabilities of taken actions, entropies and
//! sampling (MineStudio's `CategoricalActionHead` inside a `DictActionHead`).

use burn::tensor::{Int, Tensor, TensorData};
use rand::distr::Open01;
use rand::{Rng, RngExt};

use super::ActionError;
use crate::batch::AgentAction;
use crate::latent::PiLogits;

/// One `[B, T]` value per head: the button head and the camera head.
#[derive(Clone, Debug)]
pub struct ActionTerms {
    /// The button head's value per frame, `[B, T]`.
    pub buttons: Tensor<2>,
    /// The camera head's value per frame, `[B, T]`.
    pub camera: Tensor<2>,
}

/// Log-probability of the chosen class of a `[B, T, K, N]` head, summed over the `K` factor
/// dimension (`K = 1` for VPT) as MineStudio does: `[B, T]`.
fn head_log_prob(logp: Tensor<4>, classes: Tensor<3, Int>) -> Tensor<2> {
    let [b, t, _, _] = logp.dims();
    logp.gather(3, classes.unsqueeze_dim::<4>(3))
        .sum_dim(2)
        .reshape([b, t])
}

/// Entropy `-sum p log p` of a `[B, T, K, N]` head, summed over `K`: `[B, T]` (the installed
/// kernel's, if a runtime installed one).
fn head_entropy(logp: Tensor<4>) -> Tensor<2> {
    let [b, t, _, _] = logp.dims();
    super::kernels::row_entropy(logp).sum_dim(2).reshape([b, t])
}

/// Log-probabilities of `action` under `pi`, per head and frame (differentiable).
///
/// `pi` holds normalized log-probabilities `[B, T, 1, N]` and `action` classes `[B, T, 1]`.
/// Classes must be in range: not every backend bound-checks a gather.
///
/// # Panics
///
/// If the shapes of `pi` and `action` disagree (a programming error, not a data error).
pub fn log_prob(pi: &PiLogits, action: &AgentAction) -> ActionTerms {
    ActionTerms {
        buttons: head_log_prob(pi.buttons.clone(), action.buttons.clone()),
        camera: head_log_prob(pi.camera.clone(), action.camera.clone()),
    }
}

/// Entropies `-sum_k p_k log p_k` of both heads, per frame (differentiable).
///
/// A class with log-probability `-inf` makes the entropy NaN, as in MineStudio; masked heads
/// should use a large negative finite value instead. A runtime's kernel computes it where one
/// is installed ([`install_entropy_kernel`](super::install_entropy_kernel)).
pub fn entropy(pi: &PiLogits) -> ActionTerms {
    ActionTerms {
        buttons: head_entropy(pi.buttons.clone()),
        camera: head_entropy(pi.camera.clone()),
    }
}

/// How [`sample`] picks a class from each distribution.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Sampling {
    /// The most probable class (argmax; the lowest index on ties).
    Deterministic,
    /// A random class drawn from `softmax(log_p / temperature)`: `temperature` 1 samples the
    /// distribution itself, below 1 sharpens it and above 1 flattens it. Must be finite and > 0.
    Stochastic {
        /// The softmax temperature.
        temperature: f64,
    },
}

/// Picks one class per frame of a `[B, T, K, N]` head: `[B, T, K]` (no gradient).
fn sample_head<R: Rng + ?Sized>(
    logp: Tensor<4>,
    sampling: Sampling,
    rng: &mut R,
) -> Tensor<3, Int> {
    let logp = logp.detach();
    let scores = match sampling {
        Sampling::Deterministic => logp,
        Sampling::Stochastic { temperature } => {
            // Gumbel-max: argmax(log_p / T + g) with g = -ln(-ln u), u ~ U(0, 1) drawn on the
            // host so that a seeded rng reproduces the draw on every backend.
            let dims = logp.dims();
            let n = dims.iter().product();
            let gumbel: Vec<f32> = (0..n)
                .map(|_| {
                    let u: f64 = rng.sample(Open01);
                    -(-u.ln()).ln() as f32
                })
                .collect();
            let noise = Tensor::from_data(
                TensorData::new(gumbel, dims),
                (&logp.device(), logp.dtype()),
            );
            logp.div_scalar(temperature) + noise
        }
    };
    scores.argmax(3).squeeze_dim::<3>(3)
}

/// Samples one agent action per frame from `pi` (classes `[B, T, 1]`, no gradient).
///
/// [`Sampling::Deterministic`] takes the argmax and leaves `rng` untouched;
/// [`Sampling::Stochastic`] uses the Gumbel-max trick with uniforms drawn from `rng`, so the
/// same seed gives the same actions. The button head is drawn before the camera head.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use mine_dsl::action::{Sampling, sample};
/// use mine_dsl::latent::PiLogits;
/// use rand::SeedableRng;
///
/// let device = Device::flex();
/// let probs = |p: [f32; 3]| Tensor::<1>::from_floats(p, &device).log().reshape([1, 1, 1, 3]);
/// let pi = PiLogits { buttons: probs([0.2, 0.7, 0.1]), camera: probs([0.5, 0.1, 0.4]) };
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
///
/// let greedy = sample(&pi, Sampling::Deterministic, &mut rng)?;
/// assert_eq!(greedy.buttons.into_data().iter::<i64>().collect::<Vec<_>>(), vec![1]);
/// let drawn = sample(&pi, Sampling::Stochastic { temperature: 1.0 }, &mut rng)?;
/// assert_eq!(drawn.camera.dims(), [1, 1, 1]);
/// # Ok::<(), mine_dsl::action::ActionError>(())
/// ```
pub fn sample<R: Rng + ?Sized>(
    pi: &PiLogits,
    sampling: Sampling,
    rng: &mut R,
) -> Result<AgentAction, ActionError> {
    if let Sampling::Stochastic { temperature } = sampling
        && !(temperature.is_finite() && temperature > 0.0)
    {
        return Err(ActionError::InvalidTemperature(temperature));
    }
    Ok(AgentAction {
        buttons: sample_head(pi.buttons.clone(), sampling, rng),
        camera: sample_head(pi.camera.clone(), sampling, rng),
    })
}
