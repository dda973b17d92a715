//! Per-op timings of our CPU kernels against burn flex's ops on the small VPT's shapes.
//!
//! `cargo run --release -p mine-runtime --example kernel_bench [-- ROUNDS [SHAPE] [--width K]]`
//! (default 15 rounds, every shape, the small VPT's widths; `--width 4` the 1x model's): medians in milliseconds for the 32 frames of a B=2, T=16 batch.
//! `MINE_WINOGRAD=0` in the environment times our direct 3x3 convolutions instead of the
//! Winograd ones, `MINE_WINOGRAD_WIDE=1` the Winograd kernel in 32-tile chunks at every width,
//! `MINE_WINOGRAD4=0` (on CPUs without AVX-512) F(2x2, 3x3) where F(4x4, 3x3) would run,
//! `MINE_WINOGRAD4_AVX512=1` (on CPUs with AVX-512) the AVX2 F(4x4, 3x3) kernels where they
//! apply. A second line per shape times the bf16 forms (bf16 autocast: forward,
//! input gradient and weight gradient) with the direct `vdpbf16ps` kernels where the CPU has
//! AVX512_BF16, with the bf16 Winograd kernel where it runs (64 channels and more), and with the
//! f32 kernels on rounded operands (`KernelOptions::bf16_dot` off). `--linear` times the
//! small VPT's linear layers instead (32 rows): f32, bf16 with `vdpbf16ps`, and bf16 as the f32
//! kernels on rounded copies.

use std::time::Instant;

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};
use mine_runtime::kernels::KernelOptions;
use mine_runtime::kernels::cpu::as_uninit;
use mine_runtime::kernels::cpu::conv::{
    ConvShape, conv2d_forward, conv2d_forward_bf16, conv2d_input_grad, conv2d_input_grad_bf16,
    conv2d_weight_grad, conv2d_weight_grad_bf16,
};
use mine_runtime::kernels::cpu::conv3x3::{dpbf16, winograd_bf16};
use mine_runtime::kernels::cpu::linear::{
    LinearShape, linear_forward, linear_input_grad, linear_weight_grad,
};
use mine_runtime::kernels::cpu::{bf16, linear_bf16};

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn time(rounds: usize, mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..rounds)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn conv(n: usize, ci: usize, co: usize, side: usize) -> ConvShape {
    ConvShape::same_3x3(n, ci, co, [side, side])
}

/// The command line.
#[derive(clap::Parser)]
#[command(about = "Per-op timings of our CPU 3x3 convolutions against burn flex's, 32 frames")]
struct Args {
    /// Timed rounds per op (the median is printed).
    #[arg(default_value_t = 15)]
    rounds: usize,
    /// Only the shape of this index (0: 3->16 @128 ... 4: 32->32 @16).
    #[arg(value_parser = clap::value_parser!(u8).range(0..5))]
    shape: Option<u8>,
    /// The ImpalaCNN width multiplier: 1 is the small VPT (16, 32, 32 channels), 4 the
    /// published 1x model (64, 128, 128), 8 the 2x, 12 the 3x.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=16))]
    width: u16,
    /// Time the linear layers instead of the convolutions.
    #[arg(long)]
    linear: bool,
}

/// The small VPT's linear layers for the 32 rows of a B=2, T=16 batch: the image encoder's
/// dense layer and projection, a transformer block's MLP, the button and camera heads.
fn linear_layers(rounds: usize) {
    println!(
        "linear (32 rows), ms fwd / dx / dw: f32 | bf16 vdpbf16ps | bf16 as f32 kernels on rounded copies"
    );
    for (d_in, d_out) in [
        (8192, 256),
        (256, 256),
        (256, 1024),
        (1024, 256),
        (256, 8641),
        (256, 121),
    ] {
        let s = LinearShape {
            rows: 32,
            d_in,
            d_out,
        };
        let x: Vec<f32> = (0..32 * d_in).map(|i| (i % 7) as f32 * 0.1).collect();
        let w: Vec<f32> = (0..d_in * d_out).map(|i| (i % 5) as f32 * 0.01).collect();
        let g: Vec<f32> = (0..32 * d_out).map(|i| (i % 3) as f32 * 0.1).collect();
        let (mut out, mut dx, mut dw) =
            (vec![0.0; g.len()], vec![0.0; x.len()], vec![0.0; w.len()]);
        let f32s = (
            time(rounds, || {
                linear_forward(&s, &x, &w, None, as_uninit(&mut out))
            }),
            time(rounds, || linear_input_grad(&s, &g, &w, as_uninit(&mut dx))),
            time(rounds, || {
                linear_weight_grad(&s, &x, &g, as_uninit(&mut dw), None)
            }),
        );
        let dot = linear_bf16::available().then(|| {
            (
                time(rounds, || {
                    linear_bf16::forward(&s, &x, &w, None, as_uninit(&mut out))
                }),
                time(rounds, || {
                    linear_bf16::input_grad(&s, &g, &w, as_uninit(&mut dx))
                }),
                time(rounds, || {
                    linear_bf16::weight_grad(&s, &x, &g, as_uninit(&mut dw), None)
                }),
            )
        });
        // What the layer did before `linear_bf16`: rounded copies, the f32 kernels, the
        // results rounded.
        let rounded = (
            time(rounds, || {
                let (xr, wr) = (bf16::rounded(&x), bf16::rounded(&w));
                linear_forward(&s, &xr, &wr, None, as_uninit(&mut out));
                bf16::round_in_place(&mut out);
            }),
            time(rounds, || {
                let (gr, wr) = (bf16::rounded(&g), bf16::rounded(&w));
                linear_input_grad(&s, &gr, &wr, as_uninit(&mut dx));
                bf16::round_in_place(&mut dx);
            }),
            time(rounds, || {
                let (xr, gr) = (bf16::rounded(&x), bf16::rounded(&g));
                linear_weight_grad(&s, &xr, &gr, as_uninit(&mut dw), None);
                bf16::round_in_place(&mut dw);
            }),
        );
        let show = |(f, b, w): (f64, f64, f64)| format!("{f:6.2} / {b:6.2} / {w:6.2}");
        println!(
            "{d_in:>5}->{d_out:<5} {} | {} | {}",
            show(f32s),
            dot.map_or("no AVX512_BF16".to_owned(), show),
            show(rounded)
        );
    }
}

fn main() {
    // As the trainer and the step benchmark: freed buffers stay in the heap for reuse.
    mine_runtime::kernels::allocator::keep_freed_memory();
    let args = <Args as clap::Parser>::parse();
    let (rounds, only) = (args.rounds.max(1), args.shape.map(usize::from));
    let kernels = KernelOptions {
        winograd: std::env::var("MINE_WINOGRAD").ok().is_none_or(|v| v != "0"),
        winograd_wide: std::env::var("MINE_WINOGRAD_WIDE").is_ok_and(|v| v == "1"),
        winograd4: std::env::var("MINE_WINOGRAD4")
            .ok()
            .is_none_or(|v| v != "0"),
        winograd4_avx512: std::env::var("MINE_WINOGRAD4_AVX512").is_ok_and(|v| v == "1"),
        ..KernelOptions::default()
    };
    mine_runtime::kernels::set_options(kernels);
    if args.linear {
        return linear_layers(rounds);
    }
    let device = Device::flex();
    println!("conv2d 3x3 (32 frames), ms: ours fwd / dx / dw vs burn flex fwd / fwd+bwd");
    let k = usize::from(args.width);
    let shapes = [
        conv(32, 3, 16 * k, 128),
        conv(32, 16 * k, 16 * k, 64),
        conv(32, 16 * k, 32 * k, 64),
        conv(32, 32 * k, 32 * k, 32),
        conv(32, 32 * k, 32 * k, 16),
    ];
    for (i, s) in shapes.into_iter().enumerate() {
        if only.is_some_and(|o| o != i) {
            continue;
        }
        let [oh, ow] = s.output_size().unwrap();
        let x: Vec<f32> = (0..s.batch * s.in_channels * s.height * s.width)
            .map(|i| (i % 7) as f32 * 0.1)
            .collect();
        let w: Vec<f32> = (0..s.out_channels * s.patch_len())
            .map(|i| (i % 5) as f32 * 0.01)
            .collect();
        let mut out = vec![0.0; s.batch * s.out_channels * oh * ow];
        let mut dx = vec![0.0; x.len()];
        let mut dw = vec![0.0; w.len()];
        let fwd = time(rounds, || {
            conv2d_forward(&s, &x, &w, None, false, as_uninit(&mut out))
        });
        let g = out.clone();
        let bx = time(rounds, || conv2d_input_grad(&s, &g, &w, as_uninit(&mut dx)));
        let bw = time(rounds, || conv2d_weight_grad(&s, &x, &g, &mut dw, None));

        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let xt = Tensor::<4>::random(
            [s.batch, s.in_channels, s.height, s.width],
            Distribution::Default,
            &device,
        );
        let wt = Tensor::<4>::random(
            [s.out_channels, s.in_channels, 3, 3],
            Distribution::Default,
            &device,
        );
        let burn_fwd = time(rounds, || {
            let _ = conv2d(xt.clone(), wt.clone(), None, options.clone()).into_data();
        });
        let ad = device.clone().autodiff();
        let xa = xt.clone().autodiff().require_grad();
        let wa = wt.clone().autodiff().require_grad();
        let _ = ad;
        let burn_both = time(rounds, || {
            let y = conv2d(xa.clone(), wa.clone(), None, options.clone());
            let grads = y.sum().backward();
            let _ = wa.grad(&grads).map(|g| g.into_data());
        });
        let flops = 2.0 * (s.batch * s.out_channels * oh * ow * s.patch_len()) as f64;
        println!(
            "{:>3}->{:<3} @{:<3}  ours {:6.1} / {:6.1} / {:6.1}  = {:6.1} ({:5.1} GFLOP/s)   burn {:6.1} / {:6.1}",
            s.in_channels,
            s.out_channels,
            s.height,
            fwd,
            bx,
            bw,
            fwd + bx + bw,
            3.0 * flops / (fwd + bx + bw) / 1e6,
            burn_fwd,
            burn_both
        );
        // The bf16 forms, with and without vdpbf16ps.
        let mut bf16 = |dot: bool, winograd: bool| {
            mine_runtime::kernels::set_options(KernelOptions {
                bf16_dot: dot,
                bf16_winograd: winograd,
                ..kernels
            });
            let fwd = time(rounds, || {
                conv2d_forward_bf16(&s, &x, &w, None, false, as_uninit(&mut out))
            });
            let bx = time(rounds, || {
                conv2d_input_grad_bf16(&s, &g, &w, as_uninit(&mut dx))
            });
            let bw = time(rounds, || {
                conv2d_weight_grad_bf16(&s, &x, &g, &mut dw, None)
            });
            (fwd, bx, bw)
        };
        // The Winograd form only where it runs (else the same kernels as `dot`).
        let t = s.transposed();
        let wide = winograd_bf16::handles_bf16(&s) || winograd_bf16::handles_bf16(&t);
        let rounded = bf16(false, false);
        let dot = dpbf16::available().then(|| bf16(true, false));
        let winograd = (wide && dpbf16::available()).then(|| bf16(true, true));
        mine_runtime::kernels::set_options(kernels);
        let show = |v: Option<(f64, f64, f64)>, none: &str| {
            v.map_or(none.to_owned(), |(f, b, w)| {
                format!("{f:6.1} / {b:6.1} / {w:6.1}")
            })
        };
        println!(
            "     bf16 fwd / dx / dw: vdpbf16ps {}   bf16 Winograd {}   f32 kernels on rounded operands {:6.1} / {:6.1} / {:6.1}",
            show(dot, "no AVX512_BF16"),
            show(winograd, "not taken"),
            rounded.0,
            rounded.1,
            rounded.2
        );
    }
}
