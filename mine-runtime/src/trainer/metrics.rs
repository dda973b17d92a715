//! Metric sinks: one JSON object per line in `metrics.jsonl`, and `tracing` log lines.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One logged record: a step, a stage and named values.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct MetricRecord {
    /// Optimizer steps taken when the values were logged.
    pub step: u64,
    /// `train` or `val`.
    pub stage: String,
    /// Values by name, prefixed with the stage (`train/loss`, `val/kl_div`, `train/lr`, ...).
    pub values: BTreeMap<String, f64>,
}

/// Appends metric records to `<run dir>/metrics.jsonl` (flushed after every record, so a crash
/// loses nothing logged) and mirrors them to `tracing`.
pub struct JsonlSink {
    path: PathBuf,
    file: BufWriter<File>,
}

impl JsonlSink {
    /// Opens (appending: a resumed run continues the same file) `dir/metrics.jsonl`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let path = dir.join("metrics.jsonl");
        let file = File::options().create(true).append(true).open(&path)?;
        Ok(Self {
            path,
            file: BufWriter::new(file),
        })
    }

    /// The file written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes one record.
    pub fn write(&mut self, record: &MetricRecord) -> std::io::Result<()> {
        let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
        writeln!(self.file, "{line}")?;
        self.file.flush()?;
        let values: Vec<String> = record
            .values
            .iter()
            .map(|(k, v)| format!("{k}={v:.6}"))
            .collect();
        tracing::info!(step = record.step, stage = %record.stage, "{}", values.join(" "));
        Ok(())
    }
}

/// Reads every record of a `metrics.jsonl` file.
pub fn read_metrics(path: &Path) -> std::io::Result<Vec<MetricRecord>> {
    std::fs::read_to_string(path)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(std::io::Error::other))
        .collect()
}

/// Running means of metric values over a validation pass (or a logging window).
#[derive(Clone, Debug, Default)]
pub struct MeanAccumulator {
    sums: BTreeMap<String, (f64, u64)>,
}

impl MeanAccumulator {
    /// Adds one batch's values.
    pub fn add(&mut self, values: &BTreeMap<String, f64>) {
        for (k, v) in values {
            let entry = self.sums.entry(k.clone()).or_insert((0.0, 0));
            entry.0 += v;
            entry.1 += 1;
        }
    }

    /// The means so far, with names prefixed by `stage/`; empties the accumulator.
    pub fn take(&mut self, stage: &str) -> BTreeMap<String, f64> {
        std::mem::take(&mut self.sums)
            .into_iter()
            .map(|(k, (sum, n))| (format!("{stage}/{k}"), sum / n as f64))
            .collect()
    }

    /// Whether nothing was added since the last `take`.
    pub fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }
}
