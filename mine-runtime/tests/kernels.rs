//! Our CPU kernels against burn's reference ops through the tensor API, on the flex backend:
//! values and gradients (odd shapes, batch 1, non-square images, strides, dilation, no bias).
#![cfg(feature = "flex")]

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor, activation};
use mine_runtime::kernels::ops;

#[path = "common/mod.rs"]
mod common;

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

struct Case {
    x: [usize; 4],
    out_channels: usize,
    kernel: [usize; 2],
    options: ConvOptions<2>,
    bias: bool,
}

fn cases() -> Vec<Case> {
    let o = |s, p, d| ConvOptions::new(s, p, d, 1);
    vec![
        Case {
            x: [2, 3, 9, 7],
            out_channels: 5,
            kernel: [3, 3],
            options: o([1, 1], [1, 1], [1, 1]),
            bias: true,
        },
        Case {
            x: [1, 16, 33, 17],
            out_channels: 8,
            kernel: [3, 3],
            options: o([1, 1], [1, 1], [1, 1]),
            bias: false,
        },
        Case {
            x: [3, 4, 12, 10],
            out_channels: 6,
            kernel: [3, 2],
            options: o([2, 1], [0, 1], [1, 2]),
            bias: true,
        },
        Case {
            x: [2, 3, 32, 16],
            out_channels: 7,
            kernel: [8, 8],
            options: o([8, 8], [0, 0], [1, 1]),
            bias: true,
        },
        Case {
            x: [4, 16, 64, 64],
            out_channels: 32,
            kernel: [3, 3],
            options: o([1, 1], [1, 1], [1, 1]),
            bias: false,
        },
        // Rows of 8 4x4 tiles: on CPUs without AVX-512, F(4x4, 3x3) takes two at a time and
        // the third alone (forward and input gradient).
        Case {
            x: [2, 32, 12, 32],
            out_channels: 12,
            kernel: [3, 3],
            options: o([1, 1], [1, 1], [1, 1]),
            bias: true,
        },
    ]
}

#[test]
fn conv2d_matches_burn_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    assert!(ops::uses_kernels(&Tensor::<1>::zeros([1], &device)));
    for case in cases() {
        let what = format!("x {:?} k {:?} {:?}", case.x, case.kernel, case.options);
        let [_, ci, _, _] = case.x;
        let x = Tensor::<4>::random(case.x, Distribution::Default, &device);
        let w = Tensor::<4>::random(
            [case.out_channels, ci, case.kernel[0], case.kernel[1]],
            Distribution::Default,
            &device,
        );
        let b = case
            .bias
            .then(|| Tensor::<1>::random([case.out_channels], Distribution::Default, &device));
        let run = |ours: bool, relu: bool| {
            let (x, w) = (x.clone().require_grad(), w.clone().require_grad());
            let b = b.clone().map(Tensor::require_grad);
            let options = case.options.clone();
            let y = match (ours, relu) {
                (true, false) => ops::conv2d(x.clone(), w.clone(), b.clone(), options),
                (true, true) => ops::conv2d_relu(x.clone(), w.clone(), b.clone(), options),
                (false, false) => burn_conv2d(x.clone(), w.clone(), b.clone(), options),
                (false, true) => {
                    activation::relu(burn_conv2d(x.clone(), w.clone(), b.clone(), options))
                }
            };
            let r = Tensor::<4>::ones(y.dims(), &device).mul_scalar(0.5) + y.clone().detach().cos();
            let grads = (y.clone() * r).sum().backward();
            let gb = b.as_ref().map(|b| b.grad(&grads).unwrap());
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                w.grad(&grads).unwrap(),
                gb,
            )
        };
        for relu in [false, true] {
            let what = format!("{what} relu {relu}");
            assert_layer_close(&what, run(true, relu), run(false, relu));
        }
    }
}

#[test]
fn conv2d_without_autodiff_matches_burn() {
    let device = Device::flex();
    let x = Tensor::<4>::random([1, 3, 20, 13], Distribution::Default, &device);
    let w = Tensor::<4>::random([4, 3, 3, 3], Distribution::Default, &device);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    assert_close(
        ops::conv2d(x.clone(), w.clone(), None, options.clone()),
        burn_conv2d(x, w, None, options),
        "plain flex",
    );
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

#[test]
fn group_norm_matches_burn_in_values_and_gradients() {
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
fn layer_norm_matches_burn_in_values_and_gradients() {
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
fn max_pool_matches_burn_in_values_and_gradients() {
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

#[test]
fn linear_matches_burn_in_values_and_gradients() {
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

#[test]
fn add_matches_burn_in_values_and_gradients() {
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
fn log_softmax_matches_burn_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    // The button head's 8641 classes (rows on the thread pool), the camera head's 121, and a
    // 3-D tensor.
    for shape in [[2, 16, 8641], [4, 8, 121], [1, 1, 5]] {
        let weights = Tensor::<3>::random(shape, Distribution::Default, &device);
        let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 4.0), &device).require_grad();
        let run = |y: Tensor<3>| {
            let grads = (y.clone() * weights.clone()).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (y, gx) = run(ops::log_softmax(x.clone(), 2));
        let (y_ref, gx_ref) = run(activation::log_softmax(x.clone(), 2));
        assert_close(y, y_ref, &format!("log_softmax {shape:?}"));
        assert_close(gx, gx_ref, &format!("log_softmax {shape:?} grad"));
    }
}

#[test]
fn row_entropy_matches_burn_in_values_and_gradients() {
    let device = Device::flex().autodiff();
    // The button head's 8641 classes (rows on the thread pool), the camera head's 121, and
    // K = 3 factors of 5 classes; log-probabilities and unnormalized values.
    for shape in [[2, 16, 1, 8641], [4, 8, 1, 121], [1, 2, 3, 5]] {
        let [b, t, k, _] = shape;
        let weights = Tensor::<4>::random([b, t, k, 1], Distribution::Default, &device);
        let logits = Tensor::<4>::random(shape, Distribution::Normal(0.0, 4.0), &device);
        for y in [activation::log_softmax(logits.clone(), 3), logits - 2.0] {
            let y = y.detach().require_grad();
            let run = |h: Tensor<4>| {
                let grads = (h.clone() * weights.clone()).sum().backward();
                (h.inner(), y.grad(&grads).unwrap())
            };
            let ours = ops::row_entropy(&y).expect("a flex f32 tensor takes the kernel");
            let (h, gy) = run(ours);
            let (h_ref, gy_ref) = run((y.clone().exp() * y.clone()).sum_dim(3).neg());
            assert_close(h, h_ref, &format!("row_entropy {shape:?}"));
            assert_close(gy, gy_ref, &format!("row_entropy {shape:?} grad"));
        }
    }
    // Without autodiff, and a tensor the kernel does not take (bf16: burn's ops run).
    let y = Tensor::<4>::random([2, 3, 1, 40], Distribution::Default, &Device::flex());
    let h = ops::row_entropy(&y).expect("a flex f32 tensor takes the kernel");
    assert_close(
        h,
        (y.clone().exp() * y.clone()).sum_dim(3).neg(),
        "row_entropy",
    );
    let bf16 = y.cast(burn::tensor::DType::BF16);
    assert!(ops::row_entropy(&bf16).is_none());
}

/// `mine-dsl`'s head entropy, once the runtime installed its kernel: the same values as burn's
/// ops (which it runs with the kernels switched off), the kernel's gradient.
#[test]
fn the_installed_entropy_kernel_computes_mine_dsl_s_head_entropy() {
    use mine_dsl::action::{entropy, install_entropy_kernel};
    use mine_dsl::latent::PiLogits;
    use mine_runtime::kernels::{KernelOptions, install_dsl_kernels, scope};

    install_dsl_kernels();
    // A later kernel is refused: the first stays (the bits below are still ours).
    assert!(!install_entropy_kernel(|_| None));
    let device = Device::flex().autodiff();
    let head = |n| {
        let logits = Tensor::<4>::random([2, 5, 1, n], Distribution::Normal(0.0, 3.0), &device);
        activation::log_softmax(logits, 3).detach().require_grad()
    };
    let pi = PiLogits {
        buttons: head(8641),
        camera: head(121),
    };
    let run = || {
        let terms = entropy(&pi);
        let grads = (terms.buttons.clone() + terms.camera.clone() * 2.0)
            .sum()
            .backward();
        let grad = |t: &Tensor<4>| t.grad(&grads).unwrap();
        (
            terms.buttons.inner(),
            terms.camera.inner(),
            grad(&pi.buttons),
            grad(&pi.camera),
        )
    };
    let ours = run();
    // The kernel's values bit for bit: it ran.
    let kernel = ops::row_entropy(&pi.buttons).expect("a flex f32 tensor takes the kernel");
    assert_eq!(bits(ours.0.clone()), bits(kernel.inner().reshape([2, 5])));
    let burns = {
        let _burn = scope(KernelOptions {
            cpu_kernels: false,
            ..KernelOptions::default()
        });
        run()
    };
    assert_close(ours.0, burns.0, "buttons' entropy");
    assert_close(ours.1, burns.1, "camera's entropy");
    assert_close(ours.2, burns.2, "buttons' gradient");
    assert_close(ours.3, burns.3, "camera's gradient");
}

/// The numbers of a nested JSON array, flattened.
fn flat(value: &serde_json::Value) -> Vec<f32> {
    match value {
        serde_json::Value::Array(items) => items.iter().flat_map(flat).collect(),
        other => vec![other.as_f64().expect("a number") as f32],
    }
}

/// `mine-dsl`'s head entropy through the installed kernel against MineStudio's
/// (`shared/golden/callbacks.json`: `log_softmax` of its raw logits, then its
/// `CategoricalActionHead.entropy`), per head and frame.
#[test]
fn the_installed_entropy_kernel_matches_minestudio() {
    mine_runtime::kernels::install_dsl_kernels();
    let g = common::golden("callbacks.json");
    let device = Device::flex();
    let head = |key: &str, n: usize| {
        let raw = flat(&g["inputs"][key]);
        let raw = Tensor::<4>::from_data(burn::tensor::TensorData::new(raw, [2, 4, 1, n]), &device);
        ops::log_softmax(raw, 3)
    };
    let pi = mine_dsl::latent::PiLogits {
        buttons: head("raw_logits_buttons", 8641),
        camera: head("raw_logits_camera", 121),
    };
    let kernel = ops::row_entropy(&pi.buttons).expect("a flex f32 tensor takes the kernel");
    let entropy = mine_dsl::action::entropy(&pi);
    assert_eq!(bits(entropy.buttons.clone()), bits(kernel.reshape([2, 4])));
    let inter = &g["intermediate"];
    let values = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
    common::assert_close(
        "buttons' entropy",
        &values(entropy.buttons),
        &flat(&inter["entropy_buttons_BT"]),
        1e-5,
    );
    common::assert_close(
        "camera's entropy",
        &values(entropy.camera),
        &flat(&inter["entropy_camera_BT"]),
        1e-5,
    );
}

#[test]
fn div_scalar_matches_burn_and_keeps_a_tracked_input_s_gradient() {
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

/// Every check above on 1 thread and on more threads than this machine has cores, as on a
/// 16- to 64-core server: more threads than images (the 4-image convolution), than rows
/// (the 1-row linear layer) and than groups, each thread's share empty or partial.
#[test]
fn kernels_match_burn_on_1_16_and_64_threads() {
    for threads in [1, 16, 64] {
        on_threads(threads, || {
            conv2d_matches_burn_in_values_and_gradients();
            conv2d_without_autodiff_matches_burn();
            group_norm_matches_burn_in_values_and_gradients();
            layer_norm_matches_burn_in_values_and_gradients();
            max_pool_matches_burn_in_values_and_gradients();
            linear_matches_burn_in_values_and_gradients();
            add_matches_burn_in_values_and_gradients();
            log_softmax_matches_burn_in_values_and_gradients();
            row_entropy_matches_burn_in_values_and_gradients();
            div_scalar_matches_burn_and_keeps_a_tracked_input_s_gradient();
        });
    }
}
