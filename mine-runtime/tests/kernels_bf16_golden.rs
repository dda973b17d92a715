//! bf16-mixed on the CPU against PyTorch's CPU autocast: a 3x3 convolution and a linear layer,
//! forward and backward, inside a bf16 autocast scope on flex, against the outputs and
//! gradients `torch.autocast("cpu", dtype=torch.bfloat16)` gives on the same f32 inputs
//! (`tests/golden/bf16_autocast.json`, from `examples/reference/bf16_autocast_golden.py`).
#![cfg(feature = "flex")]

use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use mine_runtime::kernels::{KernelOptions, autocast, ops, scope};
use serde_json::Value;

#[path = "common/mod.rs"]
mod common;

fn golden() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/bf16_autocast.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/golden/bf16_autocast.json");
    serde_json::from_str(&text).expect("the golden file is JSON")
}

fn floats(case: &Value, key: &str) -> Vec<f32> {
    case[key]
        .as_array()
        .unwrap_or_else(|| panic!("golden: no {key}"))
        .iter()
        .map(|v| v.as_f64().expect("a number") as f32)
        .collect()
}

fn shape<const D: usize>(case: &Value, key: &str) -> [usize; D] {
    let dims: Vec<usize> = case["shapes"][key]
        .as_array()
        .unwrap_or_else(|| panic!("golden: no shape of {key}"))
        .iter()
        .map(|v| v.as_u64().expect("a dimension") as usize)
        .collect();
    dims.try_into().expect("the shape's rank")
}

fn leaf<const D: usize>(values: Vec<f32>, dims: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::<D>::from_data(TensorData::new(values, dims), device).require_grad()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// One bf16 unit in the last place at `v`'s magnitude (8 significant bits).
fn bf16_ulp(v: f32) -> f32 {
    let exponent = (v.abs().to_bits() >> 23) as i32 - 127;
    2f32.powi(exponent.max(-126) - 7)
}

/// Ours against PyTorch's, element by element: equal up to one rounding of the result to bf16
/// (both round the same bf16 operands and accumulate in f32, in different orders, so a sum
/// near a rounding boundary may round either way: one bf16 ulp of the larger, with a floor of
/// 2^-12 of the largest value for sums that cancel).
fn assert_matches(ours: &[f32], torch: &[f32], what: &str) {
    assert_eq!(ours.len(), torch.len(), "{what}: lengths");
    let scale = torch.iter().fold(0f32, |m, v| m.max(v.abs()));
    let mut off_by_one = 0;
    for (i, (a, b)) in ours.iter().zip(torch).enumerate() {
        let tolerance = bf16_ulp(a.abs().max(b.abs())).max(scale / 4096.0);
        assert!(
            (a - b).abs() <= tolerance,
            "{what}[{i}]: ours {a} vs PyTorch {b} (±{tolerance})"
        );
        off_by_one += usize::from(a != b);
    }
    // Rounding either way is rare (measured: 2 of 4096 outputs of one convolution, every
    // other element of every case equal).
    assert!(
        off_by_one * 100 <= ours.len(),
        "{what}: {off_by_one} of {} elements differ",
        ours.len()
    );
}

/// The output and the x, weight and bias gradients of `op` under a bf16 scope, the loss
/// being `sum(out * up)`.
fn run<const D: usize, const W: usize>(
    x: Tensor<D>,
    w: Tensor<W>,
    b: Tensor<1>,
    up: Tensor<D>,
    op: impl Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>,
) -> [Vec<f32>; 4] {
    let out = {
        let _bf16 = autocast::scope(Some(FloatDType::BF16));
        op(x.clone(), w.clone(), b.clone())
    };
    let grads = (out.clone() * up).sum().backward();
    [
        values(out),
        values(x.grad(&grads).expect("x grad")),
        values(w.grad(&grads).expect("weight grad")),
        values(b.grad(&grads).expect("bias grad")),
    ]
}

fn check(name: &str, case: &Value, ours: [Vec<f32>; 4]) {
    for (key, ours) in ["out", "grad_x", "grad_weight", "grad_bias"]
        .iter()
        .zip(ours)
    {
        assert_matches(&ours, &floats(case, key), &format!("{name} {key}"));
    }
}

/// Runs golden case `name` through `op` (its leaves x, weight and bias, its `up`) and checks
/// the output and the three gradients.
fn case<const D: usize, const W: usize>(
    golden: &Value,
    name: &str,
    device: &Device,
    op: impl Fn(Tensor<D>, Tensor<W>, Tensor<1>) -> Tensor<D>,
) {
    let case = &golden["cases"][name];
    let x = leaf(floats(case, "x"), shape::<D>(case, "x"), device);
    let w = leaf(floats(case, "weight"), shape::<W>(case, "weight"), device);
    let b = leaf(floats(case, "bias"), shape::<1>(case, "bias"), device);
    let up = Tensor::<D>::from_data(
        TensorData::new(floats(case, "up"), shape::<D>(case, "out")),
        device,
    );
    check(name, case, run(x, w, b, up, op));
}

fn convolutions(golden: &Value, device: &Device) {
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    for name in ["conv_8_8_10x10", "conv_3_5_6x34", "conv_16_16_16x16"] {
        case::<4, 4>(golden, name, device, |x, w, b| {
            ops::conv2d(x, w, Some(b), options.clone())
        });
    }
}

fn linear(golden: &Value, device: &Device) {
    // PyTorch's weight is [out, in]; ours [in, out]: the same leaf, transposed in the graph.
    case::<2, 2>(golden, "linear_6_40_24", device, |x, w, b| {
        ops::linear(x, w.transpose(), Some(b))
    });
}

/// Both bf16 paths of the convolutions: `vdpbf16ps` (where the CPU has AVX512_BF16) and the f32
/// kernels on rounded operands, chosen for this thread's forward and backward passes by a
/// kernel-options scope.
#[test]
fn convolutions_and_linear_layers_under_bf16_autocast_match_pytorch() {
    let golden = golden();
    let device = Device::flex().autodiff();
    for bf16_dot in [true, false] {
        let _kernels = scope(KernelOptions {
            bf16_dot,
            ..KernelOptions::default()
        });
        convolutions(&golden, &device);
        linear(&golden, &device);
    }
}

/// The same goldens on 1, 16 and 64 threads (the `vdpbf16ps` weight gradient sums one set of
/// partial sums per thread; the linear layers split column blocks by the thread count).
#[test]
fn bf16_goldens_hold_on_1_16_and_64_threads() {
    for threads in [1, 16, 64] {
        common::on_threads(
            threads,
            convolutions_and_linear_layers_under_bf16_autocast_match_pytorch,
        );
    }
}
