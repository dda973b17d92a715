//! The logged history of a run, read back from `metrics.jsonl`.

use std::collections::BTreeMap;
use std::path::Path;

use super::PlotError;

/// Every metric of a run: name -> `(step, value)` points in step order. A step logged twice
/// (a run resumed from an earlier checkpoint) keeps its last value; non-finite values and
/// non-numeric fields are left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    series: BTreeMap<String, BTreeMap<u64, f64>>,
}

impl History {
    /// Reads `metrics.jsonl` (one JSON object per line, with a `step`).
    pub fn read(path: &Path) -> Result<Self, PlotError> {
        let text = std::fs::read_to_string(path).map_err(|cause| PlotError::Read {
            path: path.to_owned(),
            cause,
        })?;
        let mut history = Self::default();
        for (number, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            // A line cut short by a crash is the last one: skip it rather than lose the plot.
            let Ok(serde_json::Value::Object(record)) = serde_json::from_str(line) else {
                tracing::debug!(line = number + 1, path = %path.display(), "unreadable metrics line skipped");
                continue;
            };
            let Some(step) = record.get("step").and_then(|s| s.as_u64()) else {
                continue;
            };
            for (name, value) in &record {
                if let Some(value) = value.as_f64() {
                    history.push(name, step, value);
                }
            }
        }
        Ok(history)
    }

    /// Adds one point (ignored when not finite).
    pub fn push(&mut self, name: &str, step: u64, value: f64) {
        if value.is_finite() && name != "step" && name != "wall_time" {
            self.series
                .entry(name.to_owned())
                .or_default()
                .insert(step, value);
        }
    }

    /// The points of `name`, in step order (empty if never logged).
    pub fn points(&self, name: &str) -> Vec<(f64, f64)> {
        self.series
            .get(name)
            .map(|s| s.iter().map(|(&step, &v)| (step as f64, v)).collect())
            .unwrap_or_default()
    }

    /// The metric names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.series.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_lines_win_and_bad_values_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.jsonl");
        std::fs::write(
            &path,
            "{\"step\":1,\"train/loss\":3.0,\"wall_time\":5.0}\n\
             {\"step\":2,\"train/loss\":2.0}\n\
             {\"step\":2,\"train/loss\":1.5,\"note\":\"x\"}\n\
             {\"step\":3,\"train/loss\":null}\n\
             {\"step\":4,\"train/lo",
        )
        .unwrap();
        let history = History::read(&path).unwrap();
        assert_eq!(history.points("train/loss"), [(1.0, 3.0), (2.0, 1.5)]);
        assert_eq!(history.names().collect::<Vec<_>>(), ["train/loss"]);
    }
}
