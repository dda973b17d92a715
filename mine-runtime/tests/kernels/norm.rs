//! GroupNorm, LayerNorm and BatchNorm, values and gradients.

use burn::tensor::{Device, Distribution, Tensor, activation};
use mine_runtime::kernels::ops;

use crate::compare_grads;

#[test]
pub fn group_norm_matches_burn_in_values_and_gradients() {
    use burn::nn::GroupNormConfig;
    let device = Device::flex().autodiff();
    for (shape, groups, affine) in [
        ([2, 6, 7, 5], 1, true),
        ([1, 16, 33, 17], 1, true),
        ([3, 6, 4, 9], 3, true),
        ([2, 4, 8, 8], 4, false),
        ([32, 16, 16, 16], 1, true),
    ] {
        let layer = GroupNormConfig::new(groups, shape[1])
            .with_affine(affine)
            .init(&device);
        let x = Tensor::<4>::random(shape, Distribution::Normal(3.0, 2.0), &device);
        let params = if affine {
            vec![
                Tensor::<1>::random([shape[1]], Distribution::Default, &device),
                Tensor::<1>::random([shape[1]], Distribution::Default, &device),
            ]
        } else {
            Vec::new()
        };
        let with = |p: &[Tensor<1>]| {
            let mut layer = layer.clone();
            if let [gamma, beta] = p {
                layer.gamma = Some(burn::module::Param::from_tensor(gamma.clone()));
                layer.beta = Some(burn::module::Param::from_tensor(beta.clone()));
            }
            layer
        };
        for relu in [false, true] {
            compare_grads(
                &format!("group norm {shape:?} groups {groups} affine {affine} relu {relu}"),
                x.clone(),
                params.clone(),
                |x, p| ops::group_norm_layer(&with(p), x, relu),
                |x, p| {
                    let y = with(p).forward(x);
                    if relu { activation::relu(y) } else { y }
                },
            );
        }
        // The ReLU of the layer before, fused (centred data: half the inputs rectified).
        compare_grads(
            &format!("group norm of relu {shape:?} groups {groups} affine {affine}"),
            x.clone() - 3.0,
            params.clone(),
            |x, p| ops::group_norm_of_relu_layer(&with(p), x),
            |x, p| with(p).forward(activation::relu(x)),
        );
    }
}

#[test]
pub fn layer_norm_matches_burn_in_values_and_gradients() {
    use burn::nn::LayerNormConfig;
    let device = Device::flex().autodiff();
    // The last dimension is normalized: 7 features, 1 (a constant row), the ImpalaCNN dense
    // layer's 8192, and the transformer's 256; epsilons default and not; with and without beta.
    for (shape, eps, bias) in [
        ([2, 3, 5, 7], 1e-5, true),
        ([1, 2, 3, 1], 1e-5, true),
        ([1, 2, 4, 8192], 1e-5, true),
        ([2, 4, 8, 256], 1e-3, true),
        ([3, 1, 2, 33], 1e-6, false),
    ] {
        let d = shape[3];
        let layer = LayerNormConfig::new(d)
            .with_epsilon(eps)
            .with_bias(bias)
            .init(&device);
        let x = Tensor::<4>::random(shape, Distribution::Normal(3.0, 2.0), &device);
        let mut params = vec![Tensor::<1>::random(
            [d],
            Distribution::Normal(1.0, 0.5),
            &device,
        )];
        if bias {
            params.push(Tensor::<1>::random([d], Distribution::Default, &device));
        }
        let with = |p: &[Tensor<1>]| {
            let mut layer = layer.clone();
            layer.gamma = burn::module::Param::from_tensor(p[0].clone());
            if let Some(beta) = p.get(1) {
                layer.beta = Some(burn::module::Param::from_tensor(beta.clone()));
            }
            layer
        };
        compare_grads(
            &format!("layer norm {shape:?} eps {eps} bias {bias}"),
            x,
            params,
            |x, p| ops::layer_norm_layer(&with(p), x),
            |x, p| with(p).forward(x),
        );
    }
}

#[test]
pub fn batch_norm_matches_burn_in_values_and_gradients() {
    use burn::tensor::module::batch_norm_train;
    let device = Device::flex().autodiff();
    // Odd shapes, 3x3 planes, a plane larger than a parallel block. (Over a few elements per
    // channel the input gradient cancels most of its digits: any two f32 orders of summation
    // then differ by more than the tolerance.)
    for shape in [[2, 6, 7, 5], [4, 5, 3, 3], [2, 3, 130, 70]] {
        let x = Tensor::<4>::random(shape, Distribution::Normal(3.0, 2.0), &device);
        let params = vec![
            Tensor::<1>::random([shape[1]], Distribution::Default, &device),
            Tensor::<1>::random([shape[1]], Distribution::Default, &device),
        ];
        compare_grads(
            &format!("batch norm {shape:?}"),
            x.clone(),
            params.clone(),
            |x, p| ops::batch_norm_train(x, p[0].clone(), p[1].clone(), 1e-5).output,
            |x, p| batch_norm_train(x, p[0].clone(), p[1].clone(), 1e-5).output,
        );
        let [gamma, beta] = [&params[0], &params[1]].map(|p| p.clone().require_grad());
        let ours = ops::batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        let burn = batch_norm_train(x, gamma, beta, 1e-5);
        for (ours, burn, what) in [
            (ours.mean, burn.mean, "mean"),
            (ours.variance, burn.variance, "variance"),
        ] {
            assert!(!ours.is_tracked(), "{what} is detached");
            crate::assert_close(ours.inner(), burn.inner(), &format!("{shape:?} {what}"));
        }
    }
}
