//! Our kernels as a burn backend extension of the flex CPU backend, with hand-written
//! backward passes for its autodiff form.
//!
//! [`CpuKernels`] is implemented for `Flex` (the forward kernels) and `Autodiff<Flex, C>`
//! (the forward plus a backward step calling the gradient kernels). The tensor-level functions
//! in [`super::ops`] route flex f32 tensors here and everything else to burn's own ops.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex, backend_extension};
use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};

use super::cpu::conv::{ConvShape, conv2d_forward, conv2d_input_grad, conv2d_weight_grad};

/// The operations our CPU kernels provide.
#[backend_extension(Flex, Autodiff)]
pub trait CpuKernels: burn::backend::Backend {
    /// 2-D convolution with groups 1: `x` `[N, C_in, H, W]`, `weight`
    /// `[C_out, C_in, kh, kw]`, `bias` `[C_out]`; symmetric `padding`; followed by a ReLU
    /// when `relu`.
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        relu: bool,
    ) -> FloatTensor<Self>;
}

/// `t` as a contiguous tensor whose f32 elements `as_slice` returns.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The f32 elements of a tensor made by [`contiguous`].
fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("kernels only receive f32 tensors made contiguous")
}

/// A contiguous f32 tensor of `shape` holding `data`.
fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape)),
        DType::F32,
    )
}

fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.layout().shape();
    [shape[0], shape[1], shape[2], shape[3]]
}

fn conv_shape(x: [usize; 4], weight: [usize; 4], stride: [usize; 2], padding: [usize; 2], dilation: [usize; 2]) -> ConvShape {
    ConvShape {
        batch: x[0],
        in_channels: x[1],
        height: x[2],
        width: x[3],
        out_channels: weight[0],
        kernel: [weight[2], weight[3]],
        stride,
        padding,
        dilation,
    }
}

fn conv_output_shape(s: &ConvShape) -> [usize; 4] {
    let [oh, ow] = s.output_size().unwrap_or([0, 0]);
    [s.batch, s.out_channels, oh, ow]
}

impl CpuKernels for Flex {
    fn cpu_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        relu: bool,
    ) -> FlexTensor {
        let (x, weight, bias) = (contiguous(x), contiguous(weight), contiguous(bias));
        let s = conv_shape(dims4(&x), dims4(&weight), stride, padding, dilation);
        let shape = conv_output_shape(&s);
        let mut out = vec![0.0; shape.iter().product()];
        conv2d_forward(&s, values(&x), values(&weight), Some(values(&bias)), relu, &mut out);
        tensor(out, shape)
    }
}

/// The backward step of [`CpuKernels::cpu_conv2d`]: parents `x`, `weight`, `bias`.
#[derive(Debug)]
struct Conv2dBackward;

impl Backward<Flex, 3> for Conv2dBackward {
    /// `x`, `weight`, the geometry, and the output when a ReLU followed the convolution.
    type State = (NodeId, NodeId, ConvShape, Option<FlexTensor>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let (x_state, weight_state, s, relu_out) = ops.state;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let grad = match relu_out {
            Some(out) => relu_backward(grad, contiguous(out)),
            None => grad,
        };
        let x = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(x_state));
        let weight = contiguous(checkpointer.retrieve_node_output::<FlexTensor>(weight_state));
        if let Some(node) = node_x {
            let mut dx = vec![0.0; x.layout().num_elements()];
            conv2d_input_grad(&s, values(&grad), values(&weight), &mut dx);
            grads.register::<Flex>(node.id, tensor(dx, dims4(&x)));
        }
        if node_weight.is_some() || node_bias.is_some() {
            let mut dw = vec![0.0; weight.layout().num_elements()];
            let mut db = vec![0.0; s.out_channels];
            conv2d_weight_grad(&s, values(&x), values(&grad), &mut dw, Some(&mut db));
            if let Some(node) = node_weight {
                grads.register::<Flex>(node.id, tensor(dw, dims4(&weight)));
            }
            if let Some(node) = node_bias {
                grads.register::<Flex>(node.id, tensor(db, [s.out_channels]));
            }
        }
    }
}

/// `grad * (out > 0)`: the gradient through a ReLU whose output was `out`.
fn relu_backward(grad: FlexTensor, out: FlexTensor) -> FlexTensor {
    let shape = dims4(&grad);
    let masked = values(&grad)
        .iter()
        .zip(values(&out))
        .map(|(g, y)| if *y > 0.0 { *g } else { 0.0 })
        .collect();
    tensor(masked, shape)
}

impl<C: CheckpointStrategy> CpuKernels for Autodiff<Flex, C> {
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
        relu: bool,
    ) -> FloatTensor<Self> {
        let forward = |x: &FloatTensor<Self>, w: &FloatTensor<Self>, b: &FloatTensor<Self>| {
            Flex::cpu_conv2d(
                x.primitive().clone(),
                w.primitive().clone(),
                b.primitive().clone(),
                stride,
                padding,
                dilation,
                relu,
            )
        };
        match Conv2dBackward
            .prepare::<C>([x.node(), weight.node(), bias.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let s = conv_shape(dims4(x.primitive()), dims4(weight.primitive()), stride, padding, dilation);
                let out = forward(&x, &weight, &bias);
                let relu_out = relu.then(|| out.clone());
                prep.finish((x_state, weight_state, s, relu_out), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(forward(&x, &weight, &bias)),
        }
    }
}
