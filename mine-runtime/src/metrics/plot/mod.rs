//! PNG plots of a run's loss curves and learning rate, so a user can look instead of read.
//!
//! [`render_run_plots`] reads `<run_dir>/metrics.jsonl` (the whole run, across resumes) and
//! writes `<run_dir>/plots/loss.png` (the total training loss, every other `*loss*` /
//! `*mse*` training metric, and the validation loss as dots) and `<run_dir>/plots/lr.png`.
//! The trainer calls it at every save and at the end of `fit`; it works on any run directory.
//!
//! ```
//! use std::io::Write;
//! let run = tempfile::tempdir().unwrap();
//! let mut metrics = std::fs::File::create(run.path().join("metrics.jsonl")).unwrap();
//! for step in 1..=20 {
//!     let loss = 10.0 / step as f64;
//!     writeln!(metrics, "{{\"step\":{step},\"train/loss\":{loss},\"train/lr\":0.001}}").unwrap();
//! }
//! let written = mine_runtime::metrics::plot::render_run_plots(run.path()).unwrap();
//! assert!(written.iter().all(|png| png.exists()));
//! ```

mod canvas;
mod chart;
mod history;

use std::path::{Path, PathBuf};

pub use chart::{LineChart, Series};
pub use history::History;

use crate::checkpoint::fs_atomic::write_atomic;

/// Directory of a run directory holding the plots.
pub const PLOTS_DIR: &str = "plots";
/// The files [`render_run_plots`] writes into [`PLOTS_DIR`].
pub const PLOT_FILES: [&str; 2] = ["loss.png", "lr.png"];

/// The run directory's metrics could not be read or a plot could not be written.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// `metrics.jsonl` could not be read.
    #[error(
        "cannot read metrics {path}: {cause}; plots are drawn from a run directory's metrics.jsonl"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system reported.
        cause: std::io::Error,
    },
    /// A PNG could not be written.
    #[error("cannot write plot {path}: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Draws `loss.png` and `lr.png` into `<run_dir>/plots/` from `<run_dir>/metrics.jsonl`;
/// returns the files written.
pub fn render_run_plots(run_dir: &Path) -> Result<Vec<PathBuf>, PlotError> {
    let history = History::read(&run_dir.join(super::METRICS_FILE))?;
    let dir = run_dir.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| PlotError::Write {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    let charts = [
        (PLOT_FILES[0], loss_chart(&history)),
        (PLOT_FILES[1], lr_chart(&history)),
    ];
    let mut written = Vec::new();
    for (name, chart) in charts {
        let path = dir.join(name);
        let fail = |message: String| PlotError::Write {
            path: path.clone(),
            message,
        };
        let png = chart.render().to_png().map_err(|e| fail(e.to_string()))?;
        write_atomic(&path, &png).map_err(|e| fail(e.to_string()))?;
        written.push(path);
    }
    Ok(written)
}

/// Total training loss, the other loss-like training metrics, validation loss as dots.
pub fn loss_chart(history: &History) -> LineChart {
    let line = |name: &str| Series {
        name: name.to_owned(),
        points: history.points(name),
        markers: false,
    };
    let mut series = vec![line("train/loss")];
    series.extend(
        history
            .names()
            .filter(|n| n.starts_with("train/") && *n != "train/loss")
            .filter(|n| n.contains("loss") || n.contains("mse"))
            .map(line),
    );
    let mut val = line("val/loss");
    val.markers = true;
    series.push(val);
    series.retain(|s| !s.points.is_empty());
    LineChart {
        title: "loss".into(),
        x_label: "optimizer step".into(),
        series,
        log_y_above_ratio: Some(30.0),
    }
}

/// The learning rate per step.
pub fn lr_chart(history: &History) -> LineChart {
    LineChart {
        title: "learning rate".into(),
        x_label: "optimizer step".into(),
        series: vec![Series {
            name: "train/lr".into(),
            points: history.points("train/lr"),
            markers: false,
        }],
        log_y_above_ratio: None,
    }
}
