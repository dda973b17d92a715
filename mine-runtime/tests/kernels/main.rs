//! Our CPU kernels against burn's reference ops through the tensor API, on the flex backend:
//! values and gradients (odd shapes, batch 1, non-square images, strides, dilation, no bias),
//! one module per kind of operation.
#![cfg(feature = "flex")]

use burn::tensor::Tensor;
use mine_runtime::kernels::ops;

#[path = "../common/mod.rs"]
mod common;

mod conv;
mod elementwise;
mod heads;
mod linear;
mod norm;
mod pool;

use common::on_threads;

fn assert_close<const D: usize>(got: Tensor<D>, want: Tensor<D>, what: &str) {
    assert_eq!(got.dims(), want.dims(), "{what}: shapes");
    let got: Vec<f32> = got.into_data().try_to_vec::<f32>().unwrap();
    let want: Vec<f32> = want.into_data().try_to_vec::<f32>().unwrap();
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1.0);
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 2e-5 * scale,
            "{what}[{i}]: {g} vs {w} (scale {scale})"
        );
    }
}

/// The bits of `t`'s values.
fn bits<const D: usize>(t: Tensor<D>) -> Vec<u32> {
    let v = t.into_data().try_to_vec::<f32>().unwrap();
    v.iter().map(|x| x.to_bits()).collect()
}

/// A layer's output and its input, weight and (optional) bias gradients.
type LayerGrads<const D: usize, const W: usize> =
    (Tensor<D>, Tensor<D>, Tensor<W>, Option<Tensor<1>>);

fn assert_layer_close<const D: usize, const W: usize>(
    what: &str,
    (y, gx, gw, gb): LayerGrads<D, W>,
    (y_ref, gx_ref, gw_ref, gb_ref): LayerGrads<D, W>,
) {
    assert_close(y, y_ref, &format!("{what}: output"));
    assert_close(gx, gx_ref, &format!("{what}: x grad"));
    assert_close(gw, gw_ref, &format!("{what}: weight grad"));
    if let (Some(gb), Some(gb_ref)) = (gb, gb_ref) {
        assert_close(gb, gb_ref, &format!("{what}: bias grad"));
    }
}

/// Output and gradients (of `x` and of `params`) of `ours` and `reference`, for a random
/// upstream gradient.
fn compare_grads(
    what: &str,
    x: Tensor<4>,
    params: Vec<Tensor<1>>,
    ours: impl Fn(Tensor<4>, &[Tensor<1>]) -> Tensor<4>,
    reference: impl Fn(Tensor<4>, &[Tensor<1>]) -> Tensor<4>,
) {
    assert!(ops::uses_kernels(&x), "{what}: the kernels are not in use");
    let run = |f: &dyn Fn(Tensor<4>, &[Tensor<1>]) -> Tensor<4>| {
        let x = x.clone().require_grad();
        let params: Vec<Tensor<1>> = params.iter().cloned().map(Tensor::require_grad).collect();
        let y = f(x.clone(), &params);
        let r = y.clone().detach().sin() + 0.25;
        let grads = (y.clone() * r).sum().backward();
        let param_grads: Vec<Tensor<1>> = params.iter().map(|p| p.grad(&grads).unwrap()).collect();
        (y.inner(), x.grad(&grads).unwrap(), param_grads)
    };
    let (y, gx, gp) = run(&ours);
    let (y_ref, gx_ref, gp_ref) = run(&reference);
    assert_close(y, y_ref, &format!("{what}: output"));
    assert_close(gx, gx_ref, &format!("{what}: x grad"));
    for (i, (g, r)) in gp.into_iter().zip(gp_ref).enumerate() {
        assert_close(g, r, &format!("{what}: param {i} grad"));
    }
}

/// Every check above on 1 thread and on more threads than this machine has cores, as on a
/// 16- to 64-core server: more threads than images (the 4-image convolution), than rows
/// (the 1-row linear layer) and than groups, each thread's share empty or partial.
#[test]
fn kernels_match_burn_on_1_16_and_64_threads() {
    for threads in [1, 16, 64] {
        on_threads(threads, || {
            conv::conv2d_matches_burn_in_values_and_gradients();
            conv::conv2d_without_autodiff_matches_burn();
            norm::group_norm_matches_burn_in_values_and_gradients();
            norm::layer_norm_matches_burn_in_values_and_gradients();
            norm::batch_norm_matches_burn_in_values_and_gradients();
            pool::max_pool_matches_burn_in_values_and_gradients();
            linear::linear_matches_burn_in_values_and_gradients();
            elementwise::add_matches_burn_in_values_and_gradients();
            elementwise::silu_matches_burn_in_values_and_gradients();
            elementwise::channel_gate_matches_burn_in_values_and_gradients();
            heads::log_softmax_matches_burn_in_values_and_gradients();
            heads::row_entropy_matches_burn_in_values_and_gradients();
            elementwise::div_scalar_matches_burn_and_keeps_a_tracked_input_s_gradient();
        });
    }
}
