//! TensorBoard event files with scalar summaries.
//!
//! An event file is a sequence of TFRecords: `u64` length, masked CRC-32C of the length,
//! payload, masked CRC-32C of the payload (all little-endian). Each payload is an `Event`
//! protocol buffer: the first holds `file_version = "brain.Event:2"`, the others a wall time,
//! a step and a `Summary` with one `simple_value` per tag. Only the few protobuf fields
//! needed are encoded, by hand, and read back ([`truncate_after_step`]).

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{MetricSink, MetricsError, wall_time};

/// How the name of every event file starts.
pub const EVENT_FILE_PREFIX: &str = "events.out.tfevents.";

/// Whether `name` is the name of an event file.
pub fn is_event_file_name(name: &str) -> bool {
    name.starts_with(EVENT_FILE_PREFIX)
}

/// Writes scalars to `events.out.tfevents.<time>.<host>.<pid>` in a directory (with `.<n>`
/// appended when a file of that name exists: a second sink of the same process and second).
#[derive(Debug)]
pub struct TensorBoardSink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl TensorBoardSink {
    /// Creates a new event file in `dir` (created if missing); never reopens an existing one.
    pub fn create(dir: &Path) -> Result<Self, MetricsError> {
        let fail = |path: &Path, cause| MetricsError {
            path: path.to_owned(),
            cause,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(dir, e))?;
        let host = hostname();
        let secs = wall_time() as u64;
        let base = format!("{EVENT_FILE_PREFIX}{secs}.{host}.{}", std::process::id());
        let mut n = 0;
        let (path, file) = loop {
            let name = if n == 0 {
                base.clone()
            } else {
                format!("{base}.{n}")
            };
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => break (path, file),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(fail(&path, e)),
            }
        };
        let mut sink = Self {
            path,
            out: BufWriter::new(file),
        };
        let header = encode_event(wall_time(), 0, EventBody::FileVersion("brain.Event:2"));
        sink.write_record(&header)?;
        sink.flush()?;
        Ok(sink)
    }

    /// The event file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn write_record(&mut self, payload: &[u8]) -> Result<(), MetricsError> {
        let framed = frame_record(payload);
        self.out.write_all(&framed).map_err(|cause| MetricsError {
            path: self.path.clone(),
            cause,
        })
    }
}

impl MetricSink for TensorBoardSink {
    fn record(&mut self, step: u64, values: &[(String, f64)]) -> Result<(), MetricsError> {
        let time = wall_time();
        for (tag, value) in values {
            let event = encode_event(time, step as i64, EventBody::Scalar(tag, *value as f32));
            self.write_record(&event)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), MetricsError> {
        self.out.flush().map_err(|cause| MetricsError {
            path: self.path.clone(),
            cause,
        })
    }
}

fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// What an event carries besides its time and step.
pub enum EventBody<'a> {
    /// The file header.
    FileVersion(&'a str),
    /// One scalar summary: tag and value.
    Scalar(&'a str, f32),
}

/// Encodes an `Event` message (`wall_time = 1`, `step = 2`, `file_version = 3`, `summary = 5`).
pub fn encode_event(wall_time: f64, step: i64, body: EventBody<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(0x09); // field 1, 64-bit
    out.extend_from_slice(&wall_time.to_le_bytes());
    out.push(0x10); // field 2, varint
    put_varint(&mut out, step as u64);
    match body {
        EventBody::FileVersion(version) => {
            out.push(0x1a); // field 3, length-delimited
            put_bytes(&mut out, version.as_bytes());
        }
        EventBody::Scalar(tag, value) => {
            // Summary.Value: tag = 1 (string), simple_value = 2 (float).
            let mut summary_value = Vec::with_capacity(tag.len() + 8);
            summary_value.push(0x0a);
            put_bytes(&mut summary_value, tag.as_bytes());
            summary_value.push(0x15);
            summary_value.extend_from_slice(&value.to_le_bytes());
            // Summary: value = 1 (repeated message).
            let mut summary = Vec::with_capacity(summary_value.len() + 2);
            summary.push(0x0a);
            put_bytes(&mut summary, &summary_value);
            out.push(0x2a); // field 5, length-delimited
            put_bytes(&mut out, &summary);
        }
    }
    out
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The step of an encoded `Event` (field 2), if it has one.
pub fn event_step(event: &[u8]) -> Option<i64> {
    let mut pos = 0;
    while pos < event.len() {
        let key = get_varint(event, &mut pos)?;
        match key & 7 {
            0 => {
                let value = get_varint(event, &mut pos)?;
                if key >> 3 == 2 {
                    return Some(value as i64);
                }
            }
            1 => pos += 8,
            2 => pos += get_varint(event, &mut pos)? as usize,
            5 => pos += 4,
            _ => return None,
        }
    }
    None
}

fn get_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

/// The complete TFRecords of `bytes` with valid CRCs, as `(offset, payload)`; stops at the
/// first record cut short or damaged (the tail a crash can leave).
pub fn read_records(bytes: &[u8]) -> Vec<(usize, &[u8])> {
    let mut records = Vec::new();
    let mut pos = 0;
    while let Some(header) = bytes.get(pos..pos + 12) {
        let (len_bytes, len_crc) = header.split_at(8);
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        if u32::from_le_bytes(len_crc.try_into().expect("4 bytes")) != masked_crc32c(len_bytes) {
            break;
        }
        let Some(end) = usize::try_from(len)
            .ok()
            .and_then(|l| (pos + 12).checked_add(l))
        else {
            break;
        };
        let (Some(payload), Some(crc)) = (bytes.get(pos + 12..end), bytes.get(end..end + 4)) else {
            break;
        };
        if u32::from_le_bytes(crc.try_into().expect("4 bytes")) != masked_crc32c(payload) {
            break;
        }
        records.push((pos, payload));
        pos = end + 4;
    }
    records
}

/// Cuts the event file at `path` before its first event of a step after `step` (and before a
/// damaged tail); for checkpoints that did not record the file's length.
pub fn truncate_after_step(path: &Path, step: u64) -> Result<(), MetricsError> {
    let fail = |cause| MetricsError {
        path: path.to_owned(),
        cause,
    };
    let bytes = std::fs::read(path).map_err(fail)?;
    let records = read_records(&bytes);
    let valid_end = records
        .last()
        .map_or(0, |(offset, payload)| offset + payload.len() + 16);
    let keep = records
        .iter()
        .find(|(_, payload)| event_step(payload).is_some_and(|s| s > step as i64))
        .map_or(valid_end, |(offset, _)| *offset);
    if keep < bytes.len() {
        let file = OpenOptions::new().write(true).open(path).map_err(fail)?;
        file.set_len(keep as u64).map_err(fail)?;
    }
    Ok(())
}

/// Frames a payload as a TFRecord.
pub fn frame_record(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u64).to_le_bytes();
    let mut out = Vec::with_capacity(payload.len() + 16);
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&masked_crc32c(payload).to_le_bytes());
    out
}

/// TFRecord's masked CRC: the CRC-32C rotated right by 15 bits plus `0xa282ead8`.
pub fn masked_crc32c(data: &[u8]) -> u32 {
    let crc = crc32c(data);
    crc.rotate_right(15).wrapping_add(0xa282_ead8)
}

/// CRC-32C (Castagnoli, reflected polynomial `0x82f63b78`).
///
/// ```
/// assert_eq!(mine_runtime::metrics::tensorboard::crc32c(b"123456789"), 0xe306_9283);
/// ```
pub fn crc32c(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut table = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut crc = i as u32;
            let mut bit = 0;
            while bit < 8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0x82f6_3b78
                } else {
                    crc >> 1
                };
                bit += 1;
            }
            table[i] = crc;
            i += 1;
        }
        table
    };
    let mut crc = !0u32;
    for &byte in data {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}
