//! One JSON object per line: `{"step": 20, "wall_time": 1.7e9, "train/loss": 2.5, ...}`.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::{MetricSink, MetricsError, wall_time};

/// Appends metrics to a JSON-lines file (a resumed run appends to the same file). Non-finite
/// values are written as `null`.
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    out: BufWriter<File>,
}

impl JsonlSink {
    /// Opens (creating or appending to) `path`.
    pub fn open(path: &Path) -> Result<Self, MetricsError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|cause| MetricsError {
                path: path.to_owned(),
                cause,
            })?;
        Ok(Self {
            path: path.to_owned(),
            out: BufWriter::new(file),
        })
    }

    fn error(&self, cause: std::io::Error) -> MetricsError {
        MetricsError {
            path: self.path.clone(),
            cause,
        }
    }
}

impl MetricSink for JsonlSink {
    fn record(&mut self, step: u64, values: &[(String, f64)]) -> Result<(), MetricsError> {
        let mut line = serde_json::Map::new();
        line.insert("step".into(), step.into());
        line.insert("wall_time".into(), wall_time().into());
        for (name, value) in values {
            line.insert(name.clone(), (*value).into());
        }
        let text = serde_json::Value::Object(line).to_string();
        writeln!(self.out, "{text}").map_err(|e| self.error(e))
    }

    fn flush(&mut self) -> Result<(), MetricsError> {
        self.out.flush().map_err(|e| self.error(e))
    }
}
