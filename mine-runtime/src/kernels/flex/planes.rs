//! [`CpuKernels::cpu_scale_planes`](super::CpuKernels::cpu_scale_planes) on flex: a
//! squeeze-excitation's channel gate, planes on the thread pool, and its backward step.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, dims4, tensor, values, written};
use crate::kernels::cpu::planes::{gate_grad, scale_planes};

/// `[N, C, H, W]`'s planes and their length.
fn planes(x: &FlexTensor) -> ([usize; 4], usize) {
    let dims = dims4(x);
    (dims, dims[2] * dims[3])
}

/// `x * gate`, `gate` `[N, C, 1, 1]` broadcast over each plane.
pub fn scale(x: FlexTensor, gate: FlexTensor) -> FlexTensor {
    let (x, gate) = (contiguous(x), contiguous(gate));
    let (dims, plane) = planes(&x);
    written(dims, |out| {
        scale_planes(values(&x), values(&gate), plane, out)
    })
}

/// The gate's backward step: parents `x`, `gate`; the state is both.
#[derive(Debug)]
struct ScaleBackward;

impl Backward<Flex, 2> for ScaleBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [node_x, node_gate] = ops.parents;
        let (x, gate) = (contiguous(ops.state.0), contiguous(ops.state.1));
        let (dims, plane) = planes(&x);
        let g = values(&grad);
        if let Some(node) = node_x {
            let dx = written(dims, |dx| scale_planes(g, values(&gate), plane, dx));
            grads.register::<Flex>(node.id, dx);
        }
        if let Some(node) = node_gate {
            let mut dgate = vec![0.0; dims[0] * dims[1]];
            gate_grad(g, values(&x), plane, &mut dgate);
            grads.register::<Flex>(node.id, tensor(dgate, [dims[0], dims[1], 1, 1]));
        }
    }
}

/// The autodiff form of [`scale`].
pub fn scale_autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    gate: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    let (xp, gp) = (x.primitive().clone(), gate.primitive().clone());
    let out = scale(xp.clone(), gp.clone());
    match ScaleBackward
        .prepare::<C>([x.node(), gate.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish((xp, gp), out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}
