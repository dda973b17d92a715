//! The server protocol both implementations speak, so that the parent process can run them
//! side by side, alternating, each in its own process (own peak memory, own threads).
//!
//! The server prints one JSON line `{"ready": true, ...}`, then answers each `run N` line
//! with one JSON reply line (a step server's [`RunReply`], a data server's
//! [`DataReply`](super::data_rounds::DataReply)); `quit` or end of input stops it; a failure
//! is `{"error": ".."}`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::setup::Setup;
use super::stats::RunReply;
use super::step::TrainStep;
use mine_dsl::policy::Policy;

type Error = Box<dyn std::error::Error>;

/// A running server (ours or the reference, steps or data).
pub struct Server {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    /// What the server said when it was ready (versions, threads, parameter count).
    pub info: serde_json::Value,
}

impl Server {
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

    /// Sends `run n` (steps, or batches) and reads the reply.
    pub fn run<R: DeserializeOwned>(&mut self, n: usize) -> Result<R, Error> {
        writeln!(self.stdin, "run {n}")?;
        self.stdin.flush()?;
        let reply = self.read_line("the server")?;
        Ok(serde_json::from_value(reply)?)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// Runs `round` on each of `contenders` in turn, `rounds` times, half a second apart (the
/// other process's threads go idle and the system settles), so that a ratio comes from one
/// run on one machine.
pub fn alternate<T>(
    contenders: &mut [T],
    rounds: usize,
    mut round: impl FnMut(&mut T) -> Result<(), Error>,
) -> Result<(), Error> {
    for _ in 0..rounds {
        for c in contenders.iter_mut() {
            std::thread::sleep(PAUSE);
            round(c)?;
        }
    }
    Ok(())
}

/// [`alternate`] for a pair, each round in the other order (ABBA...): a machine speeding up or
/// slowing down through the run favours neither.
pub fn alternate_abba<T>(
    pair: &mut [T; 2],
    rounds: usize,
    mut round: impl FnMut(&mut T) -> Result<(), Error>,
) -> Result<(), Error> {
    for r in 0..rounds {
        for i in [r % 2, 1 - r % 2] {
            std::thread::sleep(PAUSE);
            round(&mut pair[i])?;
        }
    }
    Ok(())
}

/// The pause before each round: the other process's threads go idle and the system settles.
const PAUSE: Duration = Duration::from_millis(500);

/// Writes one protocol line to stdout.
fn emit(value: serde_json::Value) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{value}")?;
    out.flush()?;
    Ok(())
}

/// Answers with `{"error": ..}`: why the server could not start or go on.
pub fn refuse(e: Error) -> Result<(), Error> {
    emit(serde_json::json!({ "error": e.to_string() }))
}

/// Speaks the protocol on stdin/stdout: `ready` as the first line, then `run(n)`'s reply to
/// each `run n`.
pub fn serve_lines(
    ready: serde_json::Value,
    mut run: impl FnMut(usize) -> Result<serde_json::Value, Error>,
) -> Result<(), Error> {
    emit(ready)?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => continue,
            ["quit"] => break,
            ["run", n] => {
                let Ok(n) = n.parse() else {
                    return refuse(format!("run {n}: not a number").into());
                };
                match run(n) {
                    Ok(reply) => emit(reply)?,
                    Err(e) => return refuse(e),
                }
            }
            _ => return refuse(format!("unknown command {line:?}").into()),
        }
    }
    Ok(())
}

/// Serves our training step of `setup` for batch `b`, window `t`, memory `m` on stdin/stdout.
pub fn serve(setup: &Setup, b: usize, t: usize, m: usize) -> Result<(), Error> {
    if std::env::var_os("MINE_MALLOC_DEFAULT").is_none() {
        mine_runtime::kernels::allocator::keep_freed_memory();
    }
    match setup.is_groot() {
        true => serve_step(setup, TrainStep::groot(setup, b, t, m)),
        false => serve_step(setup, TrainStep::vpt(setup, b, t, m)),
    }
}

/// Serves `step` (or refuses with why it could not be built).
fn serve_step<P: Policy>(setup: &Setup, step: Result<TrainStep<P>, Error>) -> Result<(), Error> {
    let mut step = match step {
        Ok(step) => step,
        Err(e) => return refuse(e),
    };
    let ready = serde_json::json!({
        "ready": true,
        "burn": format!("0.22.1 {}", setup.backend),
        "precision": setup.precision.as_str(),
        "kernels": mine_runtime::kernels::options().cpu_kernels,
        "threads": rayon_threads(),
        "frames_per_step": step.frames(),
        "params": step.parameters(),
    });
    serve_lines(ready, |n| {
        let run = (0..n).map(|_| step.run()).collect::<Result<Vec<_>, _>>()?;
        let (steps, losses) = run.into_iter().unzip();
        let peak_rss_mib = mine_runtime::metrics::peak_rss_mib().unwrap_or(f64::NAN);
        let device_mib = step.device_bytes().map(|b| b as f64 / (1024.0 * 1024.0));
        Ok(serde_json::to_value(RunReply {
            steps,
            losses,
            peak_rss_mib,
            device_mib,
        })?)
    })
}

/// Threads of the compute pool (burn flex and our kernels share rayon's global pool, sized by
/// `RAYON_NUM_THREADS` or the cores).
pub fn rayon_threads() -> usize {
    rayon::current_num_threads()
}
