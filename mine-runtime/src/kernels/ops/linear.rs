//! Linear layers and matrix products.

use burn::tensor::Tensor;

#[cfg(feature = "flex")]
use super::{as_f32, kernel_mode, on_flex_f32};
use crate::kernels::autocast::to_compute;

/// `x weight + bias` over the last dimension of `x` `[..., d_in]` (burn's
/// [`linear`](burn::tensor::module::linear), `weight` `[d_in, d_out]`): our kernel on flex
/// f32 tensors (the leading dimensions flattened into rows), burn's op otherwise; on the
/// autocast dtype inside an [`autocast`](crate::kernels::autocast) scope.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use mine_runtime::kernels::ops::linear;
///
/// let device = Device::flex();
/// let x = Tensor::<3>::ones([2, 3, 4], &device);
/// let weight = Tensor::<2>::ones([4, 5], &device);
/// let y = linear(x, weight, Some(Tensor::<1>::ones([5], &device)));
/// assert_eq!(y.dims(), [2, 3, 5]);
/// let values: Vec<f32> = y.into_data().to_vec().unwrap();
/// assert!(values.iter().all(|&v| v == 5.0));
/// ```
pub fn linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Tensor<D> {
    #[cfg(feature = "flex")]
    if D >= 2 {
        let params = on_flex_f32(&weight) && bias.as_ref().is_none_or(on_flex_f32);
        if let Some(bf16) = kernel_mode(&x, params) {
            use burn::backend::Dispatch;
            let dims = x.dims();
            let [d_in, d_out] = weight.dims();
            let rows = dims[..D - 1].iter().product();
            let bias = bias.unwrap_or_else(|| Tensor::zeros([d_out], &weight.device()));
            let out =
                Tensor::<2>::from_dispatch(<Dispatch as crate::kernels::CpuKernels>::cpu_linear(
                    as_f32(x).reshape([rows, d_in]).into_dispatch(),
                    weight.into_dispatch(),
                    bias.into_dispatch(),
                    bf16,
                ));
            let mut out_dims = dims;
            out_dims[D - 1] = d_out;
            return out.reshape(out_dims);
        }
    }
    let (x, weight, bias) = (to_compute(x), to_compute(weight), bias.map(to_compute));
    burn::tensor::module::linear(x, weight, bias)
}

/// [`burn::nn::Linear::forward`] through [`linear`].
pub fn linear_layer<const D: usize>(layer: &burn::nn::Linear, x: Tensor<D>) -> Tensor<D> {
    linear(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
}

/// `a.matmul(b)` (batched over the leading dimensions): burn's op, on the autocast dtype
/// inside an [`autocast`](crate::kernels::autocast) scope (attention logits and weighted values).
pub fn matmul<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> Tensor<D> {
    to_compute(a).matmul(to_compute(b))
}
