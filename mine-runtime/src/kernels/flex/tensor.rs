//! Moving between flex tensors and the kernels' contiguous f32 slices.

use burn::backend::Flex;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::grads::Gradients;
use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};
use rayon::prelude::*;

use std::borrow::Cow;

use crate::kernels::cpu::elementwise::{add, relu_mask};
use crate::kernels::cpu::{bf16, written_vec};

/// Elements per task of the element-wise loops here.
const CHUNK: usize = 1 << 16;

/// A vector of `n` elements whose chunks of `CHUNK` elements `fill(chunk_index, chunk)`
/// initializes in parallel (every element must be written).
fn par_filled<T: Send>(
    n: usize,
    fill: impl Fn(usize, &mut [std::mem::MaybeUninit<T>]) + Sync,
) -> Vec<T> {
    // `fill` writes every element of its chunk (its contract, and both callers do).
    written_vec(n, |v| {
        v.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| fill(i, chunk))
    })
}

/// A contiguous f32 tensor of `shape` whose elements `write` produces. `write` must write
/// every element: the kernels passed here document that they do.
pub fn written<const D: usize>(
    shape: [usize; D],
    write: impl FnOnce(&mut [std::mem::MaybeUninit<f32>]),
) -> FlexTensor {
    written_shaped(Shape::from(shape), write)
}

/// [`written`] for a shape of any rank.
pub fn written_shaped(
    shape: Shape,
    write: impl FnOnce(&mut [std::mem::MaybeUninit<f32>]),
) -> FlexTensor {
    let v = written_vec(shape.num_elements(), write);
    FlexTensor::new(Bytes::from_elems(v), Layout::contiguous(shape), DType::F32)
}

/// Like [`written`], with the elements rounded to bf16 afterwards when `bf16` (a kernel's
/// result under bf16 autocast: f32 accumulation, one rounding).
pub fn written_as<const D: usize>(
    shape: [usize; D],
    bf16: bool,
    write: impl FnOnce(&mut [std::mem::MaybeUninit<f32>]),
) -> FlexTensor {
    written(shape, |out| {
        write(out);
        if bf16 {
            // SAFETY: `write` initialized every element (the contract of `written`).
            let out = unsafe { &mut *(out as *mut [std::mem::MaybeUninit<f32>] as *mut [f32]) };
            bf16::round_in_place(out);
        }
    })
}

/// The elements of a tensor made by [`contiguous`] as a kernel's operand: rounded to bf16
/// (a copy) when `bf16`, as they are otherwise.
pub fn operand(t: &FlexTensor, bf16: bool) -> Cow<'_, [f32]> {
    match bf16 {
        true => Cow::Owned(bf16::rounded(values(t))),
        false => Cow::Borrowed(values(t)),
    }
}

/// A vector's elements rounded to bf16 in place when `bf16` (a gradient under autocast).
pub fn round_if(mut v: Vec<f32>, bf16: bool) -> Vec<f32> {
    if bf16 {
        bf16::round_in_place(&mut v);
    }
    v
}

/// `n` zeros (floats, or a kernel's bytes), written by the thread pool (a kernel's output
/// buffer: large, and overwritten).
pub fn zeros<T: Default + Copy + Send>(n: usize) -> Vec<T> {
    par_filled(n, |_, chunk| {
        for x in chunk {
            x.write(T::default());
        }
    })
}

/// `t` as a contiguous tensor whose f32 elements [`values`] returns.
pub fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

/// The f32 elements of a tensor made by [`contiguous`].
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("kernels only receive f32 tensors made contiguous")
}

/// A contiguous f32 tensor of `shape` holding `data`.
pub fn tensor<const D: usize>(data: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::new(
        Bytes::from_elems(data),
        Layout::contiguous(Shape::from(shape)),
        DType::F32,
    )
}

/// The dimensions of a 4-D tensor.
pub fn dims4(t: &FlexTensor) -> [usize; 4] {
    let shape = t.layout().shape();
    [shape[0], shape[1], shape[2], shape[3]]
}

/// A tensor shaped like `a` whose elements `op(a_chunk, b_chunk, out_chunk)` writes, chunk
/// by chunk on the thread pool (`a`, `b` contiguous, of the same shape).
fn zip_written(
    a: &FlexTensor,
    b: &FlexTensor,
    op: fn(&[f32], &[f32], &mut [std::mem::MaybeUninit<f32>]),
) -> FlexTensor {
    let (x, y) = (values(a), values(b));
    let out = par_filled(x.len(), |i, chunk| {
        let range = i * CHUNK..i * CHUNK + chunk.len();
        op(&x[range.clone()], &y[range], chunk);
    });
    FlexTensor::new(
        Bytes::from_elems(out),
        Layout::contiguous(a.layout().shape().clone()),
        DType::F32,
    )
}

/// `a + b` (same shapes, contiguous), written by the thread pool.
pub fn sum_of(a: &FlexTensor, b: &FlexTensor) -> FlexTensor {
    zip_written(a, b, add)
}

/// `grad * (out > 0)`: the gradient through a ReLU whose output was `out` (same shapes).
pub fn relu_backward(grad: &FlexTensor, out: &FlexTensor) -> FlexTensor {
    zip_written(grad, out, relu_mask)
}

/// Registers a layer's weight and bias gradients for those of the two parents that are
/// tracked.
pub fn register_weight_and_bias(
    grads: &mut Gradients,
    [weight_node, bias_node]: [Option<NodeId>; 2],
    weight: FlexTensor,
    bias: FlexTensor,
) {
    if let Some(id) = weight_node {
        grads.register::<Flex>(id, weight);
    }
    if let Some(id) = bias_node {
        grads.register::<Flex>(id, bias);
    }
}
