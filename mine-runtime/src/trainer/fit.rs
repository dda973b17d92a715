//! The training loop: epochs, steps, logging, validation, checkpoints.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mine_dsl::policy::Policy;

use super::prefetch::Rounds;
use super::readback::{Pending, add_to_window};
use super::shard::shards_of;
use super::step::RoundOutcome;
use super::{BatchSource, TrainError, TrainSummary, Trainer};
use crate::metrics::{
    JsonlSink, METRICS_FILE, MeanWindow, MetricSink, Progress, TENSORBOARD_DIR, TensorBoardSink,
};
use crate::sync::{self, ReadReason};

/// The sinks, the progress display and the current logging window of one `fit` call.
struct Logging {
    sinks: Vec<Box<dyn MetricSink>>,
    progress: Progress,
    /// The window's values read back so far.
    window: MeanWindow,
    /// The window's values still on the device.
    pending: Pending,
    window_start: Instant,
    window_batches: u64,
    window_frames: u64,
}

impl Logging {
    fn record(&mut self, step: u64, values: &[(String, f64)]) -> Result<(), TrainError> {
        for sink in &mut self.sinks {
            sink.record(step, values)?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TrainError> {
        for sink in &mut self.sinks {
            sink.flush()?;
        }
        Ok(())
    }
}

/// Counters of one `fit` call.
#[derive(Default)]
struct RunCounters {
    batches: u64,
    frames: u64,
    steps: u64,
    train_time: Duration,
    last_checkpoint_step: Option<u64>,
    last_checkpoint: Option<std::path::PathBuf>,
    interrupted: bool,
    kernel_tuning: Vec<super::FlipTiming>,
}

fn summary_line(values: &[(String, f64)]) -> String {
    values
        .iter()
        .map(|(name, value)| format!("{name} {value:.5}"))
        .collect::<Vec<_>>()
        .join(" | ")
}

impl<P: Policy> Trainer<P> {
    /// Trains until `max_steps` or `max_epochs`, validating on `val` (if given) every
    /// `val_every_n_steps` and at each epoch end, logging every `log_freq` steps and saving
    /// every `save_freq` steps and at the end. Continues from where the trainer stands (a
    /// resumed checkpoint's data position, or the end of a previous `fit`).
    ///
    /// The first call claims the config's `run_dir` unless the program handed a claim over
    /// ([`with_run_dir`](Self::with_run_dir)): a new run needs it missing or empty, a resumed
    /// one may continue in it only if the checkpoint lies inside it (see [`RunDirMode`]).
    /// A run resumed in its own directory first cuts `metrics.jsonl` and the TensorBoard
    /// event files back to where the checkpoint left them.
    ///
    /// A step reads nothing back from the device: its losses, metrics and gradient norm are
    /// read once per logged step and before every checkpoint (a non-finite one stops the run
    /// there, naming the step where it arose), and the next batch is drawn and moved to the
    /// device while the step runs. With several ranks (`devices`), `train` is split with
    /// [`BatchSource::shard`].
    ///
    /// [`RunDirMode`]: super::RunDirMode
    pub fn fit(
        &mut self,
        train: &mut dyn BatchSource,
        mut val: Option<&mut dyn BatchSource>,
    ) -> Result<TrainSummary, TrainError> {
        let started = Instant::now();
        let reads_before = sync::reads();
        let mut owned_shards = shards_of(&*train, self.ranks.world_size())?;
        self.prepare_run_dir()?;
        let mut logging = self.open_logging(match owned_shards.first() {
            Some(shard) => shard.as_ref(),
            None => &*train,
        })?;
        let mut counters = RunCounters::default();
        tracing::info!(
            policy = P::NAME,
            objectives = ?self.objectives.names(),
            step = self.state.step,
            epoch = self.state.epoch,
            backend = %self.config.backend,
            run_dir = %self.config.run_dir.display(),
            "training starts"
        );
        let tune = self.prepare_kernel_tuning();
        #[cfg(feature = "flex")]
        if self.config.backend == crate::trainer::backend::Backend::Flex {
            // What a speed report needs: the CPU, the kernels' instruction set, the threads.
            tracing::info!(
                cpu = ?crate::kernels::cpu::family::CpuFamily::detect(),
                isa = ?crate::kernels::isa::Isa::best(),
                threads = rayon::current_num_threads(),
                kernels = ?self.config.kernel_options(),
                "CPU kernels"
            );
        }
        let trained = if owned_shards.is_empty() {
            self.run_epochs(&mut [train], &mut val, &mut logging, &mut counters, tune)
        } else {
            let mut shards: Vec<&mut dyn BatchSource> = owned_shards
                .iter_mut()
                .map(|shard| shard.as_mut() as &mut dyn BatchSource)
                .collect();
            self.run_epochs(&mut shards, &mut val, &mut logging, &mut counters, tune)
        };
        let result = trained.and_then(|()| self.read_window(&mut logging, &mut counters));
        logging.progress.finish();
        let flushed = logging.flush();
        if let Err(error) = result {
            // The curves up to the failure (a loss going to NaN, say) are worth a look.
            self.render_plots();
            return Err(error);
        }
        flushed?;
        if counters.interrupted {
            tracing::warn!(step = self.state.step, "training stopped on request");
        }
        // A run that ended on a save step has its plots drawn already (`after_step`).
        if counters.steps > 0 && counters.last_checkpoint_step != Some(self.state.step) {
            self.save_weights()?;
            counters.last_checkpoint = Some(self.save_checkpoint()?);
            self.render_plots();
        }
        let wall_time = started.elapsed();
        let secs = counters.train_time.as_secs_f64().max(f64::MIN_POSITIVE);
        let summary = TrainSummary {
            steps: self.state.step,
            steps_this_run: counters.steps,
            epochs: self.state.epoch,
            batches: counters.batches,
            frames: counters.frames,
            wall_time,
            step_time: counters
                .train_time
                .checked_div(counters.steps.max(1) as u32)
                .unwrap_or_default(),
            batches_per_sec: counters.batches as f64 / secs,
            frames_per_sec: counters.frames as f64 / secs,
            final_train: self.last_train.clone(),
            final_val: self.last_val.clone(),
            last_checkpoint: counters.last_checkpoint,
            interrupted: counters.interrupted,
            host_reads: sync::reads().since(&reads_before),
            kernel_tuning: counters.kernel_tuning,
        };
        tracing::info!(
            steps = summary.steps,
            wall_time_s = wall_time.as_secs_f64(),
            frames_per_sec = summary.frames_per_sec,
            host_reads = ?summary.host_reads,
            "training finished"
        );
        Ok(summary)
    }

    fn open_logging(&self, train: &dyn BatchSource) -> Result<Logging, TrainError> {
        let dir = &self.config.run_dir;
        let mut sinks: Vec<Box<dyn MetricSink>> =
            vec![Box::new(JsonlSink::open(&dir.join(METRICS_FILE))?)];
        if self.config.tensorboard {
            sinks.push(Box::new(TensorBoardSink::create(
                &dir.join(TENSORBOARD_DIR),
            )?));
        }
        let total = self
            .config
            .total_steps(train.len_hint(self.state.epoch))
            .map(|s| s as u64);
        Ok(Logging {
            sinks,
            progress: Progress::new(
                self.config.progress,
                total,
                self.state.step,
                // This module's `tracing::info!` lines are the ones `Lines` would repeat.
                tracing::enabled!(tracing::Level::INFO),
            ),
            window: MeanWindow::new(),
            pending: Pending::default(),
            window_start: Instant::now(),
            window_batches: 0,
            window_frames: 0,
        })
    }

    fn done(&self) -> bool {
        self.config
            .max_steps
            .is_some_and(|max| self.state.step >= max as u64)
            || self
                .config
                .max_epochs
                .is_some_and(|max| self.state.epoch >= max)
    }

    fn run_epochs(
        &mut self,
        shards: &mut [&mut dyn BatchSource],
        val: &mut Option<&mut dyn BatchSource>,
        logging: &mut Logging,
        counters: &mut RunCounters,
        mut tune: bool,
    ) -> Result<(), TrainError> {
        while !self.done() {
            if self.stopping(counters) {
                return Ok(());
            }
            let epoch = self.state.epoch;
            let skip = self.state.batch_in_epoch;
            let data_error = |batch, cause| TrainError::Data {
                stream: "train",
                epoch,
                batch,
                cause,
            };
            let batches = shards
                .iter_mut()
                .map(|shard| shard.epoch(epoch, skip))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| data_error(skip, e))?;
            let mut rounds = Rounds::new(batches, self.ranks.train_devices());
            let mut batch_idx = skip;
            let mut yielded = false;
            while let Some(round) = rounds.next_round() {
                yielded = true;
                let round = round.map_err(|e| data_error(batch_idx, e))?;
                if std::mem::take(&mut tune) {
                    counters.kernel_tuning = self.tune_kernels(&round, epoch, batch_idx)?;
                    // The first window's speed is the training's.
                    logging.window_start = Instant::now();
                }
                let started = Instant::now();
                let outcome = self.train_round(round, epoch, batch_idx, &mut logging.pending)?;
                counters.train_time += started.elapsed();
                // The next round is read and moved to the devices while this step runs.
                if outcome.report.is_none() || !(self.done() || self.stop_requested()) {
                    rounds.fetch();
                }
                batch_idx += 1;
                self.state.batch_in_epoch = batch_idx;
                self.observe(&outcome, logging, counters);
                if let Some(report) = outcome.report {
                    self.after_step(report.lr, val, logging, counters)?;
                    if self.done() || self.stopping(counters) {
                        return Ok(());
                    }
                }
            }
            if !yielded && skip == 0 {
                return Err(TrainError::EmptyEpoch { epoch });
            }
            let started = Instant::now();
            let flushed = self.flush_accumulation(&mut logging.pending);
            counters.train_time += started.elapsed();
            if let Some(report) = flushed {
                counters.steps += 1;
                self.after_step(report.lr, val, logging, counters)?;
                if self.stopping(counters) {
                    return Ok(());
                }
            }
            self.state.epoch += 1;
            self.state.batch_in_epoch = 0;
            tracing::info!(epoch, step = self.state.step, "epoch finished");
            if self.config.val_at_epoch_end
                && let Some(source) = val.as_deref_mut()
            {
                self.validate_and_log(source, logging)?;
            }
        }
        Ok(())
    }

    /// Whether the stop flag is set (checked between optimizer steps only); notes it in
    /// `counters`.
    fn stopping(&self, counters: &mut RunCounters) -> bool {
        counters.interrupted |= self.stop_requested();
        counters.interrupted
    }

    /// Counts a round for the logging window and the run.
    fn observe(&self, outcome: &RoundOutcome, logging: &mut Logging, counters: &mut RunCounters) {
        logging.window_batches += outcome.batches;
        logging.window_frames += outcome.frames;
        counters.batches += outcome.batches;
        counters.frames += outcome.frames;
        if outcome.report.is_some() {
            counters.steps += 1;
        }
    }

    /// Reads the window's values back from the device (one host read, none when nothing
    /// waits) into the logging window; a non-finite loss or gradient norm among them is an
    /// error. The read's wait counts as training time.
    fn read_window(
        &self,
        logging: &mut Logging,
        counters: &mut RunCounters,
    ) -> Result<(), TrainError> {
        if logging.pending.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        let values = logging.pending.read(ReadReason::Window);
        counters.train_time += started.elapsed();
        add_to_window(values, &mut logging.window, self.state.step)
    }

    /// Logging, validation and checkpoints after an optimizer step at learning rate `lr`.
    fn after_step(
        &mut self,
        lr: f64,
        val: &mut Option<&mut dyn BatchSource>,
        logging: &mut Logging,
        counters: &mut RunCounters,
    ) -> Result<(), TrainError> {
        let step = self.state.step;
        let last = self.config.max_steps.is_some_and(|n| step >= n as u64);
        let log = step.is_multiple_of(self.config.log_freq as u64) || last;
        let save = self
            .config
            .save_freq
            .is_some_and(|n| step.is_multiple_of(n as u64));
        if log || save {
            // One read serves the log and the check that precedes a checkpoint.
            self.read_window(logging, counters)?;
        }
        if log {
            self.log_train(step, lr, logging)?;
        } else {
            logging.record(step, &[("train/lr".to_owned(), lr)])?;
        }
        logging
            .progress
            .step(step, self.last_train.get("loss").copied(), lr);
        if self
            .config
            .val_every_n_steps
            .is_some_and(|n| step.is_multiple_of(n as u64))
            && let Some(source) = val.as_deref_mut()
        {
            self.validate_and_log(source, logging)?;
        }
        if save {
            // The checkpoint records where the metric files stand: everything logged so far.
            logging.flush()?;
            self.save_weights()?;
            counters.last_checkpoint = Some(self.save_checkpoint()?);
            counters.last_checkpoint_step = Some(step);
            self.render_plots();
        }
        Ok(())
    }

    fn log_train(&mut self, step: u64, lr: f64, logging: &mut Logging) -> Result<(), TrainError> {
        let means: BTreeMap<String, f64> = logging.window.take();
        let secs = logging.window_start.elapsed().as_secs_f64().max(1e-9);
        let mut values: Vec<(String, f64)> = means
            .iter()
            .map(|(name, value)| (format!("train/{name}"), *value))
            .collect();
        values.push(("train/lr".into(), lr));
        values.push((
            "train/batches_per_sec".into(),
            logging.window_batches as f64 / secs,
        ));
        values.push((
            "train/frames_per_sec".into(),
            logging.window_frames as f64 / secs,
        ));
        logging.window_start = Instant::now();
        logging.window_batches = 0;
        logging.window_frames = 0;
        let line = summary_line(&values);
        tracing::info!(step, "{line}");
        logging.progress.logged(step, &line);
        logging.record(step, &values)?;
        logging.flush()?;
        self.last_train = means;
        Ok(())
    }

    fn validate_and_log(
        &mut self,
        source: &mut dyn BatchSource,
        logging: &mut Logging,
    ) -> Result<(), TrainError> {
        let started = Instant::now();
        let means = self.validate(source)?;
        let step = self.state.step;
        let values: Vec<(String, f64)> = means
            .iter()
            .map(|(name, value)| (format!("val/{name}"), *value))
            .collect();
        let line = summary_line(&values);
        tracing::info!(
            step,
            seconds = started.elapsed().as_secs_f64(),
            "validation: {line}"
        );
        logging.progress.logged(step, &line);
        logging.record(step, &values)?;
        logging.flush()?;
        // Training speed excludes the time spent validating.
        logging.window_start += started.elapsed();
        self.last_val = Some(means);
        Ok(())
    }
}
