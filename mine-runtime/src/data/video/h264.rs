//! H.264 decoding with the bundled OpenH264.

use openh264::OpenH264API;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;

use super::YuvFrame;
use super::demux::Demuxed;

fn copy_planes(pic: &DecodedYUV<'_>) -> YuvFrame {
    let (w, h) = pic.dimensions();
    let (sy, su, sv) = pic.strides();
    let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
    let plane = |src: &[u8], stride: usize, pw: usize, ph: usize| {
        let mut out = Vec::with_capacity(pw * ph);
        for row in 0..ph {
            out.extend_from_slice(&src[row * stride..row * stride + pw]);
        }
        out
    };
    YuvFrame {
        width: w,
        height: h,
        y: plane(pic.y(), sy, w, h),
        u: plane(pic.u(), su, cw, ch),
        v: plane(pic.v(), sv, cw, ch),
    }
}

/// Decodes a demuxed track; frames come back in display order.
///
/// OpenH264 must not flush after every access unit (that drops B-frames); it decodes with
/// `Flush::NoFlush` and is drained once at the end. The decoder reorders pictures itself;
/// the count is checked against the container's sample count so that a frame lost to a
/// corrupt stream is an error, never a silently shorter chunk.
pub fn decode_h264(track: &Demuxed) -> Result<Vec<YuvFrame>, String> {
    let mut frames = Vec::with_capacity(track.samples.len());
    decode_h264_each(track, |f| {
        frames.push(f);
        Ok(())
    })?;
    Ok(frames)
}

/// Like [`decode_h264`], handing each picture to `sink` as soon as it is out (bounded memory
/// for long recordings). `sink` errors stop decoding.
pub fn decode_h264_each(
    track: &Demuxed,
    mut sink: impl FnMut(YuvFrame) -> Result<(), String>,
) -> Result<(), String> {
    let sink = std::panic::AssertUnwindSafe(&mut sink);
    std::panic::catch_unwind(move || {
        let sink = sink;
        decode_inner(track, sink.0)
    })
    .unwrap_or_else(|_| Err("H.264 decoder panicked".into()))
}

fn decode_inner(
    track: &Demuxed,
    sink: &mut dyn FnMut(YuvFrame) -> Result<(), String>,
) -> Result<(), String> {
    let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
    let mut decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| format!("cannot start the H.264 decoder: {e}"))?;
    let mut count = 0usize;
    let mut emit = |f: YuvFrame| -> Result<(), String> {
        if f.width != track.width || f.height != track.height {
            return Err(format!(
                "picture is {}x{}, the container says {}x{}",
                f.width, f.height, track.width, track.height
            ));
        }
        count += 1;
        sink(f)
    };
    decoder
        .decode(&track.parameter_sets)
        .map_err(|e| format!("parameter sets: {e}"))?;
    for (i, (au, _)) in track.samples.iter().enumerate() {
        let pic = decoder
            .decode(au)
            .map_err(|e| format!("access unit {i}: {e}"))?;
        if let Some(pic) = pic {
            emit(copy_planes(&pic))?;
        }
    }
    let rest = decoder
        .flush_remaining()
        .map_err(|e| format!("flushing: {e}"))?;
    for pic in &rest {
        emit(copy_planes(pic))?;
    }
    if count != track.samples.len() {
        return Err(format!(
            "decoded {count} pictures from {} samples",
            track.samples.len()
        ));
    }
    Ok(())
}
