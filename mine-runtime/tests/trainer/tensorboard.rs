//! TensorBoard event files read back: TFRecord framing, CRCs and the scalar events.

use mine_runtime::metrics::tensorboard::{crc32c, masked_crc32c};
use mine_runtime::metrics::{MetricSink, TensorBoardSink};

use crate::support::run_dir;

fn varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = bytes[*pos];
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

/// The (tag, value) of a Summary message.
fn summary_values(bytes: &[u8]) -> Vec<(String, f32)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        assert_eq!(bytes[pos], 0x0a, "Summary.value");
        pos += 1;
        let len = varint(bytes, &mut pos) as usize;
        let value = &bytes[pos..pos + len];
        pos += len;
        let (mut tag, mut number) = (String::new(), f32::NAN);
        let mut p = 0;
        while p < value.len() {
            let key = value[p];
            p += 1;
            match key {
                0x0a => {
                    let l = varint(value, &mut p) as usize;
                    tag = String::from_utf8(value[p..p + l].to_vec()).unwrap();
                    p += l;
                }
                0x15 => {
                    number = f32::from_le_bytes(value[p..p + 4].try_into().unwrap());
                    p += 4;
                }
                other => panic!("unexpected field {other:#x}"),
            }
        }
        out.push((tag, number));
    }
    out
}

#[test]
fn crc32c_matches_the_standard_check_value() {
    assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    assert_eq!(crc32c(b""), 0);
    // TFRecord's mask of the CRC of an empty string.
    assert_eq!(masked_crc32c(b""), 0xa282_ead8);
}

#[test]
fn event_files_hold_framed_scalar_events() {
    let dir = run_dir("tensorboard");
    let mut sink = TensorBoardSink::create(&dir).unwrap();
    sink.record(3, &[("train/loss".into(), 1.5), ("train/lr".into(), 1e-4)])
        .unwrap();
    sink.record(7, &[("val/loss".into(), 0.25)]).unwrap();
    sink.flush().unwrap();
    let name = sink
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.starts_with("events.out.tfevents."), "{name}");

    let bytes = std::fs::read(sink.path()).unwrap();
    let mut pos = 0;
    let mut events = Vec::new();
    while pos < bytes.len() {
        let len_bytes = &bytes[pos..pos + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        assert_eq!(len_crc, masked_crc32c(len_bytes));
        let payload = &bytes[pos + 12..pos + 12 + len];
        let crc = u32::from_le_bytes(bytes[pos + 12 + len..pos + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked_crc32c(payload));
        events.push(payload.to_vec());
        pos += 16 + len;
    }
    assert_eq!(events.len(), 4, "header + 3 scalars");
    assert!(events[0].windows(13).any(|w| w == b"brain.Event:2"));

    let mut scalars = Vec::new();
    for event in &events[1..] {
        let mut p = 0;
        assert_eq!(event[p], 0x09);
        let wall_time = f64::from_le_bytes(event[1..9].try_into().unwrap());
        assert!(wall_time > 1.6e9);
        p += 9;
        assert_eq!(event[p], 0x10);
        p += 1;
        let step = varint(event, &mut p);
        assert_eq!(event[p], 0x2a);
        p += 1;
        let len = varint(event, &mut p) as usize;
        for (tag, value) in summary_values(&event[p..p + len]) {
            scalars.push((step, tag, value));
        }
    }
    assert_eq!(
        scalars,
        [
            (3, "train/loss".to_owned(), 1.5),
            (3, "train/lr".to_owned(), 1e-4),
            (7, "val/loss".to_owned(), 0.25)
        ]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
