//! The optimizer's kernels against the tensor path: the fused AdamW step bit for bit, and
//! the gradient clipping's squared sums (to rounding) and scaling (bit for bit). One test in
//! this binary: it switches the kernels off and on for the whole process.
#![cfg(feature = "flex")]

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::{Device, Distribution, Tensor};
use mine_runtime::kernels::{KernelOptions, set_options};
use mine_runtime::optim::{ClipReport, TorchAdamW, clip_grad_norm};

fn run(on: bool, weight_decay: f64, shape: [usize; 2]) -> Vec<Vec<f32>> {
    set_kernels(on);
    let device = Device::flex();
    device.seed(7);
    let optim = TorchAdamW::new((0.9, 0.999), 1e-8, weight_decay);
    let mut param = Tensor::<2>::random(shape, Distribution::Default, &device);
    let mut state = None;
    let mut out = Vec::new();
    for step in 0..4 {
        let grad = Tensor::<2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let lr = 1e-3 * (step + 1) as f64;
        let (p, s) = optim.step(lr, param, grad, state);
        let s = s.expect("a state");
        out.push(p.clone().into_data().try_to_vec::<f32>().unwrap());
        out.push(s.moment_1.clone().into_data().try_to_vec::<f32>().unwrap());
        out.push(s.moment_2.clone().into_data().try_to_vec::<f32>().unwrap());
        param = p;
        state = Some(s);
    }
    out
}

fn set_kernels(on: bool) {
    set_options(KernelOptions {
        cpu_kernels: on,
        ..KernelOptions::default()
    });
}

/// Two linear layers (one of 70,000 weights: more than two of the kernels' parallel chunks).
#[derive(Module, Debug)]
struct Net {
    wide: Linear,
    narrow: Linear,
}

/// The clipped gradients of `Net` (weights of the wide layer, then of the narrow one) and the
/// clipping's report, with the kernels `on` or off; `scale` multiplies the loss (a huge one
/// makes the norm overflow to infinity).
fn clipped(on: bool, max_norm: f64, scale: f32) -> (ClipReport, Vec<Vec<f32>>) {
    set_kernels(on);
    let device = Device::flex().autodiff();
    device.seed(11);
    let net = Net {
        wide: LinearConfig::new(350, 200).init(&device),
        narrow: LinearConfig::new(200, 3).init(&device),
    };
    let x = Tensor::<2>::random([5, 350], Distribution::Normal(0.0, 1.0), &device);
    let loss = net
        .narrow
        .forward(net.wide.forward(x))
        .sum()
        .mul_scalar(scale);
    let mut grads = GradientsParams::from_grads(loss.backward(), &net);
    let report = clip_grad_norm(&net, &mut grads, max_norm);
    let read = |id| {
        let grad = grads.get::<2>(id).expect("a gradient");
        grad.into_data().try_to_vec::<f32>().unwrap()
    };
    (
        report,
        vec![read(net.wide.weight.id), read(net.narrow.weight.id)],
    )
}

fn clipping_matches_the_tensor_path() {
    for (max_norm, scale) in [(1e-3, 1.0), (1e6, 1.0), (1.0, 1e30)] {
        let (fused, fused_grads) = clipped(true, max_norm, scale);
        let (reference, reference_grads) = clipped(false, max_norm, scale);
        let case = format!("max norm {max_norm}, loss scale {scale}");
        let (f, r) = (fused.total_norm, reference.total_norm);
        assert!(
            f == r || (f - r).abs() <= 1e-6 * r,
            "{case}: norm {f} vs {r}"
        );
        assert_eq!(fused.clipped, reference.clipped, "{case}");
        if fused.coef.is_finite() && fused.coef.to_bits() == reference.coef.to_bits() {
            // The same coefficient: the same products, bit for bit.
            for (a, b) in fused_grads.iter().zip(&reference_grads) {
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(a), bits(b), "{case}");
            }
        } else {
            // A coefficient from a norm one rounding apart: within that rounding.
            for (a, b) in fused_grads
                .iter()
                .flatten()
                .zip(reference_grads.iter().flatten())
            {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs() || (a.is_nan() && b.is_nan()),
                    "{case}: {a} vs {b}"
                );
            }
        }
    }
    set_kernels(true);
}

#[test]
fn optimizer_kernels_match_the_tensor_path() {
    fused_adamw_is_bit_identical_to_the_tensor_path();
    clipping_matches_the_tensor_path();
}

fn fused_adamw_is_bit_identical_to_the_tensor_path() {
    for (wd, shape) in [(0.01, [3, 5]), (0.0, [40, 1000]), (0.1, [1, 1])] {
        let fused = run(true, wd, shape);
        let reference = run(false, wd, shape);
        set_kernels(true);
        for (i, (f, r)) in fused.iter().zip(&reference).enumerate() {
            let (fb, rb): (Vec<u32>, Vec<u32>) = (
                f.iter().map(|v| v.to_bits()).collect(),
                r.iter().map(|v| v.to_bits()).collect(),
            );
            assert_eq!(fb, rb, "weight decay {wd}, shape {shape:?}, output {i}");
        }
    }
}
