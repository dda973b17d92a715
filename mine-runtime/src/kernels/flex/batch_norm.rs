//! [`CpuKernels::cpu_batch_norm`](super::CpuKernels::cpu_batch_norm) on flex: BatchNorm with
//! the batch's statistics, and the backward step of its autodiff form (input, gamma and beta
//! gradients). The batch mean and biased variance come out untracked, for the running
//! statistics.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::norm::{self, BackwardStep, Normalized, Stats};
use super::tensor::{contiguous, dims4, tensor, values, written};
use crate::kernels::cpu::batch_norm::{Planes, batch_norm_backward, batch_norm_forward};

/// The output, the batch mean and the biased variance (`[C]`).
pub type Output<T> = (T, T, T);

fn planes(x: &FlexTensor) -> Planes {
    let [n, c, h, w] = dims4(x);
    Planes { n, c, hw: h * w }
}

/// BatchNorm of `x` `[N, C, H, W]` with its batch statistics and affine `gamma`, `beta`; the
/// normalized output with the statistics its backward reads, and the biased variance.
fn normalize(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    eps: f64,
) -> (Normalized, Vec<f32>) {
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let p = planes(&x);
    let (mut mean, mut var, mut rstd) = (vec![0.0; p.c], vec![0.0; p.c], vec![0.0; p.c]);
    let out = written(dims4(&x), |out| {
        let (x, gamma, beta) = (values(&x), values(&gamma), values(&beta));
        batch_norm_forward(p, x, gamma, beta, eps, out, &mut mean, &mut var, &mut rstd)
    });
    (Normalized::new(out, mean, rstd), var)
}

/// The output, batch mean and biased variance of BatchNorm in training.
pub fn forward(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f64) -> Output<FlexTensor> {
    let (normalized, var) = normalize(x, gamma, beta, eps);
    let c = var.len();
    (
        normalized.out,
        tensor(normalized.mean.to_vec(), [c]),
        tensor(var, [c]),
    )
}

/// What the backward step reads.
#[derive(Clone, Debug)]
struct Saved(Stats);

/// The backward step: parents `x`, `gamma`, `beta`.
#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let mut step = BackwardStep::start(&ops, &ops.state.0, grads, checkpointer);
        let Saved(stats) = ops.state;
        let p = planes(&step.x);
        let dx = written(dims4(&step.x), |dx| {
            batch_norm_backward(
                p,
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

/// The autodiff form: the forward, with [`BatchNormBackward`] recorded when an input is
/// tracked; the statistics untracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    gamma: FloatTensor<Autodiff<Flex, C>>,
    beta: FloatTensor<Autodiff<Flex, C>>,
    eps: f64,
) -> Output<FloatTensor<Autodiff<Flex, C>>> {
    let mut batch = None;
    let run = |x, gamma, beta| {
        let (normalized, var) = normalize(x, gamma, beta, eps);
        batch = Some((normalized.mean.to_vec(), var));
        normalized
    };
    let out = norm::autodiff::<C, _>(BatchNormBackward, [x, gamma, beta], run, |ids, n| {
        Saved(Stats::new(ids, n))
    });
    let (mean, var) = batch.expect("the forward ran");
    let c = var.len();
    let untracked = |v: Vec<f32>| FloatTensor::<Autodiff<Flex, C>>::new(tensor(v, [c]));
    (out, untracked(mean), untracked(var))
}
