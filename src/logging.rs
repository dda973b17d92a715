//! Logs of the programs: `tracing` events on stderr, filtered by `RUST_LOG` (default `info`;
//! for example `RUST_LOG=warn` or `RUST_LOG=info,mine_runtime=debug`), and the same events in
//! the run directory's `train.log` once a run has claimed it.
//!
//! Binaries call [`init`] once; library code never installs a subscriber. Training code calls
//! [`log_to_file`] when it knows its run directory; without [`init`] that does nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// The file the second layer writes to, once set.
static LOG_FILE: OnceLock<SharedFile> = OnceLock::new();

/// Installs the process's subscriber: stderr (in colour, over a progress bar's line, on a
/// terminal), filtered by `RUST_LOG`, and a file layer without colours that [`log_to_file`]
/// points at the run directory, which keeps at least the `info` events whatever `RUST_LOG`
/// hides from the terminal. Does nothing when a subscriber is already set.
pub fn init() {
    let file = SharedFile::default();
    if LOG_FILE.set(file.clone()).is_err() {
        return;
    }
    let terminal = io::stderr().is_terminal();
    let console = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(terminal)
        .with_writer(move || {
            let mut stderr = io::stderr();
            if terminal {
                // Clear the line first: a progress bar may be drawn there.
                let _ = stderr.write_all(b"\r\x1b[2K");
            }
            stderr
        });
    let to_file = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false)
        .with_writer(file);
    let console_filter = filter_from_env();
    let file_filter = at_least_info(&console_filter);
    let _ = tracing_subscriber::registry()
        .with(console.with_filter(console_filter))
        .with(to_file.with_filter(file_filter))
        .try_init();
}

/// `filter` with every level raised to `info` at least.
fn at_least_info(filter: &Targets) -> Targets {
    let raise = |level: LevelFilter| level.max(LevelFilter::INFO);
    let default = raise(filter.default_level().unwrap_or(LevelFilter::INFO));
    Targets::new().with_default(default).with_targets(
        filter
            .iter()
            .map(|(target, level)| (target.to_owned(), raise(level))),
    )
}

/// `RUST_LOG` as per-target levels (`info` when unset; a malformed value is reported and
/// `info` used).
fn filter_from_env() -> Targets {
    let default = Targets::new().with_default(LevelFilter::INFO);
    match std::env::var("RUST_LOG") {
        Ok(text) if !text.trim().is_empty() => text.parse().unwrap_or_else(|error| {
            eprintln!("RUST_LOG={text:?} is not understood ({error}); logging at info");
            default
        }),
        _ => default,
    }
}

/// From now on, also appends the logs to `path` (created if missing). Does nothing unless
/// [`init`] installed the subscriber.
pub fn log_to_file(path: &Path) -> io::Result<()> {
    let Some(shared) = LOG_FILE.get() else {
        return Ok(());
    };
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    *shared.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// A log file that may not be open yet.
#[derive(Clone, Default)]
struct SharedFile(Arc<Mutex<Option<File>>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.write(buf),
            None => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.0.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            Some(file) => file.flush(),
            None => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for SharedFile {
    type Writer = SharedFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
