//! Max-pooling, with the fused ReLU.

use burn::tensor::Tensor;

use super::maybe_relu;
#[cfg(feature = "flex")]
use super::uses_kernels;

/// [`burn::tensor::module::max_pool2d`]: our kernel for square windows (up to 16, padding at
/// most half the window, no dilation, floor mode) on flex f32 tensors, burn's op otherwise.
pub fn max_pool2d(x: Tensor<4>, options: burn::tensor::ops::MaxPoolOptions<2>) -> Tensor<4> {
    max_pool2d_maybe_relu(x, options, false)
}

/// `relu(max_pool2d(x))` in one pass (see [`max_pool2d`]; windows up to 15 on the kernel).
/// This equals `max_pool2d(relu(x))`, values and gradients (both are monotone), so a
/// convolution's ReLU can move behind its pooling: 4x fewer values to rectify, and no ReLU
/// mask in the convolution's backward.
pub fn max_pool2d_relu(x: Tensor<4>, options: burn::tensor::ops::MaxPoolOptions<2>) -> Tensor<4> {
    max_pool2d_maybe_relu(x, options, true)
}

fn max_pool2d_maybe_relu(
    x: Tensor<4>,
    options: burn::tensor::ops::MaxPoolOptions<2>,
    relu: bool,
) -> Tensor<4> {
    #[cfg(feature = "flex")]
    {
        let [k, _] = options.kernel_size;
        let [s, _] = options.stride;
        let [(p, _), _] = options.padding;
        let square = options.kernel_size == [k; 2]
            && options.stride == [s; 2]
            && options.padding == [(p, p); 2]
            && options.dilation == [1, 1]
            && !options.ceil_mode;
        let params = crate::kernels::cpu::max_pool::MaxPoolParams {
            kernel: k,
            stride: s,
            padding: p,
        };
        let supported = if relu {
            params.supported_with_relu()
        } else {
            params.supported()
        };
        if square && supported && uses_kernels(&x) {
            use burn::backend::Dispatch;
            return Tensor::from_dispatch(
                <Dispatch as crate::kernels::CpuKernels>::cpu_max_pool2d(
                    x.into_dispatch(),
                    k,
                    s,
                    p,
                    relu,
                ),
            );
        }
    }
    maybe_relu(burn::tensor::module::max_pool2d(x, options), relu)
}
