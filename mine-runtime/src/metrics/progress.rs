//! Progress on stderr: a redrawn bar on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::config::ProgressMode;

/// Shows training progress: a bar redrawn in place when stderr is a terminal, one plain line
/// per logged step otherwise (CI logs), or nothing.
#[derive(Debug)]
pub struct Progress {
    mode: ProgressMode,
    total: Option<u64>,
    start_step: u64,
    start: Instant,
    last_draw: Option<Instant>,
}

impl Progress {
    /// A display for a run of `total` optimizer steps (if known) starting at `start_step`.
    /// [`ProgressMode::Auto`] picks the bar when stderr is a terminal; otherwise plain lines,
    /// unless `logged`: the caller's `tracing` events are shown and carry the same lines.
    pub fn new(mode: ProgressMode, total: Option<u64>, start_step: u64, logged: bool) -> Self {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bar,
            ProgressMode::Auto if logged => ProgressMode::Off,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        Self {
            mode,
            total,
            start_step,
            start: Instant::now(),
            last_draw: None,
        }
    }

    /// The resolved mode (never `Auto`).
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// After every optimizer step: redraws the bar (at most ten times a second).
    pub fn step(&mut self, step: u64, loss: Option<f64>, lr: f64) {
        if self.mode != ProgressMode::Bar {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
            && Some(step) != self.total
        {
            return;
        }
        self.last_draw = Some(now);
        let line = self.bar_line(step, loss, lr);
        let mut err = std::io::stderr().lock();
        // The cursor goes back to the line's start, so that a log line printed before the next
        // redraw overwrites the bar instead of trailing after it.
        let _ = write!(err, "\r\x1b[2K{line}\r");
        let _ = err.flush();
    }

    /// At every logged step: a plain line in `Lines` mode.
    pub fn logged(&mut self, step: u64, summary: &str) {
        if self.mode != ProgressMode::Lines {
            return;
        }
        let position = match self.total {
            Some(total) => format!("step {step}/{total}"),
            None => format!("step {step}"),
        };
        let _ = writeln!(std::io::stderr().lock(), "{position} | {summary}");
    }

    /// Moves past the bar's line.
    pub fn finish(&mut self) {
        if self.mode == ProgressMode::Bar && self.last_draw.is_some() {
            let _ = writeln!(std::io::stderr().lock());
        }
    }

    fn bar_line(&self, step: u64, loss: Option<f64>, lr: f64) -> String {
        const WIDTH: usize = 30;
        let elapsed = self.start.elapsed().as_secs_f64();
        let done = step.saturating_sub(self.start_step);
        let rate = if elapsed > 0.0 {
            done as f64 / elapsed
        } else {
            0.0
        };
        let loss = loss.map_or_else(String::new, |l| format!(" loss {l:.4}"));
        match self.total {
            Some(total) if total > 0 => {
                let fraction = (step as f64 / total as f64).clamp(0.0, 1.0);
                let filled = (fraction * WIDTH as f64) as usize;
                let left = total.saturating_sub(step) as f64;
                let eta = if rate > 0.0 {
                    format_secs(left / rate)
                } else {
                    "?".into()
                };
                format!(
                    "[{}{}] {step}/{total} {:3.0}%{loss} lr {lr:.2e} {rate:.2} it/s eta {eta}",
                    "=".repeat(filled),
                    " ".repeat(WIDTH - filled),
                    fraction * 100.0
                )
            }
            _ => format!("step {step}{loss} lr {lr:.2e} {rate:.2} it/s"),
        }
    }
}

fn format_secs(secs: f64) -> String {
    let secs = secs.max(0.0) as u64;
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}
