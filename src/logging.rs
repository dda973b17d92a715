//! Log output of the workspace's programs: `tracing` events on stderr, filtered by `RUST_LOG`.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

/// Shows `tracing` events on stderr. `RUST_LOG` picks what is shown (default `info`; for
/// example `RUST_LOG=warn` or `RUST_LOG=info,mine_runtime=debug`); on a terminal, in colour
/// and over a progress bar's line (see `mine_runtime::metrics::Progress`).
/// Does nothing when a subscriber is already set.
pub fn init() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let terminal = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || {
            let mut stderr = std::io::stderr();
            if terminal {
                // Clear the line first: a progress bar may be drawn there.
                let _ = stderr.write_all(b"\r\x1b[2K");
            }
            stderr
        })
        .with_ansi(terminal)
        .with_target(false)
        .try_init();
}
