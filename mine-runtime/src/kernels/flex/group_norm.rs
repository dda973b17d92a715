//! [`CpuKernels::cpu_group_norm`](super::CpuKernels::cpu_group_norm) on flex: forward, and
//! the backward step of its autodiff form (input, gamma and beta gradients, through the ReLU).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::norm::{self, BackwardStep, Normalized, Stats};
use super::tensor::{contiguous, dims4, values, written};
use crate::kernels::cpu::group_norm::{Relus, group_norm_backward, group_norm_forward};

/// `groups`-group normalization of `x` (of `relu(x)` if `relu.input`) with affine `gamma`,
/// `beta`, then a ReLU when `relu.output`.
pub fn forward(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    groups: usize,
    eps: f64,
    relu: Relus,
) -> Normalized {
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let [n, c, h, w] = dims4(&x);
    let (mut mean, mut rstd) = (vec![0.0; n * groups], vec![0.0; n * groups]);
    let out = written([n, c, h, w], |out| {
        group_norm_forward(
            values(&x),
            values(&gamma),
            values(&beta),
            n,
            c,
            h * w,
            groups,
            eps as f32,
            relu,
            out,
            &mut mean,
            &mut rstd,
        )
    });
    Normalized::new(out, mean, rstd)
}

/// What the backward step reads.
#[derive(Clone, Debug)]
struct Saved {
    stats: Stats,
    groups: usize,
    /// The output, when a ReLU followed the normalization.
    relu_out: Option<FlexTensor>,
    /// Whether the normalization's input was rectified.
    relu_input: bool,
    /// Whether a residual sum after this operation registers a gradient of `x` first
    /// (`CpuKernels::cpu_group_norm`'s `residual_input`).
    residual_input: bool,
}

/// The backward step: parents `x`, `gamma`, `beta`.
#[derive(Debug)]
struct GroupNormBackward;

impl Backward<Flex, 3> for GroupNormBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let mut step = BackwardStep::start(&ops, &ops.state.stats, grads, checkpointer);
        let [node_x, _, _] = ops.parents;
        let saved = ops.state;
        let relu_out = saved.relu_out.map(contiguous);
        let [n, c, h, w] = dims4(&step.x);
        // The gradient `x` already has (the residual sum's, registered first), added in the
        // kernel's pass. `consume` takes an intermediate node's gradient out; a leaf's (no
        // parents: burn's `require_grad` makes leaves only) would stay, so a leaf's is left
        // to burn's accumulation.
        let prior = match &node_x {
            Some(node) if saved.residual_input && !node.parents.is_empty() => {
                Some(contiguous(grads.consume::<Flex>(node)))
            }
            _ => None,
        };
        let dx = written([n, c, h, w], |dx| {
            group_norm_backward(
                values(&step.grad),
                values(&step.x),
                relu_out.as_ref().map_or(&[][..], values),
                values(&step.gamma),
                &saved.stats.mean,
                &saved.stats.rstd,
                n,
                c,
                h * w,
                saved.groups,
                Relus {
                    input: saved.relu_input,
                    output: relu_out.is_some(),
                },
                dx,
                prior.as_ref().map(values),
                &mut step.dgamma,
                &mut step.dbeta,
            )
        });
        step.finish(grads, dx);
    }
}

/// The autodiff form: the forward, with [`GroupNormBackward`] recorded when an input is
/// tracked; `residual_input` as in `CpuKernels::cpu_group_norm`.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    gamma: FloatTensor<Autodiff<Flex, C>>,
    beta: FloatTensor<Autodiff<Flex, C>>,
    groups: usize,
    eps: f64,
    relu: Relus,
    residual_input: bool,
) -> FloatTensor<Autodiff<Flex, C>> {
    let run = |x, gamma, beta| forward(x, gamma, beta, groups, eps, relu);
    norm::autodiff::<C, _>(GroupNormBackward, [x, gamma, beta], run, |ids, n| Saved {
        stats: Stats::new(ids, n),
        groups,
        relu_out: relu.output.then(|| n.out.clone()),
        relu_input: relu.input,
        residual_input,
    })
}

#[cfg(test)]
mod tests {
    use burn::nn::{GroupNorm, GroupNormConfig};
    use burn::tensor::{Device, Distribution, Tensor};

    use crate::kernels::ops;

    /// The gradients of the input and of `gamma` of `sum(w · (x + norm(x)))`, with `x` an
    /// intermediate node (`input * 1`; a leaf's gradient is left to burn): the GroupNorm's
    /// input gradient fused with the sum's (`residual`) or accumulated by burn.
    fn residual_grads(
        layer: &GroupNorm,
        input: &Tensor<4>,
        w: &Tensor<4>,
        residual: bool,
    ) -> Vec<Vec<f32>> {
        let input = input.clone().require_grad();
        let x = input.clone().mul_scalar(1.0);
        let normalized = match residual {
            true => ops::group_norm_of_residual_input(layer, x.clone()),
            false => ops::group_norm_layer(layer, x.clone(), false),
        };
        let grads = (ops::add(x, normalized) * w.clone()).sum().backward();
        let gamma = layer.gamma.as_ref().expect("an affine layer").val();
        let dx = input.grad(&grads).expect("an input gradient");
        let dgamma = gamma.grad(&grads).expect("a gamma gradient");
        vec![
            dx.into_data().try_to_vec::<f32>().unwrap(),
            dgamma.into_data().try_to_vec::<f32>().unwrap(),
        ]
    }

    #[test]
    fn the_fused_residual_gradient_equals_burns_accumulation_bit_for_bit() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let layer = GroupNormConfig::new(2, 8).init(&device);
        // Over the pool's addition threshold, and a small odd shape.
        for shape in [[2, 8, 64, 64], [1, 8, 5, 3]] {
            let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let w = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let fused = residual_grads(&layer, &x, &w, true);
            let burn = residual_grads(&layer, &x, &w, false);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            for (a, b) in fused.iter().zip(&burn) {
                assert_eq!(bits(a), bits(b), "shape {shape:?}");
            }
        }
    }
}
