//! [`CpuKernels::cpu_group_norm`](super::CpuKernels::cpu_group_norm) on flex: forward, and
//! the backward step of its autodiff form (input, gamma and beta gradients, through the ReLU).

use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, dims4, tensor, values, written};
use crate::kernels::cpu::group_norm::{Relus, group_norm_backward, group_norm_forward};

/// The forward's output and the statistics its backward reads.
pub struct Normalized {
    /// The normalized (and rectified) tensor.
    pub out: FlexTensor,
    /// Per `[sample, group]` mean.
    pub mean: Arc<[f32]>,
    /// Per `[sample, group]` reciprocal standard deviation.
    pub rstd: Arc<[f32]>,
}

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
    Normalized {
        out,
        mean: mean.into(),
        rstd: rstd.into(),
    }
}

/// What the backward step reads.
#[derive(Clone, Debug)]
struct Saved {
    x: NodeId,
    gamma: NodeId,
    mean: Arc<[f32]>,
    rstd: Arc<[f32]>,
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
        let [node_x, node_gamma, node_beta] = ops.parents;
        let saved = ops.state;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let x = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(saved.x));
        let gamma = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(saved.gamma));
        let relu_out = saved.relu_out.map(contiguous);
        let [n, c, h, w] = dims4(&x);
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
        let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
        let dx = written([n, c, h, w], |dx| {
            group_norm_backward(
                values(&grad),
                values(&x),
                relu_out.as_ref().map_or(&[][..], values),
                values(&gamma),
                &saved.mean,
                &saved.rstd,
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
                &mut dgamma,
                &mut dbeta,
            )
        });
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, [c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, [c]));
        }
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
    let run = || {
        let (xp, gp, bp) = (x.primitive(), gamma.primitive(), beta.primitive());
        forward(xp.clone(), gp.clone(), bp.clone(), groups, eps, relu)
    };
    match GroupNormBackward
        .prepare::<C>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let gamma_state = prep.checkpoint(&gamma);
            let normalized = run();
            let saved = Saved {
                x: x_state,
                gamma: gamma_state,
                mean: normalized.mean,
                rstd: normalized.rstd,
                groups,
                relu_out: relu.output.then(|| normalized.out.clone()),
                relu_input: relu.input,
                residual_input,
            };
            prep.finish(saved, normalized.out)
        }
        OpsKind::UnTracked(prep) => prep.finish(run().out),
    }
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
