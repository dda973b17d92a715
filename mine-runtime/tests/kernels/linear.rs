//! Linear layers, values and gradients.

use burn::tensor::{Device, Distribution, Tensor};
use mine_runtime::kernels::ops;

use crate::assert_layer_close;

#[test]
pub fn linear_matches_burn_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    // A 3-D batch, rows that do not fill a block, a single row, and the small VPT's dense
    // layer (parallel blocks).
    for (x_shape, d_out, bias) in [
        (vec![2, 3, 17], 9, true),
        (vec![5, 300], 129, false),
        (vec![1, 40], 1, true),
        (vec![2, 16, 8192], 256, true),
    ] {
        let what = format!("linear x {x_shape:?} d_out {d_out} bias {bias}");
        let d_in = *x_shape.last().unwrap();
        let rows = x_shape[..x_shape.len() - 1].iter().product();
        let x = Tensor::<2>::random([rows, d_in], Distribution::Default, &device);
        let w = Tensor::<2>::random([d_in, d_out], Distribution::Default, &device);
        let b = bias.then(|| Tensor::<1>::random([d_out], Distribution::Default, &device));
        // The upstream gradient, independent of the output: `sin(y)` of sums over 8192
        // terms would amplify their last-bit differences.
        let r = Tensor::<2>::random([x.dims()[0], d_out], Distribution::Default, &device);
        let run = |ours: bool| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let b = b.clone().map(Tensor::require_grad);
            let xs = x.clone();
            let y = if x_shape.len() == 3 {
                let x3 = xs.reshape([x_shape[0], x_shape[1], d_in]);
                let y = if ours {
                    ops::linear(x3, w.clone(), b.clone())
                } else {
                    burn::tensor::module::linear(x3, w.clone(), b.clone())
                };
                y.reshape([x_shape[0] * x_shape[1], d_out])
            } else if ours {
                ops::linear(xs, w.clone(), b.clone())
            } else {
                burn::tensor::module::linear(xs, w.clone(), b.clone())
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            let gb = b.as_ref().map(|b| b.grad(&grads).unwrap());
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                w.grad(&grads).unwrap(),
                gb,
            )
        };
        assert_layer_close(&what, run(true), run(false));
    }
}
