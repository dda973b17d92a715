//! AdamW with PyTorch's exact update rule, as a burn per-parameter [`Optimizer`].
//!
//! Burn's own `AdamW` differs from `torch.optim.AdamW` beyond its defaults: it computes the
//! bias corrections `1 - beta^t` in single precision (for `beta_2 = 0.999` the first correction
//! is then off by 1.3e-5 relative) and folds them into the moments before the square root.
//! PyTorch computes them in double precision and divides `sqrt(v)` by `sqrt(1 - beta_2^t)`.
//! This implementation follows PyTorch's single-tensor (CPU) code path operation by operation.

use burn::optim::{AdaptiveMomentumState, ModuleOptimizer, Optimizer};
use burn::tensor::{Device, Tensor};

use super::config::OptimizerConfig;

/// AdamW with decoupled weight decay and PyTorch semantics (no AMSGrad).
///
/// Per step `t` (1-based) with learning rate `lr`, gradient `g` and parameter `p`:
/// `p *= 1 - lr * wd`; `m = lerp(m, g, 1 - b1)`; `v = v * b2 + (1 - b2) * g * g`;
/// `p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)`, with the scalar factors in
/// double precision and the tensor arithmetic in the parameters' precision.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TorchAdamW {
    beta_1: f64,
    beta_2: f64,
    eps: f64,
    weight_decay: f64,
}

impl TorchAdamW {
    /// AdamW with the given betas, epsilon and weight decay (assumed validated).
    pub fn new(betas: (f64, f64), eps: f64, weight_decay: f64) -> Self {
        Self {
            beta_1: betas.0,
            beta_2: betas.1,
            eps,
            weight_decay,
        }
    }

    /// AdamW with the hyper-parameters of `config` (validate it first).
    pub fn from_config(config: &OptimizerConfig) -> Self {
        Self::new(config.betas, config.eps, config.weight_decay)
    }

    /// Wraps this optimizer for whole modules: burn's adaptor handles parameter traversal,
    /// device moves and burnpack state save/load (`save`/`load`, `into_bytes`/`from_bytes`).
    pub fn into_module_optimizer(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }
}

#[cfg(feature = "flex")]
impl TorchAdamW {
    /// Whether [`fused`](Self::fused) runs on these tensors (plain flex f32 ones).
    fn fuses<const D: usize>(
        tensor: &Tensor<D>,
        grad: &Tensor<D>,
        state: Option<&AdaptiveMomentumState<D>>,
    ) -> bool {
        let moments = state.map_or([tensor, grad], |s| [&s.moment_1, &s.moment_2]);
        crate::kernels::ops::adamw_applies([tensor, grad, moments[0], moments[1]])
    }

    /// The step through our fused CPU kernel, bit-identical to the tensor path of `step`.
    fn fused<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdaptiveMomentumState<D>>,
    ) -> (Tensor<D>, Option<AdaptiveMomentumState<D>>) {
        use crate::kernels::cpu::adamw::AdamWScalars;
        let (time, m, v) = match state {
            Some(s) => (s.time + 1, s.moment_1, s.moment_2),
            None => (1, tensor.zeros_like(), tensor.zeros_like()),
        };
        let t = i32::try_from(time).unwrap_or(i32::MAX);
        let scalars = AdamWScalars {
            decay_factor: (1.0 - lr * self.weight_decay) as f32,
            decay: self.weight_decay != 0.0,
            weight_1: (1.0 - self.beta_1) as f32,
            beta_2: self.beta_2 as f32,
            weight_2: (1.0 - self.beta_2) as f32,
            sqrt_correction_2: (1.0 - self.beta_2.powi(t)).sqrt() as f32,
            eps: self.eps as f32,
            step_size: (lr / (1.0 - self.beta_1.powi(t))) as f32,
        };
        let (tensor, m, v) = crate::kernels::ops::adamw_step(tensor, grad, (m, v), scalars);
        (tensor, Some(AdaptiveMomentumState::new(time, m, v)))
    }
}

impl Optimizer for TorchAdamW {
    /// `time` (steps taken), `moment_1` (`exp_avg`), `moment_2` (`exp_avg_sq`); no AMSGrad max.
    type State<const D: usize> = AdaptiveMomentumState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        #[cfg(feature = "flex")]
        if Self::fuses(&tensor, &grad, state.as_ref()) {
            return self.fused(lr, tensor, grad, state);
        }
        let mut tensor = tensor;
        if self.weight_decay != 0.0 {
            tensor = tensor.mul_scalar(1.0 - lr * self.weight_decay);
        }
        let weight_1 = 1.0 - self.beta_1;
        let weight_2 = 1.0 - self.beta_2;
        let state = match state {
            // From zero moments: `lerp(0, g, w) = w * g` and `0 * b2 + w2 * g * g`.
            None => AdaptiveMomentumState::new(
                1,
                grad.clone().mul_scalar(weight_1),
                grad.clone().mul_scalar(weight_2).mul(grad),
            ),
            Some(state) => {
                let moment_1 =
                    state.moment_1.clone() + (grad.clone() - state.moment_1).mul_scalar(weight_1);
                let moment_2 = state.moment_2.mul_scalar(self.beta_2)
                    + grad.clone().mul_scalar(weight_2).mul(grad);
                AdaptiveMomentumState::new(state.time + 1, moment_1, moment_2)
            }
        };
        let time = i32::try_from(state.time).unwrap_or(i32::MAX);
        let correction_1 = 1.0 - self.beta_1.powi(time);
        let correction_2 = 1.0 - self.beta_2.powi(time);
        let step_size = lr / correction_1;
        let denom = state
            .moment_2
            .clone()
            .sqrt()
            .div_scalar(correction_2.sqrt())
            .add_scalar(self.eps);
        let update = state.moment_1.clone().div(denom).mul_scalar(step_size);
        (tensor - update, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.to_device(device)
    }
}
