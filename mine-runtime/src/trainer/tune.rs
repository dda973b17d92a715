//! `tune_kernels`: the CPU kernel choices timed on the run's own policy and first batch before
//! it trains, by the rules of `bench --tune` ([`crate::kernels::tune`]).

use std::time::Instant;

use mine_dsl::batch::Batch;
use mine_dsl::policy::Policy;

use super::backend::{Backend, Precision};
use super::{TrainError, Trainer};
use crate::checkpoint::TunedKernels;
use crate::kernels::tune::{self, Flip, MARGIN};
use crate::kernels::{self, KernelChoices, KernelOptions};

/// ABBA rounds per flip (four timed passes each), after one untimed pass of each side.
const ROUNDS: usize = 3;

/// One kernel flip the trainer timed before its first step (`tune_kernels`).
#[derive(Debug, Clone, PartialEq)]
pub struct FlipTiming {
    /// The flip as a `[trainer.kernels]` line, e.g. `winograd = false`.
    pub flip: String,
    /// The current choice's median pass time over the flip's (above 1: the flip is faster).
    pub speed: f64,
    /// Whether it became the choice.
    pub chosen: bool,
}

impl<P: Policy> Trainer<P> {
    /// Whether this run tunes its kernels before its first step: asked for, on the CPU, and
    /// not resumed from a checkpoint that holds a choice tuned on this kind of machine
    /// (applied here instead). A run that does not ask keeps no tuned choice: its
    /// checkpoints record what it computes with.
    pub(super) fn prepare_kernel_tuning(&mut self) -> bool {
        if !self.config.tune_kernels {
            self.state.kernels = None;
            return false;
        }
        if self.config.backend != Backend::Flex {
            return false;
        }
        let machine = tune::machine();
        match &self.state.kernels {
            Some(tuned) if tuned.machine == machine => {
                self.config.kernels = tuned.choices;
                tracing::info!(
                    kernels = ?self.config.kernel_options(),
                    "CPU kernels as tuned at the run's start (kept in the checkpoint)"
                );
                false
            }
            Some(tuned) => {
                tracing::info!(
                    tuned_on = %tuned.machine,
                    here = %machine,
                    "the checkpoint's kernel choices were tuned on another machine: tuning again"
                );
                true
            }
            None => true,
        }
    }

    /// Finds the fastest kernel choices for this run: each flip of the current choice
    /// ([`tune::flips`]) runs `round`'s first batch forward and backward against it in
    /// alternating rounds; the one with the best gain of at least [`MARGIN`] becomes the
    /// choice and the next pass flips from it (never back), until none wins. Nothing of the
    /// run changes but its kernels: no optimizer step, the memory put back after every pass.
    pub(super) fn tune_kernels(
        &mut self,
        round: &[Batch],
        epoch: usize,
        batch_idx: usize,
    ) -> Result<Vec<FlipTiming>, TrainError> {
        let mut timings = Vec::new();
        let Some(batch) = round.first() else {
            return Ok(timings);
        };
        let started = Instant::now();
        let bf16 = self.config.precision == Precision::Bf16Mixed;
        let mut chosen = self.config.kernel_options();
        let mut visited = vec![chosen];
        tracing::info!(kernels = ?chosen, "tuning the CPU kernels on the first batch");
        loop {
            let flips: Vec<Flip> = (tune::flips(chosen, bf16).into_iter())
                .filter(|flip| !visited.contains(&flip.options))
                .collect();
            let mut best: Option<(f64, Flip, usize)> = None;
            for flip in flips {
                let (speed, gain) = self.time_flip(flip, batch, epoch, batch_idx)?;
                tracing::info!(
                    flip = ?flip.name(),
                    speed,
                    "kernel flip timed (speed: the current choice's time over the flip's)"
                );
                if gain >= MARGIN && best.is_none_or(|(best, ..)| gain > best) {
                    best = Some((gain, flip, timings.len()));
                }
                timings.push(FlipTiming {
                    flip: flip.name(),
                    speed,
                    chosen: false,
                });
            }
            let Some((_, flip, at)) = best else {
                break;
            };
            timings[at].chosen = true;
            tracing::info!(flip = ?flip.name(), "kernel flip chosen");
            chosen = flip.options;
            visited.push(chosen);
        }
        let choices = KernelChoices::from(chosen);
        self.config.kernels = choices;
        self.state.kernels = Some(TunedKernels {
            choices,
            machine: tune::machine(),
        });
        let over_defaults = KernelChoices::between(kernels::options(), chosen);
        tracing::info!(
            kernels = match over_defaults.is_empty() {
                true => "the defaults".to_owned(),
                false => over_defaults.line(),
            },
            seconds = started.elapsed().as_secs_f64(),
            "CPU kernels tuned"
        );
        Ok(timings)
    }

    /// Times `flip` against its current choice on `batch`, one untimed pass of each and then
    /// up to [`ROUNDS`] rounds in ABBA order (the first it loses is its last): its speed (the
    /// current choice's median time over its own) and its gain ([`tune::gain`]).
    fn time_flip(
        &mut self,
        flip: Flip,
        batch: &Batch,
        epoch: usize,
        batch_idx: usize,
    ) -> Result<(f64, f64), TrainError> {
        let pass = |this: &mut Self, options| this.timed_pass(options, batch, epoch, batch_idx);
        pass(self, flip.from)?;
        pass(self, flip.options)?;
        let mut rounds = Vec::with_capacity(ROUNDS);
        for _ in 0..ROUNDS {
            let a = pass(self, flip.from)?;
            let b = pass(self, flip.options)? + pass(self, flip.options)?;
            let (a, b) = ((a + pass(self, flip.from)?) / 2.0, b / 2.0);
            rounds.push((a, b));
            if b >= a {
                // A flip must be faster in every round: this one cannot win any more.
                break;
            }
        }
        let median = |mut xs: Vec<f64>| {
            xs.sort_by(f64::total_cmp);
            xs[xs.len() / 2]
        };
        let speed = median(rounds.iter().map(|r| r.0).collect())
            / median(rounds.iter().map(|r| r.1).collect());
        Ok((speed, tune::gain(speed, &rounds)))
    }

    /// One forward and backward pass of rank 0 on `batch` with `options`, in seconds (flex
    /// computes as it goes: the pass is done when `backward` returns). The rank's memory is
    /// put back and the gradients dropped.
    fn timed_pass(
        &mut self,
        options: KernelOptions,
        batch: &Batch,
        epoch: usize,
        batch_idx: usize,
    ) -> Result<f64, TrainError> {
        let memory = self.ranks.ranks[0].memory.clone();
        let _kernels = kernels::scope(options);
        let started = Instant::now();
        let outcome = self.forward_rank(0, batch.clone(), epoch, batch_idx);
        let timed = outcome.map(|(losses, _)| {
            drop(losses.total.backward());
            started.elapsed().as_secs_f64()
        });
        self.ranks.ranks[0].memory = memory;
        timed
    }
}
