//! Learning rate as a function of the optimizer step: warmup, then constant or decaying.

use burn::lr_scheduler::{LrScheduler, LrSchedulerRecord};

use super::config::{DecayKind, OptimConfigError, OptimizerConfig};

/// Record key under which the number of completed optimizer steps is saved.
const STEP_KEY: &str = "optimizer_steps";

/// Resolved decay: kind, floor and length in optimizer steps.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Decay {
    kind: DecayKind,
    min_lr: f64,
    steps: usize,
}

/// Learning rate at each optimizer step, with the step counter it advances.
///
/// `lr_at(s)` is the rate used by optimizer step `s` (0-based), i.e. after `s` calls of
/// PyTorch's `scheduler.step()`: `base * min((s + 1) / warmup, 1)` during warmup (MineStudio's
/// `LambdaLR`), then `base` or, with decay, `min_lr + (base - min_lr) * f(p)` where
/// `p = min((s + 1 - warmup) / decay_steps, 1)` and `f(p) = (1 + cos(pi p)) / 2` (cosine) or
/// `1 - p` (linear). The counter advances once per optimizer step, never per batch.
#[derive(Debug, Clone, PartialEq)]
pub struct LrSchedule {
    base: f64,
    warmup: usize,
    decay: Option<Decay>,
    steps_done: usize,
}

impl LrSchedule {
    /// Builds the schedule of `config` at step 0. `total_steps` (optimizer steps of the whole
    /// run) sets the decay length when `decay.decay_steps` is not given.
    pub fn new(
        config: &OptimizerConfig,
        total_steps: Option<usize>,
    ) -> Result<Self, OptimConfigError> {
        config.validate()?;
        let decay = match &config.decay {
            None => None,
            Some(decay) => {
                let steps = match (decay.decay_steps, total_steps) {
                    (Some(steps), _) => steps,
                    (None, None) => return Err(OptimConfigError::MissingDecaySteps),
                    (None, Some(total)) if total > config.warmup_steps => {
                        total - config.warmup_steps
                    }
                    (None, Some(total)) => {
                        return Err(OptimConfigError::NoStepsForDecay {
                            total_steps: total,
                            warmup_steps: config.warmup_steps,
                        });
                    }
                };
                Some(Decay {
                    kind: decay.kind,
                    min_lr: decay.min_lr,
                    steps,
                })
            }
        };
        Ok(Self {
            base: config.learning_rate,
            warmup: config.warmup_steps,
            decay,
            steps_done: 0,
        })
    }

    /// Learning rate used by optimizer step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        let done = step as f64 + 1.0;
        let warmup = self.warmup as f64;
        match self.decay {
            Some(decay) if step + 1 > self.warmup => {
                let progress = ((done - warmup) / decay.steps as f64).min(1.0);
                let shape = match decay.kind {
                    DecayKind::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
                    DecayKind::Linear => 1.0 - progress,
                };
                decay.min_lr + (self.base - decay.min_lr) * shape
            }
            _ => self.base * (done / warmup).min(1.0),
        }
    }

    /// Learning rate of the next optimizer step.
    pub fn lr(&self) -> f64 {
        self.lr_at(self.steps_done)
    }

    /// Number of optimizer steps taken so far (PyTorch's `scheduler.last_epoch`).
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    /// Moves to the next optimizer step (PyTorch's `scheduler.step()`).
    pub fn advance(&mut self) {
        self.steps_done += 1;
    }

    /// Sets the number of optimizer steps already taken, e.g. when resuming.
    pub fn set_steps_done(&mut self, steps_done: usize) {
        self.steps_done = steps_done;
    }

    /// The schedule's state as a burnpack-serializable record.
    pub fn record(&self) -> LrSchedulerRecord {
        LrSchedulerRecord::new().with_scalar(STEP_KEY, self.steps_done as u64)
    }

    /// The step counter stored in `record`, or `None` when the record has none.
    pub fn steps_in_record(record: &LrSchedulerRecord) -> Option<usize> {
        record
            .scalar::<u64>(STEP_KEY)
            .and_then(|steps| usize::try_from(steps).ok())
    }
}

/// Burn's scheduler interface: `step()` returns the rate of the coming optimizer step and
/// advances, so an `LrSchedule` also plugs into burn's own training loops.
impl LrScheduler for LrSchedule {
    fn step(&mut self) -> f64 {
        let lr = self.lr();
        self.advance();
        lr
    }

    fn to_record(&self) -> LrSchedulerRecord {
        self.record()
    }

    /// Leaves the counter unchanged when the record holds none (burn's trait cannot fail);
    /// [`super::OptimStep::load`] reports that case as an error instead.
    fn load_record(&mut self, record: LrSchedulerRecord) {
        if let Some(steps) = Self::steps_in_record(&record) {
            self.steps_done = steps;
        }
    }
}
