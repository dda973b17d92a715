//! [`CpuKernels::cpu_linear`](super::CpuKernels::cpu_linear) on flex: forward, and the
//! backward step of its autodiff form (input, weight and bias gradients).

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, register_weight_and_bias, tensor, values, written};
use crate::kernels::cpu::linear::{
    LinearShape, linear_forward, linear_input_grad, linear_weight_grad,
};

fn shape_of(x: &FlexTensor, weight: &FlexTensor) -> LinearShape {
    let (x, w) = (x.layout().shape(), weight.layout().shape());
    LinearShape {
        rows: x[0],
        d_in: x[1],
        d_out: w[1],
    }
}

/// `x weight + bias` for `x` `[rows, d_in]`, `weight` `[d_in, d_out]`, `bias` `[d_out]`.
pub fn forward(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
    let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
    let s = shape_of(&x, &weight);
    let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
    written([s.rows, s.d_out], |out| {
        linear_forward(&s, x, weight, Some(bias), out)
    })
}

/// The backward step: parents `x`, `weight`, `bias`.
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// `x`, `weight` and the geometry.
    type State = (NodeId, NodeId, LinearShape);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let (x_state, weight_state, s) = ops.state;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let g = values(&grad);
        let x = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let weight = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(weight_state));
        if let Some(node) = node_x {
            let dx = written([s.rows, s.d_in], |dx| {
                linear_input_grad(&s, g, values(&weight), dx)
            });
            grads.register::<Flex>(node.id, dx);
        }
        if node_weight.is_some() || node_bias.is_some() {
            let mut db = vec![0.0; s.d_out];
            let bias_grad = node_bias.is_some().then_some(&mut db[..]);
            let dw = written([s.d_in, s.d_out], |dw| {
                linear_weight_grad(&s, values(&x), g, dw, bias_grad)
            });
            let nodes = [node_weight, node_bias].map(|n| n.map(|n| n.id));
            register_weight_and_bias(grads, nodes, dw, tensor(db, [s.d_out]));
        }
    }
}

/// The autodiff form: the forward, with [`LinearBackward`] recorded when an input is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
) -> FloatTensor<Autodiff<Flex, C>> {
    let run = || {
        forward(
            x.primitive().clone(),
            weight.primitive().clone(),
            bias.primitive().clone(),
        )
    };
    match LinearBackward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let x_state = prep.checkpoint(&x);
            let weight_state = prep.checkpoint(&weight);
            let s = shape_of(x.primitive(), weight.primitive());
            prep.finish((x_state, weight_state, s), run())
        }
        OpsKind::UnTracked(prep) => prep.finish(run()),
    }
}
