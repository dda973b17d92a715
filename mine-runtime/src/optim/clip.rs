//! Global-norm gradient clipping over all parameters of a module (PyTorch's `clip_grad_norm_`).
//!
//! Burn's built-in clipping acts on each tensor separately; this scales every gradient by the
//! same coefficient, computed from the L2 norm of all gradients taken together. The norm and
//! the coefficient are computed on the device and applied there ([`clip_grad_norm_on_device`]);
//! [`clip_grad_norm`] also reads them back for a host [`ClipReport`]. On the CPU the squared
//! sums and the scaling run on the thread pool ([`ops::squared_sum`], [`ops::scale`]).

use std::collections::HashSet;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

use crate::kernels::ops;
use crate::sync::{self, ReadReason};

/// Outcome of one clipping pass, read back to the host.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipReport {
    /// Global L2 norm of all gradients before clipping.
    pub total_norm: f64,
    /// Coefficient the gradients were multiplied by (`1` when not clipped).
    pub coef: f64,
    /// Whether the gradients were scaled down.
    pub clipped: bool,
}

/// Outcome of one clipping pass, still on the device: nothing was read back.
#[derive(Debug, Clone)]
pub struct DeviceClip {
    /// Global L2 norm of all gradients before clipping, a one-element tensor.
    pub total_norm: Tensor<1>,
    /// The coefficient every gradient was multiplied by, a one-element tensor.
    pub coef: Tensor<1>,
}

impl DeviceClip {
    /// Reads the norm and the coefficient back (one host read).
    pub fn read(self) -> ClipReport {
        let device = self.total_norm.device();
        let values = sync::read_f32(
            Tensor::cat(vec![self.total_norm, self.coef.to_device(&device)], 0),
            ReadReason::Optimizer,
        );
        let (total, coef) = (values[0], values[1]);
        if !total.is_finite() {
            tracing::warn!(total_norm = total, "gradient norm is not finite");
        }
        ClipReport {
            total_norm: f64::from(total),
            coef: f64::from(coef),
            clipped: coef < 1.0 || coef.is_nan(),
        }
    }
}

/// Global L2 norm of the gradients in `grads` of all float parameters of `module`, as a
/// one-element tensor on the first gradient's device (nothing is read back); `None` when no
/// parameter has a gradient.
///
/// Parameters without a gradient are skipped, as PyTorch skips parameters whose `.grad` is
/// `None`.
pub fn grad_norm_on_device<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut visitor = SquaredSum {
        grads,
        sum: None,
        seen: HashSet::new(),
    };
    module.visit(&mut visitor);
    visitor.sum.map(Tensor::sqrt)
}

/// Global L2 norm of the gradients (see [`grad_norm_on_device`]), read back to the host (one
/// counted read, [`ReadReason::Optimizer`]). Returns 0 when there is no gradient.
pub fn grad_norm<M: Module>(module: &M, grads: &GradientsParams) -> f64 {
    grad_norm_on_device(module, grads).map_or(0.0, |norm| {
        f64::from(sync::read_f32(norm, ReadReason::Optimizer)[0])
    })
}

/// Scales all gradients of `module` so that their global L2 norm is at most `max_norm`, on the
/// device: the norm and the coefficient are computed there and nothing is read back. `None`
/// when no parameter has a gradient (nothing to scale).
///
/// Follows `torch.nn.utils.clip_grad_norm_`: `coef = min(max_norm / (total + 1e-6), 1)` in
/// single precision, every gradient multiplied by `coef` (by exactly 1 when not clipped, which
/// leaves it unchanged). A non-finite norm propagates into the gradients exactly as in PyTorch.
pub fn clip_grad_norm_on_device<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Option<DeviceClip> {
    let total_norm = grad_norm_on_device(module, grads)?;
    let coef = clip_coefficient(total_norm.clone(), max_norm);
    let mut visitor = Scale {
        grads,
        coef: coef.clone(),
        seen: HashSet::new(),
    };
    module.visit(&mut visitor);
    Some(DeviceClip { total_norm, coef })
}

/// [`clip_grad_norm_on_device`], with the norm and coefficient read back (one counted read,
/// [`ReadReason::Optimizer`]); a non-finite norm is logged as a warning.
pub fn clip_grad_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> ClipReport {
    match clip_grad_norm_on_device(module, grads, max_norm) {
        Some(clip) => clip.read(),
        None => ClipReport {
            total_norm: 0.0,
            coef: 1.0,
            clipped: false,
        },
    }
}

/// `min(max_norm / (total + 1e-6), 1)` in single precision, on `total`'s device.
fn clip_coefficient(total: Tensor<1>, max_norm: f64) -> Tensor<1> {
    // PyTorch: `max_norm / (total + 1e-6)` evaluates as `reciprocal(total + 1e-6) * max_norm`.
    let raw = total
        .add_scalar(1e-6_f32)
        .recip()
        .mul_scalar(max_norm as f32);
    // `clamp(max=1)` keeps NaN (NaN > 1 is false), unlike `f32::min`.
    let above = raw.clone().greater_elem(1.0_f32);
    raw.mask_fill(above, 1.0_f32)
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
        let part = ops::squared_sum(grad);
        self.sum = Some(match self.sum.take() {
            None => part,
            Some(sum) => {
                let device = sum.device();
                sum + part.to_device(&device)
            }
        });
    }
}

/// Multiplies every parameter's gradient by `coef` (a one-element tensor).
struct Scale<'a> {
    grads: &'a mut GradientsParams,
    coef: Tensor<1>,
    /// Parameters already scaled (a shared parameter is scaled once).
    seen: HashSet<ParamId>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            let coef = self.coef.clone().to_device(&grad.device());
            self.grads.register::<D>(param.id, ops::scale(grad, coef));
        }
    }
}
