//! The action heads' row operations: log-softmax and the entropy, and the entropy kernel
//! `mine-dsl` runs once installed (against burn's ops and MineStudio's golden values).

use burn::tensor::{Device, Distribution, Tensor, activation};
use mine_runtime::kernels::ops;

use crate::{assert_close, bits};

#[test]
pub fn log_softmax_matches_burn_in_values_and_gradients() {
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
pub fn row_entropy_matches_burn_in_values_and_gradients() {
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
pub fn the_installed_entropy_kernel_computes_mine_dsl_s_head_entropy() {
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
pub fn the_installed_entropy_kernel_matches_minestudio() {
    mine_runtime::kernels::install_dsl_kernels();
    let g = crate::common::golden("callbacks.json");
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
    crate::common::assert_close(
        "buttons' entropy",
        &values(entropy.buttons),
        &flat(&inter["entropy_buttons_BT"]),
        1e-5,
    );
    crate::common::assert_close(
        "camera's entropy",
        &values(entropy.camera),
        &flat(&inter["entropy_camera_BT"]),
        1e-5,
    );
}
