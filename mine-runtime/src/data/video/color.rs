//! YUV 4:2:0 to RGB24, BT.601 limited range, with the same integer maths as FFmpeg's swscale.
//!
//! MineStudio converts frames with PyAV's `to_ndarray(format="rgb24")`, i.e. swscale's
//! unscaled `yuv420p -> rgb24` converter. On x86-64 that is the SIMD kernel in
//! `libswscale/x86/yuv_2_rgb.asm`: samples are scaled by 8 and multiplied with 16-bit
//! coefficients keeping the high half (`pmulhw`, a floor). The coefficients below are swscale's
//! BT.601 table (`ff_yuv2rgb_coeffs`) after its `roundToInt16(c * 2^13)` step. Chroma is taken
//! from the 2x2 block's sample, without interpolation.

use super::YuvFrame;

const Y_COEFF: i32 = 9539; // round(76309 * 2^13 / 2^16): 255/219 in 2.13 fixed point
const Y_OFFSET: i32 = 128; // 16 << 3
const VR_COEFF: i32 = 13075; // 1.596027
const UB_COEFF: i32 = 16525; // 2.017232
const UG_COEFF: i32 = -3209; // -0.391762
const VG_COEFF: i32 = -6660; // -0.812968

/// `pmulhw`: the high 16 bits of a signed 16x16 product (a floor division by 65536).
#[inline]
fn mulhi(a: i32, b: i32) -> i32 {
    (a * b) >> 16
}

/// Converts a picture to interleaved RGB24 (`height * width * 3` bytes).
pub fn yuv420_to_rgb(frame: &YuvFrame) -> Vec<u8> {
    let (w, h) = (frame.width, frame.height);
    let cw = w.div_ceil(2);
    let mut out = vec![0u8; w * h * 3];
    // Chroma terms depend on one byte each: tabulate them.
    let chroma = |coeff: i32| -> [i32; 256] {
        std::array::from_fn(|c| mulhi(((c as i32) << 3) - 1024, coeff))
    };
    let (vr, ub, ug, vg) = (
        chroma(VR_COEFF),
        chroma(UB_COEFF),
        chroma(UG_COEFF),
        chroma(VG_COEFF),
    );
    let luma: [i32; 256] = std::array::from_fn(|y| mulhi(((y as i32) << 3) - Y_OFFSET, Y_COEFF));
    for row in 0..h {
        let yrow = &frame.y[row * w..(row + 1) * w];
        let crow = (row / 2) * cw;
        let dst = &mut out[row * w * 3..(row + 1) * w * 3];
        for (x, (px, &yv)) in dst.chunks_exact_mut(3).zip(yrow).enumerate() {
            let yy = luma[yv as usize];
            let u = frame.u[crow + x / 2] as usize;
            let v = frame.v[crow + x / 2] as usize;
            px[0] = (yy + vr[v]).clamp(0, 255) as u8;
            px[1] = (yy + ug[u] + vg[v]).clamp(0, 255) as u8;
            px[2] = (yy + ub[u]).clamp(0, 255) as u8;
        }
    }
    out
}
