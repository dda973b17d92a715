//! Encoding RGB frames into a standalone H.264 MP4 chunk (bundled OpenH264 encoder).

use std::io::Cursor;

use mp4::{AvcConfig, MediaConfig, Mp4Config, Mp4Sample, Mp4Writer, TrackConfig, TrackType};
use openh264::OpenH264API;
use openh264::encoder::{BitRate, Encoder, EncoderConfig, FrameRate, QpRange, RateControlMode};
use openh264::formats::{RgbSliceU8, YUVBuffer};

/// Media time units per second (MineStudio's chunks use 1/10240).
const TIMESCALE: u32 = 10240;

/// Splits an Annex B stream into NAL units (without start codes).
fn nal_units(stream: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= stream.len() {
        if stream[i] == 0 && stream[i + 1] == 0 && stream[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut out = Vec::with_capacity(starts.len());
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).map_or(stream.len(), |&n| n - 3);
        while end > s && stream[end - 1] == 0 && k + 1 < starts.len() {
            end -= 1;
        }
        if end > s {
            out.push(&stream[s..end]);
        }
    }
    out
}

/// Encodes `frames` (RGB24, `width x height`, all the same size) at `fps` into an MP4 file
/// whose first frame is an IDR picture, so the chunk decodes on its own.
pub fn encode_mp4_chunk(
    frames: &[Vec<u8>],
    width: usize,
    height: usize,
    fps: u32,
) -> Result<Vec<u8>, String> {
    if frames.is_empty() {
        return Err("no frames to encode".into());
    }
    if !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(format!(
            "{width}x{height}: H.264 4:2:0 needs even dimensions"
        ));
    }
    let config = EncoderConfig::new()
        .bitrate(BitRate::from_bps(2_500_000))
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        // Constant quality (no rate control): every frame is kept, none is skipped.
        .rate_control_mode(RateControlMode::Off)
        .qp(QpRange::new(18, 24))
        .skip_frames(false);
    let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
        .map_err(|e| format!("cannot start the H.264 encoder: {e}"))?;
    let mut sps = None;
    let mut pps = None;
    let mut samples = Vec::with_capacity(frames.len());
    for (i, rgb) in frames.iter().enumerate() {
        if rgb.len() != width * height * 3 {
            return Err(format!(
                "frame {i} has {} bytes, expected {}",
                rgb.len(),
                width * height * 3
            ));
        }
        let yuv = YUVBuffer::from_rgb_source(RgbSliceU8::new(rgb, (width, height)));
        let bitstream = encoder
            .encode(&yuv)
            .map_err(|e| format!("frame {i}: {e}"))?;
        let annex_b = bitstream.to_vec();
        let mut sample = Vec::with_capacity(annex_b.len());
        let mut is_sync = false;
        for nal in nal_units(&annex_b) {
            match nal[0] & 0x1f {
                7 => sps = Some(nal.to_vec()),
                8 => pps = Some(nal.to_vec()),
                t => {
                    is_sync |= t == 5;
                    sample.extend_from_slice(&(nal.len() as u32).to_be_bytes());
                    sample.extend_from_slice(nal);
                }
            }
        }
        if sample.is_empty() {
            return Err(format!("the encoder produced no picture for frame {i}"));
        }
        samples.push((sample, is_sync));
    }
    let (Some(sps), Some(pps)) = (sps, pps) else {
        return Err("the encoder produced no SPS/PPS".into());
    };
    let mp4_err = |e: mp4::Error| format!("MP4 muxing: {e}");
    let mp4_config = Mp4Config {
        major_brand: str::parse("isom").map_err(mp4_err)?,
        minor_version: 512,
        compatible_brands: ["isom", "iso2", "avc1", "mp41"]
            .iter()
            .map(|b| str::parse(b))
            .collect::<Result<_, _>>()
            .map_err(mp4_err)?,
        timescale: 1000,
    };
    let mut writer =
        Mp4Writer::write_start(Cursor::new(Vec::new()), &mp4_config).map_err(mp4_err)?;
    writer
        .add_track(&TrackConfig {
            track_type: TrackType::Video,
            timescale: TIMESCALE,
            language: "und".into(),
            media_conf: MediaConfig::AvcConfig(AvcConfig {
                width: width as u16,
                height: height as u16,
                seq_param_set: sps,
                pic_param_set: pps,
            }),
        })
        .map_err(mp4_err)?;
    let duration = TIMESCALE / fps.max(1);
    for (i, (bytes, is_sync)) in samples.into_iter().enumerate() {
        writer
            .write_sample(
                1,
                &Mp4Sample {
                    start_time: i as u64 * duration as u64,
                    duration,
                    rendering_offset: 0,
                    is_sync,
                    bytes: bytes.into(),
                },
            )
            .map_err(mp4_err)?;
    }
    writer.write_end().map_err(mp4_err)?;
    Ok(writer.into_writer().into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::video::{decode_chunk_yuv, yuv420_to_rgb};

    #[test]
    fn encoded_chunk_decodes_to_the_same_number_of_similar_frames() {
        let (w, h) = (64, 48);
        let frames: Vec<Vec<u8>> = (0..12)
            .map(|t| {
                (0..w * h)
                    .flat_map(|p| {
                        let (x, y) = (p % w, p / w);
                        [(x * 4) as u8, (y * 5) as u8, (t * 20) as u8]
                    })
                    .collect()
            })
            .collect();
        let chunk = encode_mp4_chunk(&frames, w, h, 20).unwrap();
        let decoded = decode_chunk_yuv(&chunk).unwrap();
        assert_eq!(decoded.len(), 12);
        for (f, want) in decoded.iter().zip(&frames) {
            let rgb = yuv420_to_rgb(f);
            let err: f64 = rgb
                .iter()
                .zip(want)
                .map(|(&a, &b)| (a as f64 - b as f64).abs())
                .sum::<f64>()
                / rgb.len() as f64;
            assert!(err < 6.0, "mean abs error {err}");
        }
    }
}
