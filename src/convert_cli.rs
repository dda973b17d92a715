//! `mine-convert`'s command line: raw VPT contractor recordings (`NAME.mp4` + `NAME.jsonl`)
//! to a MineStudio LMDB dataset, with a progress display on stderr.
//!
//! ```
//! use clap::Parser;
//! use minestudio_rs::convert_cli::ConvertArgs;
//!
//! let args = ConvertArgs::try_parse_from(["mine-convert", "--output", "data", "recordings/"]).unwrap();
//! assert_eq!(args.options().chunk_size, 32);
//! assert!(ConvertArgs::try_parse_from(["mine-convert", "recordings/"]).is_err(), "--output is required");
//! ```

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::Parser;
use mine_runtime::data::convert::{
    ConvertOptions, ConvertProgress, ConvertReport, convert_contractor_with_progress,
};
use mine_runtime::data::{DataError, ErrorPolicy};
use mine_runtime::metrics::Progress;
use mine_runtime::trainer::config::ProgressMode;

fn defaults() -> ConvertOptions {
    ConvertOptions::default()
}

/// Arguments of `mine-convert`.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "mine-convert",
    version,
    about = "Convert VPT contractor recordings (NAME.mp4 + NAME.jsonl) into a MineStudio LMDB dataset",
    after_help = "Examples:\n  mine-convert --output data/contractor recordings/\n  \
                  mine-convert --output data/contractor recordings/*.mp4\n\n\
                  Warnings (recordings skipped) and progress go to stderr; RUST_LOG filters the \
                  log (default: info). The converted episodes are listed on stdout."
)]
pub struct ConvertArgs {
    /// Recordings to convert: directories (searched recursively) and/or recording files
    /// (NAME.mp4 or NAME.jsonl; the other file of the pair is found by name).
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The dataset directory to create. It is written as .DIR.converting beside it and moved
    /// into place when complete; a leftover from an interrupted run is removed.
    #[arg(long, short, value_name = "DIR")]
    pub output: PathBuf,
    /// Frames per stored chunk.
    #[arg(long, value_name = "N", default_value_t = defaults().chunk_size)]
    pub chunk_size: usize,
    /// Stored frame width in pixels (even).
    #[arg(long, value_name = "PX", default_value_t = defaults().frame_width)]
    pub width: usize,
    /// Stored frame height in pixels (even).
    #[arg(long, value_name = "PX", default_value_t = defaults().frame_height)]
    pub height: usize,
    /// Frame rate written into the video chunks.
    #[arg(long, default_value_t = defaults().fps)]
    pub fps: u32,
    /// Stop at the first bad recording instead of skipping it with a warning.
    #[arg(long)]
    pub fail_fast: bool,
    /// Episodes converted at once [default: the number of CPUs available]. The dataset is
    /// the same for any number.
    #[arg(long, value_name = "N")]
    pub workers: Option<NonZeroUsize>,
    /// Replace an existing dataset at --output (a directory holding anything other than
    /// modality folders is never replaced).
    #[arg(long)]
    pub overwrite: bool,
}

impl ConvertArgs {
    /// The converter settings these arguments ask for.
    pub fn options(&self) -> ConvertOptions {
        let defaults = defaults();
        ConvertOptions {
            chunk_size: self.chunk_size,
            frame_width: self.width,
            frame_height: self.height,
            fps: self.fps,
            on_error: if self.fail_fast {
                ErrorPolicy::Fail
            } else {
                defaults.on_error
            },
            workers: self.workers.map_or(defaults.workers, NonZeroUsize::get),
            overwrite: self.overwrite,
        }
    }

    /// Converts, showing progress on stderr: a bar on a terminal, a line per episode
    /// otherwise.
    pub fn run(&self) -> Result<ConvertReport, DataError> {
        let mut display = None;
        let report =
            convert_contractor_with_progress(&self.inputs, &self.output, &self.options(), |now| {
                show(&mut display, now)
            });
        if let Some(display) = display.as_mut() {
            display.finish();
        }
        report
    }
}

/// Draws `now` (creating the display when the episode count is first known).
fn show(display: &mut Option<Progress>, now: &ConvertProgress) {
    let display = display.get_or_insert_with(|| {
        Progress::new(
            ProgressMode::Auto,
            Some(now.episodes_total as u64),
            0,
            false,
        )
        .counting("episode")
    });
    let done = now.episodes_done as u64;
    let speed = format!(
        "{} frames read, {:.0} frames/s",
        now.frames_read,
        display.rate(now.frames_read)
    );
    if let Some((episode, stored)) = now.finished {
        display.logged(
            done,
            &format!("{episode}: {stored} frames stored | {speed}"),
        );
    }
    display.update(done, |_| format!("episodes | {speed}"));
    if now.episodes_done == now.episodes_total {
        display.finish();
    }
}

/// The episodes written, one `NAME<TAB>N frames` line each.
pub fn episode_lines(report: &ConvertReport) -> String {
    report
        .episodes
        .iter()
        .map(|(episode, frames)| format!("{episode}\t{frames} frames\n"))
        .collect()
}
