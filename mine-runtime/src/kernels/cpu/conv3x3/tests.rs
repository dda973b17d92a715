use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::weight_grad::transpose16;
use super::*;
use crate::kernels::cpu::conv::tests::reference;
use crate::kernels::cpu::conv::{im2col_forward, im2col_input_grad, im2col_weight_grad};
use crate::kernels::cpu::test_data::values;

/// The values a kernel wrote into `v` (every one).
fn init(v: Vec<MaybeUninit<f32>>) -> Vec<f32> {
    // SAFETY: the kernels write every element (the tests start them from NaN, so a
    // missed element would show as a mismatch anyway).
    v.into_iter().map(|x| unsafe { x.assume_init() }).collect()
}

fn close(a: &[f32], b: &[f32], what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}

#[test]
fn transpose16_transposes() {
    if !available() {
        return;
    }
    let m = values(256, 9);
    // SAFETY: AVX-512F is available (checked above); the loads and stores stay inside
    // `m` and `out`.
    let out = unsafe {
        let rows: [__m512; 16] = std::array::from_fn(|j| _mm512_loadu_ps(m.as_ptr().add(16 * j)));
        let t = transpose16(rows);
        let mut out = vec![0.0f32; 256];
        for (k, v) in t.iter().enumerate() {
            _mm512_storeu_ps(out.as_mut_ptr().add(16 * k), *v);
        }
        out
    };
    for j in 0..16 {
        for k in 0..16 {
            assert_eq!(out[16 * k + j], m[16 * j + k], "row {j} column {k}");
        }
    }
}

/// `(batch, in channels, out channels, height, width)` the kernels are tested on: odd widths
/// and heights, tails of every length, channel counts that are not multiples of the tiles
/// (nor even), batch 1, and the Winograd shapes (tiles of 16 and 32, output channels not a
/// multiple of 8; for F(4x4, 3x3) rows of 16 and 24 tiles, and rows of 8 tiles taken in pairs
/// with one left over).
pub(super) const SHAPES: [(usize, usize, usize, usize, usize); 12] = [
    (2, 3, 16, 9, 7),
    (1, 16, 16, 64, 64),
    (3, 5, 11, 13, 33),
    (2, 32, 32, 16, 16),
    (1, 3, 3, 1, 1),
    (2, 4, 9, 5, 17),
    (1, 2, 3, 3, 48),
    (2, 16, 32, 64, 64),
    (1, 32, 16, 6, 32),
    (1, 32, 12, 2, 32),
    (2, 8, 8, 4, 96),
    (2, 8, 10, 12, 32),
];

/// The direct kernels agree with the im2col + gemm kernels (tested against the
/// definition in `conv.rs`) on odd widths and heights, tails of every length, channel
/// counts that are not multiples of the tile, and batch 1.
#[test]
fn direct_kernels_match_im2col() {
    if !available() {
        eprintln!("no AVX-512 on this CPU: the AVX-512 kernels are not tested");
        return;
    }
    match_im2col_on_every_shape("");
}

/// [`forward`] (with and without ReLU), [`input_grad`] and [`weight_grad`] against im2col +
/// gemm on every shape of [`SHAPES`] (`tag` prefixes the failure messages).
fn match_im2col_on_every_shape(tag: &str) {
    for (n, ci, co, h, w) in SHAPES {
        let s = ConvShape::same_3x3(n, ci, co, [h, w]);
        let what = format!("{tag}{s:?}");
        let x = values(n * ci * h * w, 1);
        let wt = values(co * ci * 9, 2);
        let bias = values(co, 3);
        let g = values(n * co * h * w, 4);
        for relu in [false, true] {
            let (mut ours, mut want) = (
                vec![MaybeUninit::new(f32::NAN); g.len()],
                vec![0.0; g.len()],
            );
            forward(&s, &x, &wt, Some(&bias), relu, &mut ours);
            let ours = init(ours);
            im2col_forward(&s, &x, &wt, Some(&bias), relu, &mut want);
            close(&ours, &want, &format!("{what} forward relu {relu}"));
        }
        let (mut ours, mut want) = (
            vec![MaybeUninit::new(f32::NAN); x.len()],
            vec![0.0; x.len()],
        );
        input_grad(&s, &g, &wt, &mut ours);
        im2col_input_grad(&s, &g, &wt, &mut want);
        close(&init(ours), &want, &format!("{what} input grad"));
        let (mut ours, mut want) = (vec![f32::NAN; wt.len()], vec![0.0; wt.len()]);
        let (mut ob, mut wb) = (vec![f32::NAN; co], vec![0.0; co]);
        weight_grad(&s, &x, &g, &mut ours, Some(&mut ob));
        im2col_weight_grad(&s, &x, &g, &mut want, Some(&mut wb));
        close(&ours, &want, &format!("{what} weight grad"));
        close(&ob, &wb, &format!("{what} bias grad"));
    }
}

/// The weight gradient of `s` for input `x` and output gradient `g`, in f64.
fn exact_weight_grad(s: &ConvShape, x: &[f32], g: &[f32]) -> Vec<f64> {
    let (n, ci, co, h, w) = (s.batch, s.in_channels, s.out_channels, s.height, s.width);
    let mut dw = vec![0.0f64; co * ci * 9];
    for (idx, dw) in dw.iter_mut().enumerate() {
        let (o, c, tap) = (idx / (ci * 9), (idx / 9) % ci, idx % 9);
        for b in 0..n {
            for y in 0..h {
                for xx in 0..w {
                    let (iy, ix) = (
                        (y + tap / 3).wrapping_sub(1),
                        (xx + tap % 3).wrapping_sub(1),
                    );
                    if iy < h && ix < w {
                        *dw += f64::from(g[((b * co + o) * h + y) * w + xx])
                            * f64::from(x[((b * ci + c) * h + iy) * w + ix]);
                    }
                }
            }
        }
    }
    dw
}

/// The largest absolute difference between `ours` and `exact`.
fn max_error(ours: &[f32], exact: &[f64]) -> f64 {
    ours.iter()
        .zip(exact)
        .map(|(a, e)| (f64::from(*a) - e).abs())
        .fold(0.0, f64::max)
}

/// The weight gradient of a 64x64 image pair sums 8192 products per entry: its rounding
/// error stays at the level of im2col + gemm's (max 1.4e-4 here; 1.2e-3 when the
/// accumulators ran on through whole images), with AVX-512 and with AVX2 (forced on AVX-512
/// CPUs too; Winograd F(2x2, 3x3): 9.8e-5 on an AMD EPYC Zen 3, where F(4x4, 3x3)'s weight
/// gradient gave 2.4e-4 and was not kept).
#[test]
fn weight_grad_is_accurate_on_long_reductions() {
    use crate::kernels::isa::{Isa, for_each_isa};
    let (n, ci, co, h, w) = (2, 16, 32, 64, 64);
    let s = ConvShape::same_3x3(n, ci, co, [h, w]);
    let (x, g) = (values(n * ci * h * w, 1), values(n * co * h * w, 4));
    let exact = exact_weight_grad(&s, &x, &g);
    for_each_isa(|| {
        let isa = Isa::detect();
        if matches!(isa, Isa::Baseline) || !handles_f32(&s) {
            return;
        }
        let mut ours = vec![f32::NAN; co * ci * 9];
        weight_grad(&s, &x, &g, &mut ours, None);
        let worst = max_error(&ours, &exact);
        assert!(worst < 3e-4, "{isa:?}: max error {worst}");
    });
}

/// Winograd F(4x4, 3x3)'s larger transform constants cost accuracy: on the 16->32 @64
/// convolution (144 products per output, values in [-1, 1]) its outputs are within 1.04e-5 of
/// the exact ones, F(2x2, 3x3)'s within 5.1e-7 and im2col + gemm's within 1.5e-6 (AMD EPYC Zen
/// 3): a relative error of about 3e-6 on outputs of typical size 4 (bf16 rounds at 3.9e-3).
#[test]
fn avx2_winograd4_stays_near_the_exact_convolution() {
    use crate::kernels::isa::{Isa, for_each_isa};
    use crate::kernels::{KernelOptions, options, scope};
    if !available_avx2() {
        return;
    }
    let (n, ci, co, h, w) = (2, 16, 32, 64, 64);
    let s = ConvShape::same_3x3(n, ci, co, [h, w]);
    let (x, wt) = (values(n * ci * h * w, 1), values(co * ci * 9, 2));
    let exact = reference(&s, &x, &wt);
    let mut ran = false;
    for_each_isa(|| {
        if !matches!(Isa::detect(), Isa::Avx2) {
            return;
        }
        ran = true;
        for (winograd4, bound) in [(true, 3e-5), (false, 3e-6)] {
            let _options = scope(KernelOptions {
                winograd4,
                ..options()
            });
            let mut y = vec![MaybeUninit::new(f32::NAN); exact.len()];
            forward(&s, &x, &wt, None, false, &mut y);
            let worst = max_error(&init(y), &exact);
            assert!(worst < bound, "F(4x4) {winograd4}: max error {worst}");
        }
    });
    assert!(ran, "the AVX2 variant was not forced");
}

/// The same-padded 3x3 convolution of batch `n`, `ci` -> `co` channels at `h` x `w`, with a
/// seeded input, weight and bias.
fn seeded_case(
    n: usize,
    ci: usize,
    co: usize,
    h: usize,
    w: usize,
) -> (ConvShape, Vec<f32>, Vec<f32>, Vec<f32>) {
    let s = ConvShape::same_3x3(n, ci, co, [h, w]);
    let x = values(n * ci * h * w, 5);
    (s, x, values(co * ci * 9, 6), values(co, 7))
}

/// `KernelOptions::winograd4_avx512` runs the AVX2 F(4x4, 3x3) kernels on any CPU: the forward
/// and input gradient give the bits of the AVX2 variant (forced on AVX-512 CPUs), on shapes
/// with rows of 8, 16 and 24 tiles, and on AVX-512 CPUs other bits than their F(2x2, 3x3)
/// kernels (the option routes).
#[test]
fn winograd4_avx512_gives_the_avx2_f4_bits() {
    use crate::kernels::isa::{Isa, for_each_isa};
    use crate::kernels::{KernelOptions, options, scope};
    if !available_avx2() {
        return;
    }
    for (n, ci, co, h, w) in [(2, 16, 16, 8, 64), (1, 32, 12, 12, 32), (1, 8, 24, 4, 96)] {
        let (s, x, wt, bias) = seeded_case(n, ci, co, h, w);
        let g = values(n * co * h * w, 8);
        let run = || {
            let mut y = vec![MaybeUninit::new(f32::NAN); n * co * h * w];
            forward(&s, &x, &wt, Some(&bias), true, &mut y);
            let mut gx = vec![MaybeUninit::new(f32::NAN); x.len()];
            input_grad(&s, &g, &wt, &mut gx);
            (init(y), init(gx))
        };
        let run_with = |winograd4_avx512: bool| {
            let _options = scope(KernelOptions {
                winograd4_avx512,
                ..options()
            });
            run()
        };
        let mut avx2 = None;
        for_each_isa(|| {
            if matches!(Isa::detect(), Isa::Avx2) {
                avx2 = Some(run());
            }
        });
        let avx2 = avx2.expect("the AVX2 variant was not forced");
        let (y, gx) = run_with(true);
        assert_eq!(y, avx2.0, "forward {s:?}");
        assert_eq!(gx, avx2.1, "input gradient {s:?}");
        if available() {
            assert_ne!(run_with(false).0, avx2.0, "F(2x2) forward {s:?}");
        }
    }
}

/// The Winograd kernel's 32-tile chunks (`KernelOptions::winograd_wide`) give the bits of its
/// 16-tile chunks at 8-32 input channels: each tile's sums run over the same channels in the
/// same order, only the number of tiles per register tile changes.
#[test]
fn winograd_wide_chunks_give_the_same_bits() {
    use crate::kernels::{KernelOptions, options, scope};
    if !available() {
        return;
    }
    for (n, ci, co, h, w) in [(2, 16, 16, 8, 64), (1, 32, 16, 6, 32), (1, 8, 24, 4, 96)] {
        let (s, x, wt, bias) = seeded_case(n, ci, co, h, w);
        let run = |wide: bool| {
            let _options = scope(KernelOptions {
                winograd_wide: wide,
                ..options()
            });
            let mut out = vec![MaybeUninit::new(f32::NAN); n * co * h * w];
            forward(&s, &x, &wt, Some(&bias), true, &mut out);
            init(out)
        };
        assert_eq!(run(true), run(false), "{s:?}");
    }
}

/// The AVX2 kernels (CPUs without AVX-512; forced on AVX-512 CPUs) agree with im2col + gemm
/// on every shape above: the direct forward's tails of 1-23 pixels after tiles of 24, 16 and
/// 8 and output channels not a multiple of its 4, Winograd's forward, input gradient and
/// weight gradient on the shapes it takes (widths a multiple of 16: chunks of 16 tiles, and
/// of 8 at width 16), the direct weight gradient's 8x8 transposition blocks with partial ones
/// and its 8-channel blocks of 3-32 output channels.
#[test]
fn avx2_direct_kernels_match_im2col() {
    use crate::kernels::isa::{Isa, for_each_isa};
    if !available_avx2() {
        eprintln!("no AVX2 and FMA on this CPU: the AVX2 kernels are not tested");
        return;
    }
    let mut ran = false;
    for_each_isa(|| {
        if !matches!(Isa::detect(), Isa::Avx2) {
            return;
        }
        ran = true;
        match_im2col_on_every_shape("AVX2 ");
    });
    assert!(ran, "the AVX2 variant was not forced");
}

#[test]
fn transpose8_transposes() {
    if !available_avx2() {
        return;
    }
    let m = values(64, 9);
    // SAFETY: AVX2 and FMA are available (checked above); the loads and stores stay inside
    // `m` and `out`.
    let out = unsafe {
        let rows: [__m256; 8] = std::array::from_fn(|j| _mm256_loadu_ps(m.as_ptr().add(8 * j)));
        let t = super::weight_grad_avx2::transpose8(rows);
        let mut out = vec![0.0f32; 64];
        for (k, v) in t.iter().enumerate() {
            _mm256_storeu_ps(out.as_mut_ptr().add(8 * k), *v);
        }
        out
    };
    for j in 0..8 {
        for k in 0..8 {
            assert_eq!(out[8 * k + j], m[8 * j + k], "row {j} column {k}");
        }
    }
}
