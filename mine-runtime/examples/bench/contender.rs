//! One implementation's step server and the steps it timed, for the benchmarks that alternate
//! several of them round by round.

use std::process::Command;

use super::server::Server;
use super::stats::{RunReply, StepTimes};

type Error = Box<dyn std::error::Error>;

/// A step server (ours under some kernel options, or the reference) and its timed steps.
pub struct Contender {
    /// Its name in the tables.
    pub name: String,
    /// The process serving its steps.
    pub server: Server,
    /// Every timed step so far.
    pub steps: Vec<StepTimes>,
    /// Every step's loss so far, the warm-up's first (ours only).
    pub losses: Vec<f32>,
    /// Its peak resident memory, MiB.
    pub peak_mib: f64,
    /// What its GPU allocator holds, MiB (none on the CPU).
    pub device_mib: Option<f64>,
}

impl Contender {
    /// Starts `command`'s server and runs `warmup` untimed steps.
    pub fn start(name: String, command: Command, warmup: usize) -> Result<Self, Error> {
        let mut server = Server::spawn(command)?;
        let mut losses = Vec::new();
        if warmup > 0 {
            losses = server.run::<RunReply>(warmup)?.losses;
        }
        Ok(Self {
            name,
            server,
            steps: Vec::new(),
            losses,
            peak_mib: f64::NAN,
            device_mib: None,
        })
    }

    /// Times `steps` more steps.
    pub fn round(&mut self, steps: usize) -> Result<(), Error> {
        let reply: RunReply = self.server.run(steps)?;
        self.steps.extend(reply.steps);
        self.losses.extend(reply.losses);
        self.peak_mib = reply.peak_rss_mib;
        self.device_mib = reply.device_mib;
        Ok(())
    }
}
