//! Bilinear resizing of RGB24 frames with OpenCV's `INTER_LINEAR` sampling and fixed-point maths.

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

/// Resizes an interleaved `channels`-channel u8 image like `cv2.resize(..., INTER_LINEAR)`.
pub fn resize_bilinear(
    src: &[u8],
    (sw, sh): (usize, usize),
    (dw, dh): (usize, usize),
    channels: usize,
) -> Vec<u8> {
    let xs = taps(sw, dw);
    let ys = taps(sh, dh);
    // Horizontal pass into i32 rows, then the vertical pass with rounding.
    let hrow = |row: usize| -> Vec<i32> {
        let line = &src[row * sw * channels..(row + 1) * sw * channels];
        let mut out = Vec::with_capacity(dw * channels);
        for &(s, w0, w1) in &xs {
            let s1 = (s + 1).min(sw - 1);
            for c in 0..channels {
                out.push(line[s * channels + c] as i32 * w0 + line[s1 * channels + c] as i32 * w1);
            }
        }
        out
    };
    let mut out = vec![0u8; dw * dh * channels];
    let shift = 2 * COEF_BITS;
    for (d, &(s, w0, w1)) in ys.iter().enumerate() {
        let r0 = hrow(s);
        let r1 = hrow((s + 1).min(sh - 1));
        let dst = &mut out[d * dw * channels..(d + 1) * dw * channels];
        for i in 0..dw * channels {
            let v = (r0[i] as i64 * w0 as i64 + r1[i] as i64 * w1 as i64 + (1i64 << (shift - 1)))
                >> shift;
            dst[i] = v.clamp(0, 255) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
