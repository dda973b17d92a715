//! YUV 4:2:0 to RGB24, BT.601 limited range, with the same integer maths as FFmpeg's swscale.
//!
//! MineStudio converts frames with PyAV's `to_ndarray(format="rgb24")`, i.e. swscale's
//! unscaled `yuv420p -> rgb24` converter. On x86-64 that is the SIMD kernel in
//! `libswscale/x86/yuv_2_rgb.asm`: samples are scaled by 8 and multiplied with 16-bit
//! coefficients keeping the high half (`pmulhw`, a floor). The coefficients below are swscale's
//! BT.601 table (`ff_yuv2rgb_coeffs`) after its `roundToInt16(c * 2^13)` step. Chroma is taken
//! from the 2x2 block's sample, without interpolation.

use super::YuvFrame;
use super::resize::RowSource;
use crate::kernels::isa::{Isa, multiversion};

const Y_COEFF: i32 = 9539; // round(76309 * 2^13 / 2^16): 255/219 in 2.13 fixed point
const Y_OFFSET: i32 = 128; // 16 << 3
const VR_COEFF: i32 = 13075; // 1.596027
const UB_COEFF: i32 = 16525; // 2.017232
const UG_COEFF: i32 = -3209; // -0.391762
const VG_COEFF: i32 = -6660; // -0.812968

/// `pmulhw`: the high 16 bits of a signed 16x16 product (a floor division by 65536).
#[inline(always)]
fn mulhi(a: i32, b: i32) -> i32 {
    (a * b) >> 16
}

multiversion!(convert_rows_imp(frame: &YuvFrame, rows: std::ops::Range<usize>, out: &mut [u8]) => convert_rows);

/// Rows `rows` of `frame` into `out` (one after the other), two pixels (one chroma sample)
/// at a time, in plain arithmetic that the compiler vectorizes.
#[inline(always)]
fn convert_rows(frame: &YuvFrame, rows: std::ops::Range<usize>, out: &mut [u8]) {
    let w = frame.width;
    let cw = w.div_ceil(2);
    let pixel = |yv: u8, u: u8, v: u8, px: &mut [u8]| {
        let yy = mulhi(((yv as i32) << 3) - Y_OFFSET, Y_COEFF);
        let (u, v) = (((u as i32) << 3) - 1024, ((v as i32) << 3) - 1024);
        px[0] = (yy + mulhi(v, VR_COEFF)).clamp(0, 255) as u8;
        px[1] = (yy + mulhi(u, UG_COEFF) + mulhi(v, VG_COEFF)).clamp(0, 255) as u8;
        px[2] = (yy + mulhi(u, UB_COEFF)).clamp(0, 255) as u8;
    };
    for (row, dst) in rows.zip(out.chunks_exact_mut(w * 3)) {
        let yrow = &frame.y[row * w..(row + 1) * w];
        let urow = &frame.u[(row / 2) * cw..][..cw];
        let vrow = &frame.v[(row / 2) * cw..][..cw];
        let pairs = w / 2;
        let (ys, dst2) = (&yrow[..2 * pairs], &mut dst[..6 * pairs]);
        for (c, (px, yy)) in dst2.chunks_exact_mut(6).zip(ys.chunks_exact(2)).enumerate() {
            let (u, v) = (urow[c], vrow[c]);
            let (a, b) = px.split_at_mut(3);
            pixel(yy[0], u, v, a);
            pixel(yy[1], u, v, b);
        }
        if w % 2 == 1 {
            pixel(
                yrow[w - 1],
                urow[cw - 1],
                vrow[cw - 1],
                &mut dst[3 * (w - 1)..],
            );
        }
    }
}

/// A picture converted to RGB24 one row at a time, for a resize that reads only some rows
/// (a 640x360 frame shrunk to 128x128 reads 256 of its 360 rows, and no whole RGB frame is
/// made).
pub(super) struct RgbRows<'a> {
    frame: &'a YuvFrame,
    isa: Isa,
    line: Vec<u8>,
}

impl<'a> RgbRows<'a> {
    /// Rows of `frame`, converted on demand.
    pub(super) fn new(frame: &'a YuvFrame) -> Self {
        Self {
            frame,
            isa: Isa::detect(),
            line: vec![0; frame.width * 3],
        }
    }
}

impl RowSource for RgbRows<'_> {
    fn row(&mut self, y: usize) -> &[u8] {
        convert_rows_imp(self.isa, self.frame, y..y + 1, &mut self.line);
        &self.line
    }
}

/// Converts a picture to interleaved RGB24 (`height * width * 3` bytes).
pub fn yuv420_to_rgb(frame: &YuvFrame) -> Vec<u8> {
    let mut out = vec![0u8; frame.width * frame.height * 3];
    convert_rows_imp(Isa::detect(), frame, 0..frame.height, &mut out);
    out
}
