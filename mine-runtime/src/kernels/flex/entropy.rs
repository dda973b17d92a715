//! [`CpuKernels::cpu_row_entropy`](super::CpuKernels::cpu_row_entropy) on flex: the entropy
//! `-sum exp(y) y` of each row along the last dimension on the thread pool, and its backward
//! step from the saved input.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::log_softmax::last_dim;
use super::tensor::{contiguous, values, written_shaped};
use crate::kernels::cpu::entropy::{row_entropy_backward, row_entropy_forward};

/// The entropy of each row of `y`, keeping the last dimension (size 1).
pub fn forward(y: FlexTensor) -> FlexTensor {
    let y = contiguous(y);
    let shape = y.layout().shape().clone();
    let last = shape.num_dims() - 1;
    let shape = shape
        .reduce(last)
        .expect("a tensor has at least one dimension");
    written_shaped(shape, |out| {
        row_entropy_forward(values(&y), last_dim(&y), out)
    })
}

/// The backward step: parent `y`; the state is `y`.
#[derive(Debug)]
struct RowEntropyBackward;

impl Backward<Flex, 1> for RowEntropyBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [Some(node)] = ops.parents else {
            return;
        };
        let y = contiguous(ops.state);
        let dy = written_shaped(y.layout().shape().clone(), |dy| {
            row_entropy_backward(values(&y), values(&grad), last_dim(&y), dy)
        });
        grads.register::<Flex>(node.id, dy);
    }
}

/// The autodiff form: the forward, with [`RowEntropyBackward`] recorded when `y` is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    y: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    let input = y.primitive().clone();
    let out = forward(input.clone());
    match RowEntropyBackward
        .prepare::<C>([y.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(input, out),
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}
