//! [`CpuKernels::cpu_conv2d`](super::CpuKernels::cpu_conv2d) and
//! [`cpu_depthwise_conv2d`](super::CpuKernels::cpu_depthwise_conv2d) on flex: forward, and the
//! backward step of their autodiff form (input, weight and bias gradients, through the ReLU).

use std::mem::MaybeUninit;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{
    contiguous, dims4, register_weight_and_bias, relu_backward, tensor, values, written,
};
use crate::kernels::cpu::conv::depthwise::{
    depthwise_forward, depthwise_input_grad, depthwise_weight_grad,
};
use crate::kernels::cpu::conv::{
    ConvShape, conv2d_forward, conv2d_forward_bf16, conv2d_input_grad, conv2d_input_grad_bf16,
    conv2d_weight_grad, conv2d_weight_grad_bf16,
};

/// `[stride, padding, dilation]`.
pub type Geometry = [[usize; 2]; 3];

fn shape_of(
    x: &FlexTensor,
    weight: &FlexTensor,
    [stride, padding, dilation]: Geometry,
) -> ConvShape {
    let (x, w) = (dims4(x), dims4(weight));
    ConvShape {
        batch: x[0],
        in_channels: x[1],
        height: x[2],
        width: x[3],
        out_channels: w[0],
        kernel: [w[2], w[3]],
        stride,
        padding,
        dilation,
    }
}

/// The forward kernels' signature.
type Forward = fn(&ConvShape, &[f32], &[f32], Option<&[f32]>, bool, &mut [MaybeUninit<f32>]);
/// The input-gradient kernels' signature.
type InputGrad = fn(&ConvShape, &[f32], &[f32], &mut [MaybeUninit<f32>]);
/// The weight-gradient kernels' signature.
type WeightGrad = fn(&ConvShape, &[f32], &[f32], &mut [f32], Option<&mut [f32]>);

/// The three kernels of one kind of convolution.
#[derive(Clone, Copy, Debug)]
pub struct Kernels {
    forward: Forward,
    input_grad: InputGrad,
    weight_grad: WeightGrad,
}

impl Kernels {
    /// Groups 1; with `bf16` (autocast) on operands rounded to bf16 and with the results
    /// rounded to bf16, in the backward pass too (the gradient of the bf16 output is bf16).
    pub fn dense(bf16: bool) -> Self {
        match bf16 {
            true => Self {
                forward: conv2d_forward_bf16,
                input_grad: conv2d_input_grad_bf16,
                weight_grad: conv2d_weight_grad_bf16,
            },
            false => Self {
                forward: conv2d_forward,
                input_grad: conv2d_input_grad,
                weight_grad: conv2d_weight_grad,
            },
        }
    }

    /// Depthwise (as many groups as channels, weight `[C, 1, kh, kw]`), in f32.
    pub const DEPTHWISE: Self = Self {
        forward: depthwise_forward,
        input_grad: depthwise_input_grad,
        weight_grad: depthwise_weight_grad,
    };
}

/// `conv2d(x, weight) + bias` with `kernels`, then a ReLU when `relu`.
pub fn forward(
    x: FlexTensor,
    weight: FlexTensor,
    bias: FlexTensor,
    geometry: Geometry,
    relu: bool,
    kernels: Kernels,
) -> FlexTensor {
    let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
    let s = shape_of(&x, &weight, geometry);
    let [oh, ow] = s.output_size().unwrap_or([0, 0]);
    let shape = [s.batch, s.out_channels, oh, ow];
    let (x, weight, bias) = (values(&x), values(&weight), Some(values(&bias)));
    written(shape, |out| {
        (kernels.forward)(&s, x, weight, bias, relu, out)
    })
}

/// The backward step: parents `x`, `weight`, `bias`.
#[derive(Debug)]
struct Conv2dBackward;

impl Backward<Flex, 3> for Conv2dBackward {
    /// `x` (contiguous: a permuted input, such as the first layer's frames, is copied once for
    /// both passes), `weight`, the geometry, the output when a ReLU followed the convolution,
    /// and the kernels (of a bf16 forward: bf16 gradients, operands and results rounded).
    type State = (FlexTensor, NodeId, ConvShape, Option<FlexTensor>, Kernels);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let (x, weight_state, s, relu_out, kernels) = ops.state;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        // One vectorized pass: measured faster than masking inside the direct kernels'
        // padding and transposition.
        let grad = match relu_out {
            Some(out) => relu_backward(&grad, &contiguous(out)),
            None => grad,
        };
        let weight = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(weight_state));
        let (g, w) = (values(&grad), values(&weight));
        if let Some(node) = node_x {
            let dx = written(dims4(&x), |dx| (kernels.input_grad)(&s, g, w, dx));
            grads.register::<Flex>(node.id, dx);
        }
        if node_weight.is_some() || node_bias.is_some() {
            let mut dw = vec![0.0; weight.layout().num_elements()];
            let mut db = vec![0.0; s.out_channels];
            let bias_grad = node_bias.is_some().then_some(&mut db[..]);
            (kernels.weight_grad)(&s, values(&x), g, &mut dw, bias_grad);
            let nodes = [node_weight, node_bias].map(|n| n.map(|n| n.id));
            let (dw, db) = (tensor(dw, dims4(&weight)), tensor(db, [s.out_channels]));
            register_weight_and_bias(grads, nodes, dw, db);
        }
    }
}

/// The autodiff form: the forward, with [`Conv2dBackward`] recorded when an input is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    geometry: Geometry,
    relu: bool,
    kernels: Kernels,
) -> FloatTensor<Autodiff<Flex, C>> {
    let run = |xp: FlexTensor| {
        let (wp, bp) = (weight.primitive(), bias.primitive());
        forward(xp, wp.clone(), bp.clone(), geometry, relu, kernels)
    };
    match Conv2dBackward
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let weight_state = prep.checkpoint(&weight);
            let s = shape_of(x.primitive(), weight.primitive(), geometry);
            let xc = contiguous(x.primitive().clone());
            let out = run(xc.clone());
            let relu_out = relu.then(|| out.clone());
            prep.finish((xc, weight_state, s, relu_out, kernels), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(run(x.primitive().clone())),
    }
}
