//! The backward step shared by the operations over the rows of the last dimension whose
//! gradient kernel reads one saved tensor and the output gradient: log-softmax (from its
//! output) and the row entropy (from its input).

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, values, written_shaped};

/// A gradient kernel: `(saved, grad, cols, dx)`, `saved` and `dx` with rows of `cols`
/// elements; it writes every element of `dx`.
pub type RowGradKernel = fn(&[f32], &[f32], usize, &mut [MaybeUninit<f32>]);

/// Which tensor the backward step keeps.
#[derive(Debug, Clone, Copy)]
pub enum Saved {
    /// The operation's input.
    Input,
    /// The operation's output.
    Output,
}

/// Elements of the last dimension of `t`.
pub fn last_dim(t: &FlexTensor) -> usize {
    let shape = t.layout().shape();
    shape[shape.num_dims() - 1]
}

/// The backward step: parent the input; the state is the saved tensor, whose shape the input
/// gradient has.
#[derive(Debug)]
struct RowBackward(RowGradKernel);

impl Backward<Flex, 1> for RowBackward {
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [Some(node)] = ops.parents else {
            return;
        };
        let saved = contiguous(ops.state);
        let dx = written_shaped(saved.layout().shape().clone(), |dx| {
            (self.0)(values(&saved), values(&grad), last_dim(&saved), dx)
        });
        grads.register::<Flex>(node.id, dx);
    }
}

/// The autodiff form of `forward`: its result, with a backward step calling `grad_kernel` on
/// the `saved` tensor recorded when `x` is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    forward: fn(FlexTensor) -> FlexTensor,
    saved: Saved,
    grad_kernel: RowGradKernel,
) -> FloatTensor<Autodiff<Flex, C>> {
    let input = x.primitive().clone();
    let out = forward(input.clone());
    match RowBackward(grad_kernel)
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let state = match saved {
                Saved::Input => input,
                Saved::Output => out.clone(),
            };
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(out),
    }
}
