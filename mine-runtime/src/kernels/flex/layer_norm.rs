//! [`CpuKernels::cpu_layer_norm`](super::CpuKernels::cpu_layer_norm) on flex: LayerNorm over
//! the last dimension, rows on the thread pool, and the backward step of its autodiff form
//! (input, gamma and beta gradients).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::norm::{self, BackwardStep, Normalized, Stats};
use super::tensor::{contiguous, values, written_shaped};
use crate::kernels::cpu::layer_norm::{layer_norm_backward, layer_norm_forward};

/// LayerNorm of `x` over its last dimension with affine `gamma`, `beta` (`[d]`).
pub fn forward(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f64) -> Normalized {
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let rows = x.layout().num_elements() / values(&gamma).len().max(1);
    let (mut mean, mut rstd) = (vec![0.0; rows], vec![0.0; rows]);
    let out = written_shaped(x.layout().shape().clone(), |out| {
        layer_norm_forward(
            values(&x),
            values(&gamma),
            values(&beta),
            eps,
            out,
            &mut mean,
            &mut rstd,
        )
    });
    Normalized::new(out, mean, rstd)
}

/// What the backward step reads.
#[derive(Clone, Debug)]
struct Saved(Stats);

/// The backward step: parents `x`, `gamma`, `beta`.
#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let mut step = BackwardStep::start(&ops, &ops.state.0, grads, checkpointer);
        let Saved(stats) = ops.state;
        let dx = written_shaped(step.x.layout().shape().clone(), |dx| {
            layer_norm_backward(
                values(&step.grad),
                values(&step.x),
                values(&step.gamma),
                &stats.mean,
                &stats.rstd,
                dx,
                &mut step.dgamma,
                &mut step.dbeta,
            )
        });
        step.finish(grads, dx);
    }
}

/// The autodiff form: the forward, with [`LayerNormBackward`] recorded when an input is
/// tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    gamma: FloatTensor<Autodiff<Flex, C>>,
    beta: FloatTensor<Autodiff<Flex, C>>,
    eps: f64,
) -> FloatTensor<Autodiff<Flex, C>> {
    let run = |x, gamma, beta| forward(x, gamma, beta, eps);
    norm::autodiff::<C, _>(LayerNormBackward, [x, gamma, beta], run, |ids, n| {
        Saved(Stats::new(ids, n))
    })
}
