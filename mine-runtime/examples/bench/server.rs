//! The step-server protocol both implementations speak, so that the parent process can run
//! them side by side, alternating, each in its own process (own peak memory, own threads).
//!
//! The server prints one JSON line `{"ready": true, ...}`, then answers each `run N` line
//! with a [`RunReply`] line; `quit` or end of input stops it; a failure is `{"error": ".."}`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use super::setup::Setup;
use super::stats::RunReply;
use super::step::TrainStep;

type Error = Box<dyn std::error::Error>;

/// A running step server.
pub struct StepServer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What the server said when it was ready (versions, threads, parameter count).
    pub info: serde_json::Value,
}

impl StepServer {
    /// Starts `command` and waits until it is ready.
    pub fn spawn(mut command: Command) -> Result<Self, Error> {
        let what = format!("{command:?}");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(format!("{what}: no pipes").into());
        };
        let mut server = Self {
            child,
            stdin,
            stdout: BufReader::new(stdout),
            info: serde_json::Value::Null,
        };
        server.info = server.read_line(&what)?;
        Ok(server)
    }

    fn read_line(&mut self, what: &str) -> Result<serde_json::Value, Error> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            return Err(format!("{what} exited without answering (see its messages above)").into());
        }
        let value: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| format!("{what} answered {line:?}, not a JSON line: {e}"))?;
        if let Some(error) = value.get("error") {
            return Err(format!("{what} failed: {error}").into());
        }
        Ok(value)
    }

    /// Runs `steps` steps on the server.
    pub fn run(&mut self, steps: usize) -> Result<RunReply, Error> {
        writeln!(self.stdin, "run {steps}")?;
        self.stdin.flush()?;
        let reply = self.read_line("the step server")?;
        Ok(serde_json::from_value(reply)?)
    }
}

impl Drop for StepServer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// Serves our training step of `setup` for batch `b`, window `t`, memory `m` on stdin/stdout.
pub fn serve(setup: &Setup, b: usize, t: usize, m: usize) -> Result<(), Error> {
    let out = std::io::stdout();
    let emit = |value: serde_json::Value| -> Result<(), Error> {
        let mut out = out.lock();
        writeln!(out, "{value}")?;
        out.flush()?;
        Ok(())
    };
    if std::env::var_os("MINE_MALLOC_DEFAULT").is_none() {
        mine_runtime::kernels::allocator::keep_freed_memory();
    }
    let mut step = match TrainStep::new(setup, b, t, m) {
        Ok(step) => step,
        Err(e) => return emit(serde_json::json!({ "error": e.to_string() })),
    };
    emit(serde_json::json!({
        "ready": true,
        "burn": format!("0.22.1 {}", setup.backend),
        "precision": setup.precision.as_str(),
        "kernels": mine_runtime::kernels::options().cpu_kernels,
        "threads": rayon_threads(),
        "frames_per_step": step.frames(),
        "params": step.parameters(),
    }))?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => continue,
            ["quit"] => break,
            ["run", n] => {
                let n: usize = n.parse()?;
                let mut steps = Vec::with_capacity(n);
                for _ in 0..n {
                    match step.run() {
                        Ok(times) => steps.push(times),
                        Err(e) => return emit(serde_json::json!({ "error": e.to_string() })),
                    }
                }
                let peak_rss_mib = mine_runtime::metrics::peak_rss_mib().unwrap_or(f64::NAN);
                let device_mib = step.device_bytes().map(|b| b as f64 / (1024.0 * 1024.0));
                emit(serde_json::to_value(RunReply {
                    steps,
                    peak_rss_mib,
                    device_mib,
                })?)?;
            }
            _ => return emit(serde_json::json!({ "error": format!("unknown command {line:?}") })),
        }
    }
    Ok(())
}

/// Threads of the compute pool (burn flex and our kernels share rayon's global pool, sized by
/// `RAYON_NUM_THREADS` or the cores).
pub fn rayon_threads() -> usize {
    rayon::current_num_threads()
}
