//! Max-pooling, with and without the fused ReLU.

use burn::tensor::{Device, Distribution, Tensor, activation};
use mine_runtime::kernels::ops;

use crate::compare_grads;

#[test]
pub fn max_pool_matches_burn_in_values_and_gradients() {
    use burn::tensor::ops::MaxPoolOptions;
    let device = Device::flex().autodiff();
    for (shape, k, s, p) in [
        ([2, 3, 128, 128], 3, 2, 1),
        ([1, 16, 33, 17], 3, 2, 1),
        ([3, 2, 7, 6], 2, 2, 0),
        ([2, 4, 9, 11], 5, 3, 2),
        ([32, 32, 32, 32], 3, 2, 1),
    ] {
        let x = Tensor::<4>::random(shape, Distribution::Default, &device);
        let options = MaxPoolOptions::new([k, k])
            .with_stride([s, s])
            .with_padding([p, p]);
        compare_grads(
            &format!("max pool {shape:?} k{k} s{s} p{p}"),
            x.clone(),
            Vec::new(),
            |x, _| ops::max_pool2d(x, options.clone()),
            |x, _| burn::tensor::module::max_pool2d(x, options.clone()),
        );
        // Centred values: windows whose maximum is negative get no gradient.
        compare_grads(
            &format!("max pool + relu {shape:?} k{k} s{s} p{p}"),
            x - 0.7,
            Vec::new(),
            |x, _| ops::max_pool2d_relu(x, options.clone()),
            |x, _| activation::relu(burn::tensor::module::max_pool2d(x, options.clone())),
        );
    }
}
