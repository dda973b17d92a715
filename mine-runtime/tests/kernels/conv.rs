//! Convolutions: direct, Winograd and depthwise shapes, strides, dilation, no bias, with and
//! without autodiff.

use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor, activation};
use mine_runtime::kernels::{KernelOptions, ops, options, scope};

use crate::{assert_close, assert_layer_close};

struct Case {
    x: [usize; 4],
    out_channels: usize,
    kernel: [usize; 2],
    options: ConvOptions<2>,
    bias: bool,
}

fn cases() -> Vec<Case> {
    let o = |s, p, d| ConvOptions::new(s, p, d, 1);
    let depthwise = ConvOptions::new;
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
        // A height that is not a multiple of 4: Winograd F(2x2, 3x3) (in 32-tile chunks with
        // `winograd_wide` on AVX-512 CPUs).
        Case {
            x: [1, 16, 6, 64],
            out_channels: 16,
            kernel: [3, 3],
            options: o([1, 1], [1, 1], [1, 1]),
            bias: true,
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
        // Pointwise (1x1, stride 1, no padding: the gemms read the image in place), with
        // enough channels and width for three bands of rows (16 rows of 128 x 64 floats each).
        Case {
            x: [1, 128, 40, 64],
            out_channels: 24,
            kernel: [1, 1],
            options: o([1, 1], [0, 0], [1, 1]),
            bias: true,
        },
        // Depthwise (as many groups as channels): EfficientNet's 3x3 at stride 1 and 5x5 at
        // stride 2, an odd-sized stride-2 3x3, and a dilation.
        Case {
            x: [2, 24, 17, 15],
            out_channels: 24,
            kernel: [3, 3],
            options: depthwise([1, 1], [1, 1], [1, 1], 24),
            bias: false,
        },
        Case {
            x: [2, 16, 16, 16],
            out_channels: 16,
            kernel: [5, 5],
            options: depthwise([2, 2], [2, 2], [1, 1], 16),
            bias: true,
        },
        Case {
            x: [1, 8, 9, 12],
            out_channels: 8,
            kernel: [3, 3],
            options: depthwise([2, 2], [1, 1], [1, 1], 8),
            bias: true,
        },
        Case {
            x: [1, 4, 10, 10],
            out_channels: 4,
            kernel: [3, 3],
            options: depthwise([1, 1], [2, 2], [2, 2], 4),
            bias: true,
        },
    ]
}

/// With the default kernels, and with the candidate per-family choices (F(4x4, 3x3) in AVX2 form
/// on AVX-512 CPUs, the Winograd kernel's 32-tile chunks).
#[test]
pub fn conv2d_matches_burn_in_values_and_gradients() {
    let candidates = KernelOptions {
        winograd4_avx512: true,
        winograd_wide: true,
        ..options()
    };
    for kernels in [options(), candidates] {
        let _kernels = scope(kernels);
        conv2d_matches_burn(&format!("{kernels:?}"));
    }
}

fn conv2d_matches_burn(kernels: &str) {
    let device = Device::flex().autodiff();
    assert!(ops::uses_kernels(&Tensor::<1>::zeros([1], &device)));
    for case in cases() {
        let what = format!(
            "x {:?} k {:?} {:?} {kernels}",
            case.x, case.kernel, case.options
        );
        let [_, ci, _, _] = case.x;
        let x = Tensor::<4>::random(case.x, Distribution::Default, &device);
        let w = Tensor::<4>::random(
            [
                case.out_channels,
                ci / case.options.groups,
                case.kernel[0],
                case.kernel[1],
            ],
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
pub fn conv2d_without_autodiff_matches_burn() {
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
