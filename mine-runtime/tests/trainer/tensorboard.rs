//! TensorBoard event files read back: TFRecord framing, CRCs and the scalar events.

use mine_runtime::metrics::tensorboard::{crc32c, masked_crc32c};
use mine_runtime::metrics::{MetricSink, TensorBoardSink};

use crate::support::{event_scalars, run_dir};

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

    let scalars = event_scalars(sink.path());
    assert_eq!(
        scalars,
        [
            (3, "train/loss".to_owned(), 1.5),
            (3, "train/lr".to_owned(), 1e-4),
            (7, "val/loss".to_owned(), 0.25)
        ]
    );

    // A second sink in the same directory (and second) writes a file of its own.
    let second = TensorBoardSink::create(&dir).unwrap();
    assert_ne!(second.path(), sink.path());
    assert_eq!(
        event_scalars(sink.path()).len(),
        3,
        "the first file is untouched"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
