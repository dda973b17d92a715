//! Image chunks: MP4 demuxing, H.264 decoding, YUV to RGB conversion and resizing.

mod color;
mod demux;
mod encode;
#[cfg(feature = "ffmpeg")]
pub mod ffmpeg;
mod h264;
mod resize;

pub use color::yuv420_to_rgb;
pub use demux::{Demuxed, demux_mp4};
pub use encode::encode_mp4_chunk;
pub use h264::{decode_h264, decode_h264_each};
pub use resize::resize_bilinear;

/// One decoded picture in planar YUV 4:2:0 without row padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct YuvFrame {
    /// Luma width in pixels.
    pub width: usize,
    /// Luma height in pixels.
    pub height: usize,
    /// `width * height` luma samples.
    pub y: Vec<u8>,
    /// `ceil(width/2) * ceil(height/2)` Cb samples.
    pub u: Vec<u8>,
    /// `ceil(width/2) * ceil(height/2)` Cr samples.
    pub v: Vec<u8>,
}

/// Which decoder turns H.264 chunks into pictures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoBackend {
    /// The bundled OpenH264 decoder (no system libraries). Matches FFmpeg bit-exactly on all but
    /// rare B-frames, where deblocking may differ by one level on a few pixels.
    #[default]
    Openh264,
    /// FFmpeg's libavcodec/libswscale (cargo feature `ffmpeg`): bit-exact with MineStudio.
    Ffmpeg,
}

/// Decodes one MP4 chunk into RGB24 frames (`height * width * 3` bytes each), display order.
pub fn decode_chunk_rgb(bytes: &[u8], backend: VideoBackend) -> Result<Vec<RgbFrame>, String> {
    match backend {
        VideoBackend::Openh264 => {
            let frames = decode_chunk_yuv(bytes)?;
            Ok(frames
                .iter()
                .map(|f| RgbFrame {
                    width: f.width,
                    height: f.height,
                    data: yuv420_to_rgb(f),
                })
                .collect())
        }
        #[cfg(feature = "ffmpeg")]
        VideoBackend::Ffmpeg => ffmpeg::decode_rgb(bytes),
        #[cfg(not(feature = "ffmpeg"))]
        VideoBackend::Ffmpeg => Err(
            "the `ffmpeg` video backend needs mine-runtime built with `--features ffmpeg`".into(),
        ),
    }
}

/// Decodes one MP4 chunk into RGB24 frames of `width x height` (resized like
/// `cv2.resize(..., INTER_LINEAR)` when the video's size differs), display order. With the
/// bundled decoder, only the rows the resize reads are converted to RGB.
pub fn decode_chunk_sized(
    bytes: &[u8],
    backend: VideoBackend,
    (width, height): (usize, usize),
) -> Result<Vec<Vec<u8>>, String> {
    let same = |w: usize, h: usize| (w, h) == (width, height);
    Ok(match backend {
        VideoBackend::Openh264 => decode_chunk_yuv(bytes)?
            .iter()
            .map(|f| match same(f.width, f.height) {
                true => yuv420_to_rgb(f),
                false => resize::resize_rows(
                    &mut color::RgbRows::new(f),
                    (f.width, f.height),
                    (width, height),
                    3,
                ),
            })
            .collect(),
        _ => decode_chunk_rgb(bytes, backend)?
            .into_iter()
            .map(|f| match same(f.width, f.height) {
                true => f.data,
                false => resize_bilinear(&f.data, (f.width, f.height), (width, height), 3),
            })
            .collect(),
    })
}

/// Decodes one MP4 chunk into YUV pictures in display order with the bundled decoder.
pub fn decode_chunk_yuv(bytes: &[u8]) -> Result<Vec<YuvFrame>, String> {
    let demuxed = demux_mp4(bytes)?;
    decode_h264(&demuxed)
}

/// An RGB24 picture, rows top to bottom, no padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `height * width * 3` bytes.
    pub data: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A picture with every sample distinct enough to catch a misplaced row or chroma sample.
    fn picture(width: usize, height: usize) -> YuvFrame {
        let (cw, ch) = (width.div_ceil(2), height.div_ceil(2));
        let plane = |n: usize, k: usize| (0..n).map(|i| ((i * k + i / 7) % 256) as u8).collect();
        YuvFrame {
            width,
            height,
            y: plane(width * height, 37),
            u: plane(cw * ch, 53),
            v: plane(cw * ch, 91),
        }
    }

    #[test]
    fn resizing_converted_rows_equals_resizing_the_whole_rgb_frame() {
        for ((sw, sh), dst) in [
            ((640, 360), (128, 128)),
            ((41, 31), (16, 12)),
            ((20, 10), (45, 23)),
        ] {
            let f = picture(sw, sh);
            let whole = resize_bilinear(&yuv420_to_rgb(&f), (sw, sh), dst, 3);
            let rows = resize::resize_rows(&mut color::RgbRows::new(&f), (sw, sh), dst, 3);
            assert_eq!(rows, whole, "{sw}x{sh} -> {dst:?}");
        }
    }
}
