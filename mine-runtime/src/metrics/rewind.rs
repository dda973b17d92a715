//! Cutting a run directory's metric files back to where a checkpoint left them, so that a
//! run resumed from that checkpoint logs every step exactly once.
//!
//! A full checkpoint records a [`MetricsMark`]: the byte length of `metrics.jsonl` and of each
//! TensorBoard event file when it was written (after flushing the sinks). Resuming truncates
//! them to those lengths and removes the event files created since, which drops exactly what
//! was logged after the checkpoint, whatever the order of training logs, validations and saves
//! within a step. Checkpoints written before marks existed fall back to [`rewind_to_step`].

use std::fs::{self, OpenOptions};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::tensorboard::{is_event_file_name, truncate_after_step};
use super::{METRICS_FILE, MetricsError, TENSORBOARD_DIR};

/// Where the metric files of a run directory stood when a checkpoint was written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsMark {
    /// Bytes of `metrics.jsonl` (0 if there was none).
    pub metrics_len: u64,
    /// Every event file of `tensorboard/` and its length (the file being written among them).
    pub event_files: Vec<EventFileMark>,
}

/// One TensorBoard event file's name and length.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventFileMark {
    /// File name inside `tensorboard/`.
    pub name: String,
    /// Bytes.
    pub len: u64,
}

fn error(path: &Path) -> impl Fn(std::io::Error) -> MetricsError + '_ {
    move |cause| MetricsError {
        path: path.to_owned(),
        cause,
    }
}

/// The event files of `run_dir/tensorboard` with their lengths, by name.
fn event_files(run_dir: &Path) -> Result<Vec<EventFileMark>, MetricsError> {
    let dir = run_dir.join(TENSORBOARD_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(error(&dir)(e)),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(error(&dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_event_file_name(&name) {
            let len = entry.metadata().map_err(error(&entry.path()))?.len();
            files.push(EventFileMark { name, len });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

fn len_or_zero(path: &Path) -> Result<u64, MetricsError> {
    match fs::metadata(path) {
        Ok(meta) => Ok(meta.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(error(path)(e)),
    }
}

/// Truncates `path` to `len` bytes; a file shorter than that (edited since) is left alone.
fn truncate(path: &Path, len: u64) -> Result<(), MetricsError> {
    let actual = len_or_zero(path)?;
    if actual < len {
        tracing::warn!(
            path = %path.display(),
            bytes = actual,
            recorded = len,
            "a metrics file is shorter than when the checkpoint was written: left as it is"
        );
    } else if actual > len {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(error(path))?;
        file.set_len(len).map_err(error(path))?;
        file.sync_all().map_err(error(path))?;
    }
    Ok(())
}

impl MetricsMark {
    /// Where the metric files of `run_dir` stand now (flush the sinks first).
    pub fn measure(run_dir: &Path) -> Result<Self, MetricsError> {
        Ok(Self {
            metrics_len: len_or_zero(&run_dir.join(METRICS_FILE))?,
            event_files: event_files(run_dir)?,
        })
    }

    /// Cuts the metric files of `run_dir` back to this mark: `metrics.jsonl` and every
    /// recorded event file truncated to their recorded lengths, event files created since
    /// removed.
    pub fn rewind(&self, run_dir: &Path) -> Result<(), MetricsError> {
        truncate(&run_dir.join(METRICS_FILE), self.metrics_len)?;
        let dir = run_dir.join(TENSORBOARD_DIR);
        for file in event_files(run_dir)? {
            let path = dir.join(&file.name);
            match self.event_files.iter().find(|m| m.name == file.name) {
                Some(mark) => truncate(&path, mark.len)?,
                None => {
                    tracing::info!(path = %path.display(), "removing an event file written after the checkpoint");
                    fs::remove_file(&path).map_err(error(&path))?;
                }
            }
        }
        Ok(())
    }
}

/// For checkpoints without a [`MetricsMark`]: drops the lines of `metrics.jsonl` logged at a
/// step after `step` (and a line cut short by a crash), and cuts every event file before its
/// first event after `step`.
pub fn rewind_to_step(run_dir: &Path, step: u64) -> Result<(), MetricsError> {
    let path = run_dir.join(METRICS_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            let kept: String = text
                .lines()
                .filter(|line| {
                    serde_json::from_str::<serde_json::Value>(line)
                        .ok()
                        .and_then(|record| record.get("step")?.as_u64())
                        .is_some_and(|s| s <= step)
                })
                .flat_map(|line| [line, "\n"])
                .collect();
            if kept.len() != text.len() {
                crate::checkpoint::fs_atomic::write_atomic(&path, kept.as_bytes())
                    .map_err(error(&path))?;
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(&path)(e)),
    }
    let dir = run_dir.join(TENSORBOARD_DIR);
    for file in event_files(run_dir)? {
        truncate_after_step(&dir.join(&file.name), step)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{JsonlSink, MetricSink, TensorBoardSink};

    fn log(run: &Path, steps: std::ops::RangeInclusive<u64>) {
        let mut jsonl = JsonlSink::open(&run.join(METRICS_FILE)).unwrap();
        let mut tb = TensorBoardSink::create(&run.join(TENSORBOARD_DIR)).unwrap();
        for step in steps {
            let values = [("train/loss".to_owned(), step as f64)];
            jsonl.record(step, &values).unwrap();
            tb.record(step, &values).unwrap();
        }
        jsonl.flush().unwrap();
        tb.flush().unwrap();
    }

    fn jsonl_steps(run: &Path) -> Vec<u64> {
        fs::read_to_string(run.join(METRICS_FILE))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                    .as_u64()
                    .unwrap()
            })
            .collect()
    }

    #[test]
    fn a_mark_drops_what_was_logged_after_it() {
        let run = tempfile::tempdir().unwrap();
        log(run.path(), 1..=3);
        let mark = MetricsMark::measure(run.path()).unwrap();
        assert_eq!(mark.event_files.len(), 1);
        log(run.path(), 4..=6);
        assert_eq!(event_files(run.path()).unwrap().len(), 2);
        mark.rewind(run.path()).unwrap();
        assert_eq!(jsonl_steps(run.path()), [1, 2, 3]);
        assert_eq!(event_files(run.path()).unwrap(), mark.event_files);
    }

    #[test]
    fn without_a_mark_steps_after_the_checkpoint_are_dropped() {
        let run = tempfile::tempdir().unwrap();
        log(run.path(), 1..=5);
        let tb = run.path().join(TENSORBOARD_DIR);
        let event = tb.join(&event_files(run.path()).unwrap()[0].name);
        let full = fs::read(&event).unwrap();
        // A crash mid-line and mid-record.
        let mut metrics = fs::read(run.path().join(METRICS_FILE)).unwrap();
        metrics.extend_from_slice(b"{\"step\": 6, \"train/lo");
        fs::write(run.path().join(METRICS_FILE), metrics).unwrap();
        fs::write(&event, [&full[..], &full[full.len() - 30..]].concat()).unwrap();

        rewind_to_step(run.path(), 3).unwrap();
        assert_eq!(jsonl_steps(run.path()), [1, 2, 3]);
        let bytes = fs::read(&event).unwrap();
        let steps: Vec<i64> = crate::metrics::tensorboard::read_records(&bytes)
            .iter()
            .filter_map(|(_, payload)| crate::metrics::tensorboard::event_step(payload))
            .collect();
        assert_eq!(steps, [0, 1, 2, 3], "the header (step 0) and steps 1-3");
        assert_eq!(
            crate::metrics::tensorboard::read_records(&bytes)
                .last()
                .map(|(o, p)| o + p.len() + 16),
            Some(bytes.len()),
            "no damaged tail"
        );
    }
}
