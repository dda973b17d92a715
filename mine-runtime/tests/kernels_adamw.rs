//! The fused AdamW kernel gives bit for bit what the tensor path gives (one test in this
//! binary: it switches the kernels off and on for the whole process).
#![cfg(feature = "flex")]

use burn::optim::Optimizer;
use burn::tensor::{Device, Distribution, Tensor};
use mine_runtime::kernels::{KernelOptions, set_options};
use mine_runtime::optim::TorchAdamW;

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

#[test]
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
