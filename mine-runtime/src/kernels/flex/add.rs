//! [`CpuKernels::cpu_add`](super::CpuKernels::cpu_add) on flex: an element-wise sum written
//! by the thread pool (burn's own runs on the calling thread alone), and its backward step,
//! which hands the output gradient to both parents.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, sum_of};

/// `a + b` for tensors of the same shape.
pub fn forward(a: FlexTensor, b: FlexTensor) -> FlexTensor {
    sum_of(&contiguous(a), &contiguous(b))
}

/// The backward step: parents `a`, `b`, each receiving the output gradient.
#[derive(Debug)]
struct AddBackward;

impl Backward<Flex, 2> for AddBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        match ops.parents {
            [Some(a), Some(b)] => {
                grads.register::<Flex>(a.id, grad.clone());
                grads.register::<Flex>(b.id, grad);
            }
            [Some(node), None] | [None, Some(node)] => grads.register::<Flex>(node.id, grad),
            [None, None] => {}
        }
    }
}

/// The autodiff form: the forward, with [`AddBackward`] recorded when an input is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    a: FloatTensor<Autodiff<Flex, C>>,
    b: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    let out = forward(a.primitive().clone(), b.primitive().clone());
    AddBackward
        .prepare::<C>([a.node(), b.node()])
        .compute_bound()
        .stateless(out)
}
