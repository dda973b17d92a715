//! Where metrics go: sinks (a JSONL file, TensorBoard event files), running means, and the
//! progress display.
//!
//! Every logged value is a `(name, value)` pair at an optimizer step: names are
//! `train/<key>` and `val/<key>` for the objectives' metrics, `train/lr` for the learning rate
//! and `train/batches_per_sec`, `train/frames_per_sec` for the speed.
//!
//! A run directory holds [`METRICS_FILE`] and the event files of [`TENSORBOARD_DIR`]; a full
//! checkpoint records where they stood ([`MetricsMark`]) so that a resumed run cuts them back
//! there and logs every step once ([`rewind`]).

mod jsonl;
mod mean;
pub mod plot;
mod progress;
pub mod rewind;
pub mod tensorboard;

use std::path::PathBuf;

pub use jsonl::JsonlSink;
pub use mean::MeanWindow;
pub use progress::Progress;
pub use rewind::{EventFileMark, MetricsMark};
pub use tensorboard::TensorBoardSink;

/// File of a run directory holding one JSON object per logged step.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Directory of a run directory holding the TensorBoard event files.
pub const TENSORBOARD_DIR: &str = "tensorboard";

/// A metric sink could not write.
#[derive(Debug, thiserror::Error)]
#[error("cannot write metrics to {path}: {cause}")]
pub struct MetricsError {
    /// The file.
    pub path: PathBuf,
    /// What the system reported.
    pub cause: std::io::Error,
}

/// A destination for scalar metrics.
pub trait MetricSink: Send {
    /// Records `values` at optimizer step `step`.
    fn record(&mut self, step: u64, values: &[(String, f64)]) -> Result<(), MetricsError>;

    /// Makes everything recorded so far readable by other programs.
    fn flush(&mut self) -> Result<(), MetricsError> {
        Ok(())
    }
}

/// Seconds since the Unix epoch, as TensorBoard and the JSONL file record wall time.
pub(crate) fn wall_time() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The process's peak resident memory in MiB (`VmHWM` of `/proc/self/status`), where the
/// platform reports it; for benchmarks.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
