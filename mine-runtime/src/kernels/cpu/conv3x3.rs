//! Direct 3x3 convolution (stride 1, padding 1, groups 1) on NCHW f32 slices with AVX-512:
//! no unfolding and no gemm packing, the hot case of the VPT ImpalaCNN.
//!
//! Each image is zero-padded once into a per-thread scratch plane set (`[C][H + 2][W + 2]`);
//! from there every output pixel's 3x3 window is a fixed offset, so a register tile of
//! 8 output channels x 32 pixels accumulates `C_in * 9` broadcast-weight FMAs over
//! unaligned loads of the padded rows. The input gradient is the same kernel on the padded
//! output gradient with the weight flipped and transposed; the weight gradient is a tile of
//! 2 output channels x 9 taps reduced over every pixel of the image.
//!
//! [`available`] tells whether the CPU has AVX-512; callers fall back to im2col + gemm
//! otherwise.

use std::cell::RefCell;
use std::mem::MaybeUninit;

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use rayon::prelude::*;

use super::elementwise::sum;
use super::lanes::LANES;

use super::conv::ConvShape;

/// Output channels per forward register tile.
const CB: usize = 8;

/// Whether this CPU runs these kernels.
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether `s` is a convolution these kernels compute, on this CPU.
pub fn handles(s: &ConvShape) -> bool {
    s.kernel == [3, 3]
        && s.stride == [1, 1]
        && s.padding == [1, 1]
        && s.dilation == [1, 1]
        && s.height > 0
        && s.width > 0
        && available()
}

thread_local! {
    /// The calling thread's padded planes, grown on demand and reused.
    static PADDED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Geometry of one padded plane set.
#[derive(Clone, Copy)]
struct Padded {
    channels: usize,
    height: usize,
    width: usize,
}

impl Padded {
    fn row(&self) -> usize {
        self.width + 2
    }
    fn plane(&self) -> usize {
        (self.height + 2) * self.row()
    }
    /// Floats to allocate: the planes plus one register of slack for the loads of a last,
    /// partial vector (their extra lanes are never stored).
    fn len(&self) -> usize {
        self.channels * self.plane() + LANES
    }
}

/// Copies `image` (`[C][H][W]`) into `dst` (`C` padded planes) with a zero border of one
/// pixel.
fn pad_planes(p: Padded, image: &[f32], dst: &mut [f32]) {
    let (row, plane, hw) = (p.row(), p.plane(), p.height * p.width);
    for (c, src) in image.chunks_exact(hw).enumerate() {
        let dst = &mut dst[c * plane..(c + 1) * plane];
        dst[..row].fill(0.0);
        dst[(p.height + 1) * row..].fill(0.0);
        for (y, src_row) in src.chunks_exact(p.width).enumerate() {
            let r = &mut dst[(y + 1) * row..(y + 2) * row];
            r[0] = 0.0;
            r[1..=p.width].copy_from_slice(src_row);
            r[p.width + 1] = 0.0;
        }
    }
}

/// Runs `f` on `image` zero-padded into this thread's scratch.
fn with_padded<R>(p: Padded, image: &[f32], f: impl FnOnce(&[f32]) -> R) -> R {
    PADDED.with(|cell| {
        let mut buffer = cell.borrow_mut();
        if buffer.len() < p.len() {
            buffer.resize(p.len(), 0.0);
        }
        let planes = p.channels * p.plane();
        pad_planes(p, image, &mut buffer[..planes]);
        buffer[planes..p.len()].fill(0.0);
        f(&buffer[..p.len()])
    })
}

/// The weight `[C_out][C_in][3][3]` regrouped as `[C_out / CB][C_in][9][CB]` (output
/// channels padded with zeros to a multiple of `CB`), so a tile's 8 weights of one tap are
/// adjacent.
fn pack_weight(weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<f32> {
    let blocks = out_channels.div_ceil(CB);
    let mut packed = vec![0.0; blocks * in_channels * 9 * CB];
    for o in 0..out_channels {
        let (block, lane) = (o / CB, o % CB);
        for c in 0..in_channels {
            for tap in 0..9 {
                packed[((block * in_channels + c) * 9 + tap) * CB + lane] =
                    weight[(o * in_channels + c) * 9 + tap];
            }
        }
    }
    packed
}

/// The weight of the input gradient: `w'[c][o][ky][kx] = w[o][c][2 - ky][2 - kx]`.
fn flip_weight(weight: &[f32], out_channels: usize, in_channels: usize) -> Vec<f32> {
    let mut flipped = vec![0.0; weight.len()];
    for o in 0..out_channels {
        for c in 0..in_channels {
            for tap in 0..9 {
                flipped[(c * out_channels + o) * 9 + (8 - tap)] =
                    weight[(o * in_channels + c) * 9 + tap];
            }
        }
    }
    flipped
}

/// What one forward call computes, for the per-image tiles.
struct Forward<'a> {
    p: Padded,
    out_channels: usize,
    packed: &'a [f32],
    bias: Option<&'a [f32]>,
    relu: bool,
}

/// `out = conv3x3(x, weight) + bias` (then ReLU when `relu`), NCHW; every element of `out`
/// is written (it may start uninitialized).
pub fn forward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    relu: bool,
    out: &mut [MaybeUninit<f32>],
) {
    assert!(handles(s), "conv3x3::forward: unsupported {s:?}");
    let packed = pack_weight(weight, s.out_channels, s.in_channels);
    let job = Forward {
        p: Padded {
            channels: s.in_channels,
            height: s.height,
            width: s.width,
        },
        out_channels: s.out_channels,
        packed: &packed,
        bias,
        relu,
    };
    let (in_len, out_len) = (
        s.in_channels * s.height * s.width,
        s.out_channels * s.height * s.width,
    );
    assert_eq!(x.len(), s.batch * in_len, "conv3x3: input length");
    assert_eq!(out.len(), s.batch * out_len, "conv3x3: output length");
    if in_len == 0 || out_len == 0 {
        out.iter_mut().for_each(|v| {
            v.write(0.0);
        });
        return;
    }
    out.par_chunks_mut(out_len)
        .zip(x.par_chunks(in_len))
        .for_each(|(out, image)| with_padded(job.p, image, |padded| job.image(padded, out)));
}

/// The input gradient of [`forward`]; every element of `grad_x` is written (it may start
/// uninitialized).
pub fn input_grad(
    s: &ConvShape,
    grad_out: &[f32],
    weight: &[f32],
    grad_x: &mut [MaybeUninit<f32>],
) {
    let flipped = flip_weight(weight, s.out_channels, s.in_channels);
    let transposed = ConvShape {
        in_channels: s.out_channels,
        out_channels: s.in_channels,
        ..*s
    };
    forward(&transposed, grad_out, &flipped, None, false, grad_x);
}

impl Forward<'_> {
    /// One image: `padded` is its input, `out` its `[C_out][H][W]` output.
    fn image(&self, padded: &[f32], out: &mut [MaybeUninit<f32>]) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `handles` checked that the CPU has AVX-512F.
        unsafe {
            self.image_avx512(padded, out)
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("conv3x3 runs only where `available` is true");
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn image_avx512(&self, padded: &[f32], out: &mut [MaybeUninit<f32>]) {
        let Padded { height, width, .. } = self.p;
        for block in 0..self.out_channels.div_ceil(CB) {
            for y in 0..height {
                let mut x = 0;
                while x < width {
                    if width - x > LANES {
                        self.tile::<2>(padded, out, block, y, x);
                        x += 2 * LANES;
                    } else {
                        self.tile::<1>(padded, out, block, y, x);
                        x += LANES;
                    }
                }
            }
        }
    }

    /// `CB` output channels of block `block` at row `y`, pixels `x..x + NV * 16` (clipped to
    /// the row).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile<const NV: usize>(
        &self,
        padded: &[f32],
        out: &mut [MaybeUninit<f32>],
        block: usize,
        y: usize,
        x: usize,
    ) {
        let p = self.p;
        let (row, plane) = (p.row(), p.plane());
        let weights = &self.packed[block * p.channels * 9 * CB..][..p.channels * 9 * CB];
        let mut acc = [[_mm512_setzero_ps(); NV]; CB];
        for c in 0..p.channels {
            let base = c * plane + y * row + x;
            for ky in 0..3 {
                for kx in 0..3 {
                    let start = base + ky * row + kx;
                    // The last vector of a partial tile may read past the row (into the next
                    // row, or the slack): those lanes are never stored.
                    let src = &padded[start..start + NV * LANES];
                    // No closures here: they would not inherit this function's AVX-512.
                    let mut xs = [_mm512_setzero_ps(); NV];
                    for (j, v) in xs.iter_mut().enumerate() {
                        // SAFETY: `src` holds NV * 16 floats.
                        *v = unsafe { _mm512_loadu_ps(src.as_ptr().add(j * LANES)) };
                    }
                    let w = &weights[(c * 9 + ky * 3 + kx) * CB..][..CB];
                    for o in 0..CB {
                        let wv = _mm512_set1_ps(w[o]);
                        for j in 0..NV {
                            acc[o][j] = _mm512_fmadd_ps(wv, xs[j], acc[o][j]);
                        }
                    }
                }
            }
        }
        let (hw, width) = (p.height * p.width, p.width);
        for (o, acc) in acc.iter().enumerate() {
            let channel = block * CB + o;
            if channel >= self.out_channels {
                break;
            }
            let b = _mm512_set1_ps(self.bias.map_or(0.0, |b| b[channel]));
            let dst = &mut out[channel * hw + y * width..][..width];
            for (j, v) in acc.iter().enumerate() {
                let x0 = x + j * LANES;
                if x0 >= width {
                    break;
                }
                let mut v = _mm512_add_ps(*v, b);
                if self.relu {
                    v = _mm512_max_ps(v, _mm512_setzero_ps());
                }
                let lanes = (width - x0).min(LANES);
                let mask: __mmask16 = if lanes == LANES {
                    !0
                } else {
                    (1u16 << lanes) - 1
                };
                // SAFETY: the mask keeps the store inside `dst[x0..x0 + lanes]`.
                unsafe { _mm512_mask_storeu_ps(dst.as_mut_ptr().add(x0).cast::<f32>(), mask, v) };
            }
        }
    }
}

thread_local! {
    /// The calling thread's transposed output gradient of one band of rows
    /// (`[pixel][C_out rounded up to 16]`).
    static TRANSPOSED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Pixels `pixels` of `grad` (`[C_out][P]`, `P = plane` pixels per channel) as `dst` =
/// `[pixel][lanes]` with `lanes = C_out` rounded up to 16 (the extra lanes zero): 16x16
/// blocks transposed in registers, the last partial block element by element.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose_grad(
    grad: &[f32],
    out_channels: usize,
    plane: usize,
    pixels: std::ops::Range<usize>,
    lanes: usize,
    dst: &mut [f32],
) {
    let first = pixels.start;
    for p0 in pixels.clone().step_by(LANES) {
        let p1 = (p0 + LANES).min(pixels.end);
        if p1 - p0 == LANES {
            for o0 in (0..lanes).step_by(LANES) {
                let mut rows = [_mm512_setzero_ps(); LANES];
                for (j, row) in rows.iter_mut().enumerate() {
                    if o0 + j < out_channels {
                        let src = &grad[(o0 + j) * plane + p0..][..LANES];
                        // SAFETY: `src` holds 16 floats.
                        *row = unsafe { _mm512_loadu_ps(src.as_ptr()) };
                    }
                }
                let columns = transpose16(rows);
                for (k, column) in columns.iter().enumerate() {
                    let out = &mut dst[(p0 - first + k) * lanes + o0..][..LANES];
                    // SAFETY: `out` holds 16 floats.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), *column) };
                }
            }
            continue;
        }
        for o in 0..lanes {
            for p in p0..p1 {
                dst[(p - first) * lanes + o] = if o < out_channels {
                    grad[o * plane + p]
                } else {
                    0.0
                };
            }
        }
    }
}

/// The transpose of the 16x16 matrix whose rows are `r`: element `j` of result `k` is
/// element `k` of `r[j]`. Three rounds of shuffles (lanes, pairs, 128-bit blocks twice).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
    let mut t = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    let mut u = [_mm512_setzero_ps(); 16];
    for g in 0..4 {
        let (a, b, c, d) = (t[4 * g], t[4 * g + 1], t[4 * g + 2], t[4 * g + 3]);
        let pd = _mm512_castps_pd;
        u[4 * g] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(a), pd(c)));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(a), pd(c)));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(pd(b), pd(d)));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(pd(b), pd(d)));
    }
    let mut v = [_mm512_setzero_ps(); 16];
    for i in 0..4 {
        v[i] = _mm512_shuffle_f32x4::<0x88>(u[i], u[i + 4]);
        v[i + 4] = _mm512_shuffle_f32x4::<0xdd>(u[i], u[i + 4]);
        v[i + 8] = _mm512_shuffle_f32x4::<0x88>(u[i + 8], u[i + 12]);
        v[i + 12] = _mm512_shuffle_f32x4::<0xdd>(u[i + 8], u[i + 12]);
    }
    let mut out = [_mm512_setzero_ps(); 16];
    for i in 0..8 {
        out[i] = _mm512_shuffle_f32x4::<0x88>(v[i], v[i + 8]);
        out[i + 8] = _mm512_shuffle_f32x4::<0xdd>(v[i], v[i + 8]);
    }
    out
}

/// The weight gradient (`[C_out][C_in][3][3]`, written whole) and, when asked, the bias
/// gradient of [`forward`].
///
/// Vectorized over output channels: the output gradient is transposed to pixel-major
/// (`[P][C_out]`) once per image, and a register tile of 16 output channels x 3 input
/// channels x 9 taps accumulates, per pixel, one vector load of the gradient times 27
/// broadcast input values; the accumulators are the gradient itself (no horizontal sums).
pub fn weight_grad(
    s: &ConvShape,
    x: &[f32],
    grad_out: &[f32],
    grad_weight: &mut [f32],
    mut grad_bias: Option<&mut [f32]>,
) {
    assert!(handles(s), "conv3x3::weight_grad: unsupported {s:?}");
    let p = Padded {
        channels: s.in_channels,
        height: s.height,
        width: s.width,
    };
    let (co, ci, hw) = (s.out_channels, s.in_channels, s.height * s.width);
    let (in_len, out_len) = (ci * hw, co * hw);
    let lanes = co.div_ceil(LANES) * LANES;
    grad_weight.fill(0.0);
    if let Some(b) = grad_bias.as_deref_mut() {
        b.fill(0.0);
    }
    if in_len == 0 || out_len == 0 {
        return;
    }
    let threads = rayon::current_num_threads().clamp(1, s.batch.max(1));
    let per = s.batch.div_ceil(threads).max(1);
    let with_bias = grad_bias.is_some();
    // Per thread: the gradient as `[C_in][9][lanes]`, and the bias gradient.
    let partials: Vec<(Vec<f32>, Vec<f32>)> = x
        .par_chunks(per * in_len)
        .zip(grad_out.par_chunks(per * out_len))
        .map(|(images, grads)| {
            let mut dwt = vec![0.0f32; ci * 9 * lanes];
            let mut db = vec![0.0f32; if with_bias { co } else { 0 }];
            for (image, g) in images.chunks(in_len).zip(grads.chunks(out_len)) {
                TRANSPOSED.with(|cell| {
                    let mut gt = cell.borrow_mut();
                    if gt.len() < WEIGHT_GRAD_BAND + p.width * lanes {
                        gt.resize(WEIGHT_GRAD_BAND + p.width * lanes, 0.0);
                    }
                    with_padded(p, image, |padded| {
                        let job = WeightGradImage {
                            p,
                            out_channels: co,
                            lanes,
                            padded,
                            grad: g,
                        };
                        #[cfg(target_arch = "x86_64")]
                        // SAFETY: `handles` checked that the CPU has AVX-512F.
                        unsafe {
                            job.run(&mut gt, &mut dwt)
                        }
                    });
                });
                for (b, plane) in db.iter_mut().zip(g.chunks(hw)) {
                    *b += sum(plane);
                }
            }
            (dwt, db)
        })
        .collect();
    for (dwt, db) in &partials {
        for o in 0..co {
            for c in 0..ci {
                for tap in 0..9 {
                    grad_weight[(o * ci + c) * 9 + tap] += dwt[(c * 9 + tap) * lanes + o];
                }
            }
        }
        if let Some(b) = grad_bias.as_deref_mut() {
            b.iter_mut().zip(db).for_each(|(d, v)| *d += v);
        }
    }
}

/// Floats of transposed gradient per band of rows (64 KiB: the band stays in L2 while every
/// block of input and output channels passes over it).
const WEIGHT_GRAD_BAND: usize = 16 * 1024;

/// One image of the weight gradient.
struct WeightGradImage<'a> {
    p: Padded,
    out_channels: usize,
    lanes: usize,
    padded: &'a [f32],
    /// The image's output gradient, `[C_out][H][W]`.
    grad: &'a [f32],
}

impl WeightGradImage<'_> {
    /// Adds the image's contribution to `dwt` (`[C_in][9][lanes]`): band by band of rows,
    /// the band's gradient transposed into `gt`, then for each block of up to 3 input
    /// channels and of 16 output channels, 27 vector accumulators over the band's pixels.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    fn run(&self, gt: &mut [f32], dwt: &mut [f32]) {
        let (p, lanes) = (self.p, self.lanes);
        let hw = p.height * p.width;
        let rows = (WEIGHT_GRAD_BAND / (lanes * p.width)).max(1);
        for y0 in (0..p.height).step_by(rows) {
            let band = y0..(y0 + rows).min(p.height);
            let pixels = band.start * p.width..band.end * p.width;
            transpose_grad(self.grad, self.out_channels, hw, pixels.clone(), lanes, gt);
            let gt = &gt[..pixels.len() * lanes];
            for block in 0..lanes / LANES {
                let mut c = 0;
                while c < p.channels {
                    let band = band.clone();
                    match p.channels - c {
                        1 => self.tile::<1>(gt, block, c, band, dwt),
                        2 => self.tile::<2>(gt, block, c, band, dwt),
                        _ => self.tile::<3>(gt, block, c, band, dwt),
                    }
                    c += 3;
                }
            }
        }
    }

    /// Input channels `c0..c0 + NC`, output channels `16 * block..16 * block + 16`, pixels
    /// of `rows`, whose transposed gradient is `gt`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn tile<const NC: usize>(
        &self,
        gt: &[f32],
        block: usize,
        c0: usize,
        rows: std::ops::Range<usize>,
        dwt: &mut [f32],
    ) {
        let (p, lanes, padded) = (self.p, self.lanes, self.padded);
        let (row, plane) = (p.row(), p.plane());
        let o0 = block * LANES;
        assert!(dwt.len() >= ((c0 + NC) * 9 - 1) * lanes + o0 + LANES);
        assert!(gt.len() >= rows.len() * p.width * lanes && o0 + LANES <= lanes);
        assert!(padded.len() >= (c0 + NC) * plane);
        let mut acc = [[_mm512_setzero_ps(); 9]; NC];
        for (c, acc) in acc.iter_mut().enumerate() {
            for (tap, a) in acc.iter_mut().enumerate() {
                // SAFETY: asserted above: the 16 floats are inside `dwt`.
                *a =
                    unsafe { _mm512_loadu_ps(dwt.as_ptr().add(((c0 + c) * 9 + tap) * lanes + o0)) };
            }
        }
        let (xs, gs) = (padded.as_ptr(), gt.as_ptr());
        assert!(rows.end <= p.height);
        let y0 = rows.start;
        for y in rows {
            for x in 0..p.width {
                // SAFETY (all loads below): pixel (y, x) < H x W, so its gradient row and the
                // 3x3 window of padded row y..y + 2, column x..x + 2 of each channel c0 + c lie
                // inside `gt` and `padded` (asserted above).
                let gv = unsafe { _mm512_loadu_ps(gs.add(((y - y0) * p.width + x) * lanes + o0)) };
                for (c, acc) in acc.iter_mut().enumerate() {
                    let base = (c0 + c) * plane + y * row + x;
                    for ky in 0..3 {
                        for kx in 0..3 {
                            let xv = unsafe { _mm512_set1_ps(*xs.add(base + ky * row + kx)) };
                            acc[ky * 3 + kx] = _mm512_fmadd_ps(xv, gv, acc[ky * 3 + kx]);
                        }
                    }
                }
            }
        }
        for (c, acc) in acc.iter().enumerate() {
            for (tap, a) in acc.iter().enumerate() {
                // SAFETY: as for the loads of `dwt` above.
                unsafe {
                    _mm512_storeu_ps(dwt.as_mut_ptr().add(((c0 + c) * 9 + tap) * lanes + o0), *a)
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
            let rows: [__m512; 16] =
                std::array::from_fn(|j| _mm512_loadu_ps(m.as_ptr().add(16 * j)));
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

    /// The direct kernels agree with the im2col + gemm kernels (tested against the
    /// definition in `conv.rs`) on odd widths and heights, tails of every length, channel
    /// counts that are not multiples of the tile, and batch 1.
    #[test]
    fn direct_kernels_match_im2col() {
        if !available() {
            eprintln!("no AVX-512 on this CPU: the direct kernels are not tested");
            return;
        }
        for (n, ci, co, h, w) in [
            (2, 3, 16, 9, 7),
            (1, 16, 16, 64, 64),
            (3, 5, 11, 13, 33),
            (2, 32, 32, 16, 16),
            (1, 3, 3, 1, 1),
            (2, 4, 9, 5, 17),
            (1, 2, 3, 3, 48),
        ] {
            let s = ConvShape {
                batch: n,
                in_channels: ci,
                height: h,
                width: w,
                out_channels: co,
                kernel: [3, 3],
                stride: [1, 1],
                padding: [1, 1],
                dilation: [1, 1],
            };
            let what = format!("{s:?}");
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
}
