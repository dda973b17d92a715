//! Moving between flex tensors and the kernels' contiguous f32 slices.

use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};
use rayon::prelude::*;

/// Elements per task of the element-wise loops here.
const CHUNK: usize = 1 << 16;

/// `n` zeros, written by the thread pool (a kernel's output buffer: large, and overwritten).
pub fn zeros(n: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(n);
    v.par_extend(rayon::iter::repeat_n(0.0f32, n));
    v
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

/// `grad * (out > 0)`: the gradient through a ReLU whose output was `out` (same shapes).
pub fn relu_backward(grad: &FlexTensor, out: &FlexTensor) -> FlexTensor {
    let mut masked = zeros(values(grad).len());
    masked
        .par_chunks_mut(CHUNK)
        .zip(values(grad).par_chunks(CHUNK).zip(values(out).par_chunks(CHUNK)))
        .for_each(|(m, (g, y))| {
            for ((m, g), y) in m.iter_mut().zip(g).zip(y) {
                *m = if *y > 0.0 { *g } else { 0.0 };
            }
        });
    tensor(masked, dims4(grad))
}
