//! Residual sums and the frames' scaling.

use burn::tensor::{Device, Distribution, Tensor};
use mine_runtime::kernels::ops;

use crate::{bits, compare_grads};

#[test]
pub fn add_matches_burn_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    let shape = [3, 5, 70, 90]; // above the parallel threshold, not a multiple of a chunk
    assert!(shape.iter().product::<usize>() >= ops::PARALLEL_ADD_MIN);
    let y = Tensor::<4>::random(shape, Distribution::Default, &device);
    compare_grads(
        "add",
        Tensor::<4>::random(shape, Distribution::Default, &device),
        Vec::new(),
        |x, _| ops::add(x.clone(), y.clone() * x),
        |x, _| x.clone() + y.clone() * x,
    );
}

#[test]
pub fn div_scalar_matches_burn_and_keeps_a_tracked_input_s_gradient() {
    for device in [Device::flex(), Device::flex().autodiff()] {
        // Frames (0..=255), large enough for several of the pool's chunks; and an odd shape.
        for shape in [[2, 3, 70, 90], [1, 1, 3, 5]] {
            let x = Tensor::<4>::random(shape, Distribution::Uniform(0.0, 256.0), &device);
            let x = x.floor();
            let ours = ops::div_scalar(x.clone(), 255.0);
            assert_eq!(ours.is_autodiff(), device.is_autodiff(), "{shape:?}");
            assert!(!ours.is_tracked());
            assert_eq!(bits(ours), bits(x.div_scalar(255.0)), "{shape:?}");
        }
    }
    // A tracked input takes burn's op: its gradient flows (d(x / 255) / dx = 1 / 255).
    let device = Device::flex().autodiff();
    let x = Tensor::<4>::random([1, 2, 3, 4], Distribution::Default, &device).require_grad();
    let grads = ops::div_scalar(x.clone(), 255.0).sum().backward();
    let grad = x
        .grad(&grads)
        .expect("a gradient")
        .into_data()
        .try_to_vec::<f32>();
    assert!(grad.unwrap().iter().all(|g| *g == 1.0 / 255.0));
}

#[test]
pub fn silu_matches_burn_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    // Above a parallel chunk and not a multiple of one; and a squeeze-excitation's shape.
    for shape in [[2, 24, 33, 31], [2, 8, 1, 1]] {
        let x = Tensor::<4>::random(shape, Distribution::Uniform(-12.0, 12.0), &device);
        compare_grads(
            "silu",
            x,
            Vec::new(),
            |x, _| ops::silu(x),
            |x, _| burn::tensor::activation::silu(x),
        );
    }
}

#[test]
pub fn channel_gate_matches_burn_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    // Planes above and below a parallel block, a 1x1 plane.
    for [n, c, h, w] in [[2, 24, 130, 70], [3, 5, 7, 9], [2, 4, 1, 1]] {
        let x = Tensor::<4>::random([n, c, h, w], Distribution::Normal(1.0, 2.0), &device);
        let gate = Tensor::<1>::random([n * c], Distribution::Default, &device);
        compare_grads(
            "squeeze-excitation",
            x,
            vec![gate],
            |x, p| {
                let gate = p[0].clone().reshape([n, c, 1, 1]) + x.clone().mean_dim(2).mean_dim(3);
                ops::scale_planes(x, gate)
            },
            |x, p| {
                let gate = p[0].clone().reshape([n, c, 1, 1]) + x.clone().mean_dim(2).mean_dim(3);
                x * gate
            },
        );
    }
}
