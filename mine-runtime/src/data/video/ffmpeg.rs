//! Decoding through FFmpeg's libavcodec and libswscale (cargo feature `ffmpeg`): the same
//! libraries MineStudio's PyAV uses, so frames are bit-exact with MineStudio's.

use ffmpeg_next as ff;

use super::demux::demux_mp4;
use super::{RgbFrame, YuvFrame};

fn init() -> Result<(), String> {
    ff::init().map_err(|e| format!("FFmpeg: {e}"))
}

/// Decodes a chunk and hands every picture (display order) to `sink`.
fn decode_frames(
    bytes: &[u8],
    mut sink: impl FnMut(&ff::frame::Video) -> Result<(), String>,
) -> Result<usize, String> {
    init()?;
    let track = demux_mp4(bytes)?;
    let codec =
        ff::codec::decoder::find(ff::codec::Id::H264).ok_or("FFmpeg has no H.264 decoder")?;
    let mut decoder = ff::codec::Context::new_with_codec(codec)
        .decoder()
        .video()
        .map_err(|e| format!("FFmpeg decoder: {e}"))?;
    let mut count = 0usize;
    let mut frame = ff::frame::Video::empty();
    let mut drain = |decoder: &mut ff::decoder::Video, count: &mut usize| -> Result<(), String> {
        while decoder.receive_frame(&mut frame).is_ok() {
            sink(&frame)?;
            *count += 1;
        }
        Ok(())
    };
    for (i, (au, pts)) in track.samples.iter().enumerate() {
        // SPS/PPS travel in band (Annex B) ahead of the first access unit.
        let data = if i == 0 {
            [track.parameter_sets.as_slice(), au].concat()
        } else {
            au.clone()
        };
        let mut packet = ff::Packet::copy(&data);
        packet.set_pts(Some(*pts));
        packet.set_dts(None);
        decoder
            .send_packet(&packet)
            .map_err(|e| format!("access unit {i}: {e}"))?;
        drain(&mut decoder, &mut count)?;
    }
    decoder.send_eof().map_err(|e| format!("flushing: {e}"))?;
    drain(&mut decoder, &mut count)?;
    if count != track.samples.len() {
        return Err(format!(
            "decoded {count} pictures from {} samples",
            track.samples.len()
        ));
    }
    Ok(count)
}

fn plane(frame: &ff::frame::Video, index: usize, width: usize, height: usize) -> Vec<u8> {
    let stride = frame.stride(index);
    let data = frame.data(index);
    (0..height)
        .flat_map(|row| data[row * stride..row * stride + width].iter().copied())
        .collect()
}

/// Decodes a chunk into YUV 4:2:0 pictures.
pub fn decode_yuv(bytes: &[u8]) -> Result<Vec<YuvFrame>, String> {
    let mut out = Vec::new();
    decode_frames(bytes, |f| {
        if f.format() != ff::format::Pixel::YUV420P {
            return Err(format!("unexpected pixel format {:?}", f.format()));
        }
        let (w, h) = (f.width() as usize, f.height() as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        out.push(YuvFrame {
            width: w,
            height: h,
            y: plane(f, 0, w, h),
            u: plane(f, 1, cw, ch),
            v: plane(f, 2, cw, ch),
        });
        Ok(())
    })?;
    Ok(out)
}

/// Decodes a chunk into RGB24 frames with swscale (bilinear flags, as PyAV's `to_ndarray`).
pub fn decode_rgb(bytes: &[u8]) -> Result<Vec<RgbFrame>, String> {
    let mut out = Vec::new();
    let mut scaler: Option<ff::software::scaling::Context> = None;
    decode_frames(bytes, |f| {
        let (w, h) = (f.width(), f.height());
        if scaler.is_none() {
            scaler = Some(
                ff::software::scaling::Context::get(
                    f.format(),
                    w,
                    h,
                    ff::format::Pixel::RGB24,
                    w,
                    h,
                    ff::software::scaling::Flags::BILINEAR,
                )
                .map_err(|e| format!("swscale: {e}"))?,
            );
        }
        let mut rgb = ff::frame::Video::empty();
        scaler
            .as_mut()
            .ok_or("swscale context missing")?
            .run(f, &mut rgb)
            .map_err(|e| format!("swscale: {e}"))?;
        out.push(RgbFrame {
            width: w as usize,
            height: h as usize,
            data: plane(&rgb, 0, w as usize * 3, h as usize),
        });
        Ok(())
    })?;
    Ok(out)
}
