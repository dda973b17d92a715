//! Global-norm gradient clipping over all parameters of a module (PyTorch's `clip_grad_norm_`).
//!
//! Burn's built-in clipping acts on each tensor separately; this scales every gradient by the
//! same coefficient, computed from the L2 norm of all gradients taken together.

use std::collections::HashSet;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Outcome of one clipping pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipReport {
    /// Global L2 norm of all gradients before clipping.
    pub total_norm: f64,
    /// Coefficient the gradients were multiplied by (`1` when not clipped).
    pub coef: f64,
    /// Whether the gradients were scaled down.
    pub clipped: bool,
}

/// Global L2 norm of the gradients in `grads` of all float parameters of `module`.
///
/// Parameters without a gradient are skipped, as PyTorch skips parameters whose `.grad` is
/// `None`. Reads one scalar back from the device. Returns 0 when there is no gradient.
pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    let mut visitor = SquaredSum {
        grads,
        sum: None,
        seen: HashSet::new(),
    };
    module.visit(&mut visitor);
    visitor
        .sum
        .map_or(0.0, |sum| f64::from(sum.sqrt().into_scalar::<f32>()))
}

/// Scales all gradients of `module` so that their global L2 norm is at most `max_norm`.
///
/// Follows `torch.nn.utils.clip_grad_norm_`: `coef = min(max_norm / (total + 1e-6), 1)` in
/// single precision, every gradient multiplied by `coef`. A non-finite norm propagates into the
/// gradients exactly as in PyTorch (with a warning), so the caller sees it in the report.
pub fn clip_grad_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> ClipReport {
    let total = grad_norm(module, grads) as f32;
    // PyTorch: `max_norm / (total + 1e-6)` evaluates as `reciprocal(total + 1e-6) * max_norm`.
    let raw = (1.0 / (total + 1e-6_f32)) * max_norm as f32;
    // `clamp(max=1)` keeps NaN, unlike `f32::min`.
    let coef = if raw.is_nan() { raw } else { raw.min(1.0) };
    if !total.is_finite() {
        tracing::warn!(total_norm = total, "gradient norm is not finite");
    }
    let clipped = coef < 1.0 || coef.is_nan();
    if clipped {
        let mut visitor = Scale {
            grads,
            coef,
            seen: HashSet::new(),
        };
        module.visit(&mut visitor);
    }
    ClipReport {
        total_norm: f64::from(total),
        coef: f64::from(coef),
        clipped,
    }
}

/// Sums the squared entries of every parameter's gradient, on the first gradient's device.
struct SquaredSum<'a> {
    grads: &'a GradientsParams,
    sum: Option<Tensor<1>>,
    /// Parameters already counted (a shared parameter counts once, as in PyTorch).
    seen: HashSet<ParamId>,
}

impl ModuleVisitor for SquaredSum<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        let Some(grad) = self.grads.get::<D>(param.id) else {
            return;
        };
        let part = grad.square().sum();
        self.sum = Some(match self.sum.take() {
            None => part,
            Some(sum) => {
                let device = sum.device();
                sum + part.to_device(&device)
            }
        });
    }
}

/// Multiplies every parameter's gradient by `coef`.
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    coef: f32,
    /// Parameters already scaled (a shared parameter is scaled once).
    seen: HashSet<ParamId>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads
                .register::<D>(param.id, grad.mul_scalar(self.coef));
        }
    }
}
