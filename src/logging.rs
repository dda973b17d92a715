//! Logs of the programs: `tracing` events on stderr, filtered by `RUST_LOG` (default `info`),
//! and the same events in the run directory's `train.log` once a run has claimed it.
//!
//! Binaries call [`init`] once; library code never installs a subscriber. Training code calls
//! [`log_to_file`] when it knows its run directory; without [`init`] that does nothing.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The file the second layer writes to, once set.
static LOG_FILE: OnceLock<SharedFile> = OnceLock::new();

/// The name of the log file in a run directory.
pub const LOG_FILE_NAME: &str = "train.log";

/// Installs the process's subscriber: stderr (with colours on a terminal) filtered by
/// `RUST_LOG` (default `info`), and a file layer without colours that [`log_to_file`] points
/// at the run directory. A second call does nothing.
pub fn init() {
    let file = SharedFile::default();
    if LOG_FILE.set(file.clone()).is_err() {
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let console = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_writer(io::stderr);
    let to_file = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(false)
        .with_writer(file);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(to_file)
        .try_init();
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
