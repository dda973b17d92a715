//! [`CpuKernels::cpu_max_pool2d`](super::CpuKernels::cpu_max_pool2d) on flex: forward, and
//! the backward step of its autodiff form (the gradient routed to each window's maximum,
//! when positive if a ReLU is fused).

use std::sync::Arc;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, dims4, tensor, values, written, zeros};
use crate::kernels::cpu::max_pool::{MaxPoolParams, max_pool_backward_with, max_pool_forward_with};

/// The kernels' parameters.
pub fn params(kernel: usize, stride: usize, padding: usize) -> MaxPoolParams {
    MaxPoolParams {
        kernel,
        stride,
        padding,
    }
}

/// The pooled (and, when `relu`, rectified) tensor and each output's window index of its
/// maximum. Both buffers are zeroed by the thread pool, and the indices kept without a copy
/// (an `Arc<[u8]>` would copy them on the calling thread: 8 MiB at B=4 T=32).
pub fn forward(x: FlexTensor, p: MaxPoolParams, relu: bool) -> (FlexTensor, Arc<Vec<u8>>) {
    let x = contiguous(x);
    let [n, c, h, w] = dims4(&x);
    let (oh, ow) = (p.out_len(h), p.out_len(w));
    let mut out = zeros(n * c * oh * ow);
    let mut argmax = zeros(out.len());
    max_pool_forward_with(p, relu, values(&x), n, c, h, w, &mut out, &mut argmax);
    (tensor(out, [n, c, oh, ow]), Arc::new(argmax))
}

/// The backward step: parent `x`.
#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// Input dimensions, parameters, window indices of the maxima.
    type State = ([usize; 4], MaxPoolParams, Arc<Vec<u8>>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let ([n, c, h, w], p, argmax) = ops.state;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        if let Some(node) = node_x {
            let dx = written([n, c, h, w], |dx| {
                max_pool_backward_with(p, values(&grad), &argmax, n, c, h, w, dx)
            });
            grads.register::<Flex>(node.id, dx);
        }
    }
}

/// The autodiff form: the forward, with [`MaxPoolBackward`] recorded when `x` is tracked.
pub fn autodiff<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    p: MaxPoolParams,
    relu: bool,
) -> FloatTensor<Autodiff<Flex, C>> {
    match MaxPoolBackward
        .prepare::<C>([x.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let dims = dims4(x.primitive());
            let (out, argmax) = forward(x.primitive().clone(), p, relu);
            prep.finish((dims, p, argmax), out)
        }
        OpsKind::UnTracked(prep) => prep.finish(forward(x.primitive().clone(), p, relu).0),
    }
}
