//! Moving between flex tensors and the kernels' contiguous f32 slices.

use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};

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
    let masked = values(grad)
        .iter()
        .zip(values(out))
        .map(|(g, y)| if *y > 0.0 { *g } else { 0.0 })
        .collect();
    tensor(masked, dims4(grad))
}
