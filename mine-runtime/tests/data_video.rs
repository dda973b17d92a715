//! Image chunks of the fixture decode to the pictures MineStudio's FFmpeg produced.

mod common;

use mine_runtime::data::Location;
use mine_runtime::data::lmdb::LmdbPart;
use mine_runtime::data::video::{decode_chunk_yuv, yuv420_to_rgb};
use sha2::{Digest, Sha256};

fn sha(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    parts.iter().for_each(|p| h.update(p));
    format!("{:x}", h.finalize())
}

/// YUV must match FFmpeg exactly except OpenH264's two known B-frames (a deblocking difference
/// of one level on a few pixels); RGB must match swscale exactly wherever YUV does.
#[test]
fn every_fixture_chunk_decodes_to_the_expected_yuv_and_rgb() {
    let expected = common::expected();
    let (mut total, mut exact) = (0, 0);
    let mut differing = Vec::new();
    for part in ["image/part-2", "image/part-4"] {
        let lmdb = LmdbPart::open(&common::tiny().join(part), "image").unwrap();
        for (key, info) in expected["lmdb"][part]["chunks"].as_object().unwrap() {
            let bytes = lmdb.require(key, &Location::dataset(part)).unwrap();
            let frames = decode_chunk_yuv(&bytes).unwrap();
            let want_yuv = info["frame_yuv420p_sha256"].as_array().unwrap();
            let want_rgb = info["rgb24"]["frame_sha256"].as_array().unwrap();
            assert_eq!(frames.len(), want_yuv.len(), "{part} {key}");
            for (i, f) in frames.iter().enumerate() {
                total += 1;
                let rgb = yuv420_to_rgb(f);
                if sha(&[&f.y, &f.u, &f.v]) == want_yuv[i].as_str().unwrap() {
                    exact += 1;
                    assert_eq!(
                        sha(&[&rgb]),
                        want_rgb[i].as_str().unwrap(),
                        "{part} {key} {i}"
                    );
                } else {
                    differing.push((part, key.clone(), i));
                    let sum: u64 = rgb.iter().map(|&v| v as u64).sum();
                    let want = info["rgb24"]["frame_sum"][i].as_u64().unwrap();
                    assert!(
                        sum.abs_diff(want) < 2000,
                        "{part} {key} {i}: rgb sum {sum} vs {want}"
                    );
                }
            }
        }
    }
    assert_eq!(total, 320);
    let known = vec![
        ("image/part-2", "(1, 96)".to_string(), 1),
        ("image/part-2", "(1, 96)".to_string(), 5),
    ];
    assert_eq!(
        differing, known,
        "only the two known B-frames may differ ({exact} exact)"
    );
}

/// With FFmpeg, every frame matches MineStudio's YUV and RGB exactly.
#[cfg(feature = "ffmpeg")]
#[test]
fn ffmpeg_backend_is_bit_exact_on_every_frame() {
    use mine_runtime::data::video::{VideoBackend, decode_chunk_rgb, ffmpeg};
    let expected = common::expected();
    let mut total = 0;
    for part in ["image/part-2", "image/part-4"] {
        let lmdb = LmdbPart::open(&common::tiny().join(part), "image").unwrap();
        for (key, info) in expected["lmdb"][part]["chunks"].as_object().unwrap() {
            let bytes = lmdb.require(key, &Location::dataset(part)).unwrap();
            let yuv = ffmpeg::decode_yuv(&bytes).unwrap();
            let rgb = decode_chunk_rgb(&bytes, VideoBackend::Ffmpeg).unwrap();
            for (i, (f, r)) in yuv.iter().zip(&rgb).enumerate() {
                assert_eq!(
                    sha(&[&f.y, &f.u, &f.v]),
                    info["frame_yuv420p_sha256"][i].as_str().unwrap(),
                    "{part} {key} {i}"
                );
                assert_eq!(
                    sha(&[&r.data]),
                    info["rgb24"]["frame_sha256"][i].as_str().unwrap(),
                    "{part} {key} {i}"
                );
                total += 1;
            }
        }
    }
    assert_eq!(total, 320);
}
