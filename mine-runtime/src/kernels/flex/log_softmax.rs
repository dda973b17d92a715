//! [`CpuKernels::cpu_log_softmax`](super::CpuKernels::cpu_log_softmax) on flex: log-softmax
//! over the last dimension on the thread pool, and its backward step from the saved output.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, values, written_shaped};
use crate::kernels::cpu::log_softmax::{log_softmax_backward, log_softmax_forward};

/// Elements of the last dimension of `t`.
pub(super) fn last_dim(t: &FlexTensor) -> usize {
    let shape = t.layout().shape();
    shape[shape.num_dims() - 1]
}

/// `log_softmax(x)` over the last dimension.
pub fn forward(x: FlexTensor) -> FlexTensor {
    let x = contiguous(x);
    written_shaped(x.layout().shape().clone(), |out| {
        log_softmax_forward(values(&x), last_dim(&x), out)
    })
}

/// The backward step: parent `x`; the state is the output.
#[derive(Debug)]
struct LogSoftmaxBackward;

impl Backward<Flex, 1> for LogSoftmaxBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [Some(node)] = ops.parents else {
            return;
        };
        let y = contiguous(ops.state);
        let dx = written_shaped(y.layout().shape().clone(), |dx| {
            log_softmax_backward(values(&y), values(&grad), last_dim(&y), dx)
        });
        grads.register::<Flex>(node.id, dx);
    }
}

/// The autodiff form: the forward, with [`LogSoftmaxBackward`] recorded when `x` is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    let out = forward(x.primitive().clone());
    match LogSoftmaxBackward
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let saved = out.clone();
            prep.finish(saved, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}
