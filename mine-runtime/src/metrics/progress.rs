//! Progress on stderr: a redrawn bar on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::trainer::config::ProgressMode;

/// Shows progress (of training steps, or of any count with [`Progress::counting`]): a bar
/// redrawn in place when stderr is a terminal, one plain line per logged step otherwise (CI
/// logs), or nothing.
#[derive(Debug)]
pub struct Progress {
    mode: ProgressMode,
    total: Option<u64>,
    start_step: u64,
    start: Instant,
    last_draw: Option<Instant>,
    unit: &'static str,
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
            unit: "step",
        }
    }

    /// The same display counting `unit`s (`"step"` unless changed) in its plain lines and
    /// when the total is unknown.
    pub fn counting(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// The resolved mode (never `Auto`).
    pub fn mode(&self) -> ProgressMode {
        self.mode
    }

    /// After every optimizer step: redraws the bar (at most ten times a second).
    pub fn step(&mut self, step: u64, loss: Option<f64>, lr: f64) {
        self.update(step, |rate| {
            let loss = loss.map_or_else(String::new, |l| format!("loss {l:.4} "));
            format!("{loss}lr {lr:.2e} {rate:.2} it/s")
        });
    }

    /// Redraws the bar at `position` (at most ten times a second, and always at the total),
    /// followed by `detail(positions per second since the start)`.
    pub fn update(&mut self, position: u64, detail: impl FnOnce(f64) -> String) {
        if self.mode != ProgressMode::Bar {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(100))
            && Some(position) != self.total
        {
            return;
        }
        self.last_draw = Some(now);
        let rate = self.rate(position.saturating_sub(self.start_step));
        let line = self.bar_line(position, rate, &detail(rate));
        let mut err = std::io::stderr().lock();
        // The cursor goes back to the line's start, so that a log line printed before the next
        // redraw overwrites the bar instead of trailing after it.
        let _ = write!(err, "\r\x1b[2K{line}\r");
        let _ = err.flush();
    }

    /// `count` per second since the display was created.
    pub fn rate(&self, count: u64) -> f64 {
        let elapsed = self.start.elapsed().as_secs_f64();
        if elapsed > 0.0 {
            count as f64 / elapsed
        } else {
            0.0
        }
    }

    /// At every logged step (or position): a plain line in `Lines` mode.
    pub fn logged(&mut self, step: u64, summary: &str) {
        if self.mode != ProgressMode::Lines {
            return;
        }
        let unit = self.unit;
        let position = match self.total {
            Some(total) => format!("{unit} {step}/{total}"),
            None => format!("{unit} {step}"),
        };
        let _ = writeln!(std::io::stderr().lock(), "{position} | {summary}");
    }

    /// Moves past the bar's line, leaving the bar shown (once: calling it again does nothing
    /// until the bar is drawn anew).
    pub fn finish(&mut self) {
        if self.mode == ProgressMode::Bar && self.last_draw.take().is_some() {
            let _ = writeln!(std::io::stderr().lock());
        }
    }

    fn bar_line(&self, position: u64, rate: f64, detail: &str) -> String {
        const WIDTH: usize = 30;
        match self.total {
            Some(total) if total > 0 => {
                let fraction = (position as f64 / total as f64).clamp(0.0, 1.0);
                let filled = (fraction * WIDTH as f64) as usize;
                let left = total.saturating_sub(position) as f64;
                let eta = if rate > 0.0 {
                    format_secs(left / rate)
                } else {
                    "?".into()
                };
                format!(
                    "[{}{}] {position}/{total} {:3.0}% {detail} eta {eta}",
                    "=".repeat(filled),
                    " ".repeat(WIDTH - filled),
                    fraction * 100.0
                )
            }
            _ => format!("{} {position} {detail}", self.unit),
        }
    }
}

fn format_secs(secs: f64) -> String {
    let secs = secs.max(0.0) as u64;
    format!("{}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_shows_position_total_detail_and_eta() {
        let p = Progress::new(ProgressMode::Off, Some(4), 0, false);
        assert_eq!(
            p.bar_line(1, 0.5, "3 frames/s"),
            format!(
                "[{}{}] 1/4  25% 3 frames/s eta 0:00:06",
                "=".repeat(7),
                " ".repeat(23)
            )
        );
        let p = Progress::new(ProgressMode::Off, None, 0, false).counting("episode");
        assert_eq!(p.bar_line(7, 0.0, "lr 1e-4"), "episode 7 lr 1e-4");
    }
}
