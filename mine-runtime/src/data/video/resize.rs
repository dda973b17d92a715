//! Bilinear resizing of RGB24 frames with OpenCV's `INTER_LINEAR` sampling and fixed-point maths.

use crate::kernels::isa::{Isa, multiversion};

const COEF_BITS: u32 = 11;
const COEF_SCALE: i32 = 1 << COEF_BITS;

/// Source index and fixed-point weights for every destination coordinate (OpenCV's rule:
/// pixel centres aligned, `src = (dst + 0.5) * scale - 0.5`, clamped at the borders).
fn taps(src: usize, dst: usize) -> Vec<(usize, i32, i32)> {
    let scale = src as f64 / dst as f64;
    (0..dst)
        .map(|d| {
            let f = (d as f64 + 0.5) * scale - 0.5;
            let mut s = f.floor() as i64;
            let mut frac = (f - s as f64) as f32;
            if s < 0 {
                s = 0;
                frac = 0.0;
            }
            if s >= src as i64 - 1 {
                s = src as i64 - 1;
                frac = 0.0;
            }
            let w0 = ((1.0 - frac) * COEF_SCALE as f32).round() as i32;
            (s as usize, w0, COEF_SCALE - w0)
        })
        .collect()
}

/// Where one destination column reads its source row: the byte offsets of its two source
/// pixels (the second clamped to the row) and their fixed-point weights.
#[derive(Clone, Copy)]
struct Column {
    a: usize,
    b: usize,
    w0: i32,
    w1: i32,
}

/// [`taps`] along a row of `src` pixels of `channels` bytes each, as byte offsets.
fn columns(src: usize, dst: usize, channels: usize) -> Vec<Column> {
    taps(src, dst)
        .into_iter()
        .map(|(s, w0, w1)| Column {
            a: s * channels,
            b: (s + 1).min(src - 1) * channels,
            w0,
            w1,
        })
        .collect()
}

multiversion!(horizontal_imp(line: &[u8], xs: &[Column], channels: usize, out: &mut [i32]) => horizontal);

/// One source row's horizontal pass: `out[x * channels + c]` for every destination column.
/// The usual pixel sizes take a loop unrolled over their channels (a gather per column: the
/// generic loop over a run-time channel count took 12% of the loader's time).
#[inline(always)]
fn horizontal(line: &[u8], xs: &[Column], channels: usize, out: &mut [i32]) {
    match channels {
        1 => horizontal_px::<1>(line, xs, out),
        3 => horizontal_px::<3>(line, xs, out),
        4 => horizontal_px::<4>(line, xs, out),
        _ => {
            for (o, x) in out.chunks_exact_mut(channels).zip(xs) {
                for (c, o) in o.iter_mut().enumerate() {
                    *o = line[x.a + c] as i32 * x.w0 + line[x.b + c] as i32 * x.w1;
                }
            }
        }
    }
}

/// [`horizontal`] for pixels of `CH` bytes.
#[inline(always)]
fn horizontal_px<const CH: usize>(line: &[u8], xs: &[Column], out: &mut [i32]) {
    let (out, _) = out.as_chunks_mut::<CH>();
    for (o, x) in out.iter_mut().zip(xs) {
        let (Some(pa), Some(pb)) = (
            line[x.a..].first_chunk::<CH>(),
            line[x.b..].first_chunk::<CH>(),
        ) else {
            unreachable!("columns() keeps both pixels inside the row");
        };
        *o = std::array::from_fn(|c| pa[c] as i32 * x.w0 + pb[c] as i32 * x.w1);
    }
}

multiversion!(vertical_imp(r0: &[i32], r1: &[i32], w0: i32, w1: i32, dst: &mut [u8]) => vertical);

/// The vertical pass of one destination row, as OpenCV's vectorized `VResizeLinear` for u8
/// computes it (every x86 build of OpenCV takes that path for whole rows of 32 bytes and more):
/// each row's sums shifted right by 4, multiplied by the weight keeping the high 16 bits, then
/// `(sum + 2) >> 2`. (Exact rounding, `(a w0 + b w1 + 2^21) >> 22`, differs from it by one on
/// about 10% of the bytes.)
#[inline(always)]
fn vertical(r0: &[i32], r1: &[i32], w0: i32, w1: i32, dst: &mut [u8]) {
    for ((d, a), b) in dst.iter_mut().zip(r0).zip(r1) {
        let v = (((w0 * (a >> 4)) >> 16) + ((w1 * (b >> 4)) >> 16) + 2) >> 2;
        *d = v.clamp(0, 255) as u8;
    }
}

/// An image read one row of interleaved bytes at a time.
pub(super) trait RowSource {
    /// Row `y`, top to bottom.
    fn row(&mut self, y: usize) -> &[u8];
}

/// The rows of an image held whole.
struct Whole<'a> {
    data: &'a [u8],
    row_len: usize,
}

impl RowSource for Whole<'_> {
    fn row(&mut self, y: usize) -> &[u8] {
        &self.data[y * self.row_len..(y + 1) * self.row_len]
    }
}

/// Resizes an interleaved `channels`-channel u8 image like `cv2.resize(..., INTER_LINEAR)`.
pub fn resize_bilinear(
    src: &[u8],
    (sw, sh): (usize, usize),
    dst: (usize, usize),
    channels: usize,
) -> Vec<u8> {
    let mut rows = Whole {
        data: src,
        row_len: sw * channels,
    };
    resize_rows(&mut rows, (sw, sh), dst, channels)
}

/// [`resize_bilinear`] of an image whose rows `src` gives (each read at most once).
pub(super) fn resize_rows(
    src: &mut impl RowSource,
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    channels: usize,
) -> Vec<u8> {
    let xs = columns(sw, dw, channels);
    let ys = taps(sh, dh);
    let isa = Isa::detect();
    let row_len = dw * channels;
    // The horizontal passes of the two source rows the current destination row reads, kept
    // for the next destination row (which mostly reads one of them again).
    let mut rows: [(usize, Vec<i32>); 2] = [
        (usize::MAX, vec![0; row_len]),
        (usize::MAX, vec![0; row_len]),
    ];
    let mut out = vec![0u8; dw * dh * channels];
    for (d, &(s, w0, w1)) in ys.iter().enumerate() {
        let wanted = [s, (s + 1).min(sh - 1)];
        for &row in &wanted {
            if rows.iter().any(|(r, _)| *r == row) {
                continue;
            }
            // Overwrite the slot that holds neither wanted row.
            let k = usize::from(wanted.contains(&rows[0].0));
            horizontal_imp(isa, src.row(row), &xs, channels, &mut rows[k].1);
            rows[k].0 = row;
        }
        let slot = |row: usize| &rows[usize::from(rows[0].0 != row)].1;
        let dst = &mut out[d * row_len..(d + 1) * row_len];
        vertical_imp(isa, slot(wanted[0]), slot(wanted[1]), w0, w1, dst);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The image of `examples/reference/resize_golden.py`.
    fn image(w: usize, h: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(w * h * 3);
        for i in 0..h {
            for j in 0..w {
                for c in 0..3 {
                    out.push(((i * i * 7 + j * 13 + c * 101 + (i * j) % 17) % 256) as u8);
                }
            }
        }
        out
    }

    #[test]
    fn matches_opencv_inter_linear() {
        use sha2::{Digest, Sha256};
        // SHA-256 of cv2.resize(image, (dw, dh), interpolation=cv2.INTER_LINEAR), OpenCV
        // 4.12 (examples/reference/resize_golden.py): the downscales MineStudio's image
        // callback does (its recordings' 640x360 and 224x224 to 128x128). Upscaling (not
        // tested here) differs from OpenCV by one on a few bytes (100x60 -> 160x90: 87 of
        // 43200).
        let golden = [
            (
                (224, 224),
                (128, 128),
                "f0c746dfe1b0079a8e42a58255e11a471915a854ee83a9a4b9fa2d6bee73bc0f",
            ),
            (
                (224, 224),
                (64, 64),
                "abb0501674fc0301e5ad92cc38a6d7564cf892a74c37026d3c1774de46c8a350",
            ),
            (
                (640, 360),
                (128, 128),
                "ecd1074b9c17ff1519ebc23a89b3d06119e264aaf34120a102ec5839e114c518",
            ),
        ];
        for ((sw, sh), (dw, dh), want) in golden {
            let out = resize_bilinear(&image(sw, sh), (sw, sh), (dw, dh), 3);
            let got: String = Sha256::digest(&out)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(got, want, "{sw}x{sh} -> {dw}x{dh}");
        }
    }

    #[test]
    fn identity_size_keeps_pixels() {
        let src: Vec<u8> = (0..4 * 3 * 3).map(|v| v as u8).collect();
        assert_eq!(resize_bilinear(&src, (4, 3), (4, 3), 3), src);
    }

    #[test]
    fn halving_averages_pairs() {
        // 4x1 grey ramp 0, 100, 200, 250 -> 2x1: (0+100)/2, (200+250)/2
        let src = [0u8, 100, 200, 250];
        assert_eq!(resize_bilinear(&src, (4, 1), (2, 1), 1), vec![50, 225]);
    }

    #[test]
    fn upscaling_interpolates_and_clamps_borders() {
        let src = [0u8, 200];
        // dst x=0: src -0.25 -> clamp 0; x=1: 0.25 -> 50; x=2: 0.75 -> 150; x=3: 1.25 -> 200
        assert_eq!(
            resize_bilinear(&src, (2, 1), (4, 1), 1),
            vec![0, 50, 150, 200]
        );
    }
}
