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

use super::tensor::{
    contiguous, operand, register_weight_and_bias, round_if, tensor, values, written, written_as,
};
use crate::kernels::cpu::linear::{
    LinearShape, linear_forward, linear_input_grad, linear_weight_grad,
};
use crate::kernels::cpu::linear_bf16;

/// Whether a bf16 layer runs the `vdpbf16ps` kernels (which round the operands as they pack
/// them) instead of the f32 ones on rounded copies: where the CPU has AVX512_BF16 and
/// [`KernelOptions::bf16_dot`](crate::kernels::KernelOptions) is on.
fn dot_bf16(bf16: bool) -> bool {
    bf16 && crate::kernels::options().bf16_dot && linear_bf16::available()
}

fn shape_of(x: &FlexTensor, weight: &FlexTensor) -> LinearShape {
    let (x, w) = (x.layout().shape(), weight.layout().shape());
    LinearShape {
        rows: x[0],
        d_in: x[1],
        d_out: w[1],
    }
}

/// `x weight + bias` for `x` `[rows, d_in]`, `weight` `[d_in, d_out]`, `bias` `[d_out]`; on
/// operands rounded to bf16 and with the result rounded to bf16 when `bf16` (autocast).
pub fn forward(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, bf16: bool) -> FlexTensor {
    let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
    let s = shape_of(&x, &weight);
    if dot_bf16(bf16) {
        let (x, weight, bias) = (values(&x), values(&weight), values(&bias));
        return written([s.rows, s.d_out], |out| {
            linear_bf16::forward(&s, x, weight, Some(bias), out)
        });
    }
    let (x, weight, bias) = (
        operand(&x, bf16),
        operand(&weight, bf16),
        operand(&bias, bf16),
    );
    written_as([s.rows, s.d_out], bf16, |out| {
        linear_forward(&s, &x, &weight, Some(&bias), out)
    })
}

/// The backward step: parents `x`, `weight`, `bias`.
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// `x`, `weight`, the geometry, and whether the layer ran in bf16 (then so do the
    /// gradients: operands and results rounded).
    type State = (NodeId, NodeId, LinearShape, bool);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let (x_state, weight_state, s, bf16) = ops.state;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let x = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let weight = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(weight_state));
        if dot_bf16(bf16) {
            let nodes = [node_x, node_weight, node_bias].map(|n| n.map(|n| n.id));
            return dot_backward(nodes, grads, s, [&grad, &x, &weight]);
        }
        // Under autocast the gradient of the bf16 output is bf16.
        let g = operand(&grad, bf16);
        if let Some(node) = node_x {
            let dx = written_as([s.rows, s.d_in], bf16, |dx| {
                linear_input_grad(&s, &g, &operand(&weight, bf16), dx)
            });
            grads.register::<Flex>(node.id, dx);
        }
        if node_weight.is_some() || node_bias.is_some() {
            let mut db = vec![0.0; s.d_out];
            let bias_grad = node_bias.is_some().then_some(&mut db[..]);
            let dw = written_as([s.d_in, s.d_out], bf16, |dw| {
                linear_weight_grad(&s, &operand(&x, bf16), &g, dw, bias_grad)
            });
            let nodes = [node_weight, node_bias].map(|n| n.map(|n| n.id));
            let db = tensor(round_if(db, bf16), [s.d_out]);
            register_weight_and_bias(grads, nodes, dw, db);
        }
    }
}

/// The backward step with the `vdpbf16ps` kernels (operands rounded as they are packed).
fn dot_backward(
    [node_x, node_weight, node_bias]: [Option<NodeId>; 3],
    grads: &mut Gradients,
    s: LinearShape,
    [grad, x, weight]: [&FlexTensor; 3],
) {
    let g = values(grad);
    if let Some(node) = node_x {
        let dx = written([s.rows, s.d_in], |dx| {
            linear_bf16::input_grad(&s, g, values(weight), dx)
        });
        grads.register::<Flex>(node, dx);
    }
    if node_weight.is_some() || node_bias.is_some() {
        let mut db = vec![0.0; s.d_out];
        let bias_grad = node_bias.is_some().then_some(&mut db[..]);
        let dw = written([s.d_in, s.d_out], |dw| {
            linear_bf16::weight_grad(&s, values(x), g, dw, bias_grad)
        });
        let nodes = [node_weight, node_bias];
        register_weight_and_bias(grads, nodes, dw, tensor(db, [s.d_out]));
    }
}

/// The autodiff form: the forward, with [`LinearBackward`] recorded when an input is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    bf16: bool,
) -> FloatTensor<Autodiff<Flex, C>> {
    let run = || {
        forward(
            x.primitive().clone(),
            weight.primitive().clone(),
            bias.primitive().clone(),
            bf16,
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
            prep.finish((x_state, weight_state, s, bf16), run())
        }
        OpsKind::UnTracked(prep) => prep.finish(run()),
    }
}
