//! The training loop.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use burn::tensor::Device;
use mine_dsl::batch::Batch;
use mine_dsl::experiment::{Experiment, Objectives, StepError, StepLosses};
use mine_dsl::memory::Memory;
use mine_dsl::objective::StepContext;
use mine_dsl::policy::Policy;

use super::checkpoint::{self, TrainerState, io, step_name};
use super::config::TrainerConfig;
use super::error::TrainError;
use super::memory::MemoryStream;
use super::metrics::{JsonlSink, MeanAccumulator, MetricRecord};
use super::source::BatchSource;
use crate::optim::OptimStep;

/// Before-step hooks, memory prepared for the batch, forward and objectives: the
/// differentiable part of a step, shared by training and validation.
fn forward_losses<P: Policy>(
    objectives: &Objectives<P>,
    policy: &P,
    batch: Batch,
    memory: &mut MemoryStream<P::Memory>,
    device: &Device,
    ctx: &StepContext,
) -> Result<(StepLosses, P::Memory), StepError> {
    let batch = objectives.before_step(batch, ctx)?;
    let carried = memory.prepare(&batch.info, |rows| policy.initial_memory(rows, device));
    let (latents, next) = policy
        .forward(&batch, carried)
        .map_err(|source| StepError::Policy {
            policy: P::NAME,
            source,
        })?;
    let losses = objectives.evaluate(&latents, &batch, ctx)?;
    Ok((losses, next))
}

/// What a finished run reports.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Optimizer steps taken in the whole run (including before a resume).
    pub steps: u64,
    /// Batches trained on in this call.
    pub batches: u64,
    /// Wall time of this call, in seconds.
    pub seconds: f64,
    /// Training frames (rows x time steps) per second in this call.
    pub frames_per_second: f64,
    /// The last logged training metrics (`train/...`).
    pub last_train: BTreeMap<String, f64>,
    /// The last validation metrics (`val/...`), if validation ran.
    pub last_val: BTreeMap<String, f64>,
}

/// Trains an experiment's policy with its objectives (see the module docs for the step).
pub struct Trainer<P: Policy> {
    config: TrainerConfig,
    policy: Option<P>,
    objectives: Objectives<P>,
    optim: OptimStep,
    device: Device,
    eval_device: Device,
    train_memory: MemoryStream<P::Memory>,
    global_step: u64,
    epoch: u64,
    batch_in_epoch: usize,
    sink: JsonlSink,
    window: MeanAccumulator,
    last_val: BTreeMap<String, f64>,
}

impl<P: Policy> Trainer<P> {
    /// Validates the config, creates the run directory and writes `config.json` there (the
    /// trainer config, the policy, every objective's hyperparameters and `hyperparameters`).
    ///
    /// Build the policy on [`TrainerConfig::device`] with autodiff (`config.device()?.autodiff()`).
    pub fn new(
        experiment: Experiment<P>,
        config: TrainerConfig,
        hyperparameters: serde_json::Value,
    ) -> Result<Self, TrainError> {
        config.validate()?;
        let eval_device = config.device()?;
        let device = eval_device.clone().autodiff();
        let run_dir = config.run_dir.clone();
        std::fs::create_dir_all(&run_dir).map_err(|source| TrainError::RunDir {
            path: run_dir.clone(),
            source,
        })?;
        let (policy, objectives) = experiment.into_parts();
        let resolved = serde_json::json!({
            "policy": P::NAME,
            "produces": P::produces().iter().map(|k| k.name).collect::<Vec<_>>(),
            "objectives": objectives.hyperparameters().into_iter()
                .map(|(name, h)| serde_json::json!({"name": name, "hyperparameters": h}))
                .collect::<Vec<_>>(),
            "trainer": config,
            "hyperparameters": hyperparameters,
        });
        let text = serde_json::to_vec_pretty(&resolved).map_err(|e| TrainError::RunDir {
            path: run_dir.join("config.json"),
            source: std::io::Error::other(e),
        })?;
        checkpoint::write_atomic(&run_dir.join("config.json"), &text)?;
        let sink = JsonlSink::open(&run_dir).map_err(|source| TrainError::RunDir {
            path: run_dir.clone(),
            source,
        })?;
        let total_steps = config.max_steps.map(|s| s as usize);
        let optim = OptimStep::new(config.optimizer.clone(), total_steps)
            .map_err(crate::optim::OptimError::from)?;
        Ok(Self {
            config,
            policy: Some(policy),
            objectives,
            optim,
            device,
            eval_device,
            train_memory: MemoryStream::default(),
            global_step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            sink,
            window: MeanAccumulator::default(),
            last_val: BTreeMap::new(),
        })
    }

    /// Like [`Trainer::new`], then restores model, optimizer, schedule, position in the data and
    /// carried memory from a full checkpoint (`from`: a checkpoint directory, or a run
    /// directory whose newest checkpoint is used).
    pub fn resume(
        experiment: Experiment<P>,
        config: TrainerConfig,
        hyperparameters: serde_json::Value,
        from: &Path,
    ) -> Result<Self, TrainError> {
        let dir = checkpoint::resolve(from)?;
        let mut trainer = Self::new(experiment, config, hyperparameters)?;
        let model_path = dir.join("model.bpk");
        let policy = trainer
            .take_policy()
            .try_load_file(&model_path)
            .map_err(|e| checkpoint::CheckpointError::Corrupt {
                path: model_path.clone(),
                message: e.to_string(),
            })?;
        let (state, memory) = checkpoint::read_state(&dir)?;
        let carried = if state.has_memory {
            let like = policy.initial_memory(state.last_timestamps.len(), &trainer.device);
            Some(P::Memory::import(&like, &mut memory.into_iter())?)
        } else {
            None
        };
        trainer.policy = Some(policy);
        let optim = std::mem::replace(
            &mut trainer.optim,
            OptimStep::new(trainer.config.optimizer.clone(), None)
                .map_err(crate::optim::OptimError::from)?,
        );
        trainer.optim = optim.load(&dir)?;
        trainer.train_memory = MemoryStream::from_parts(carried, state.last_timestamps);
        trainer.global_step = state.global_step;
        trainer.epoch = state.epoch;
        trainer.batch_in_epoch = state.batch_in_epoch;
        tracing::info!(checkpoint = %dir.display(), step = state.global_step, "resumed");
        Ok(trainer)
    }

    /// The policy being trained.
    pub fn policy(&self) -> &P {
        self.policy
            .as_ref()
            .expect("the policy is only taken inside an optimizer step")
    }

    /// Consumes the trainer, returning the trained policy.
    pub fn into_policy(mut self) -> P {
        self.take_policy()
    }

    /// Optimizer steps taken.
    pub fn global_step(&self) -> u64 {
        self.global_step
    }

    /// The training device (autodiff); build batches and the policy on it.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn take_policy(&mut self) -> P {
        self.policy
            .take()
            .expect("the policy is only taken inside an optimizer step")
    }

    fn done(&self) -> bool {
        self.config
            .max_steps
            .is_some_and(|max| self.global_step >= max)
            || self.epoch >= self.config.max_epochs
    }

    /// Trains until `max_steps` or `max_epochs`, validating on `val` when configured.
    pub fn fit(
        &mut self,
        train: &mut dyn BatchSource,
        mut val: Option<&mut dyn BatchSource>,
    ) -> Result<Summary, TrainError> {
        let start = Instant::now();
        let (mut batches, mut frames) = (0u64, 0u64);
        let mut last_train = BTreeMap::new();
        while !self.done() {
            let device = self.device.clone();
            let mut stream = train.epoch(self.epoch, self.batch_in_epoch, &device);
            let mut exhausted = true;
            while let Some(batch) = stream.next() {
                let batch = batch.map_err(TrainError::Data)?;
                frames += batch
                    .info
                    .timestamp
                    .iter()
                    .map(|t| t.len() as u64)
                    .sum::<u64>();
                batches += 1;
                let stepped = self.train_step(batch)?;
                self.batch_in_epoch += 1;
                if batches % self.config.log_freq == 0 {
                    last_train = self.log_window(start, batches, frames)?;
                }
                if stepped {
                    let mut val_due = self.after_optimizer_step()?;
                    val_due &= val.is_some();
                    if val_due {
                        drop(stream);
                        self.run_validation(val.as_deref_mut())?;
                        stream = train.epoch(self.epoch, self.batch_in_epoch, &device);
                    }
                    if self.done() {
                        exhausted = false;
                        break;
                    }
                }
            }
            drop(stream);
            if exhausted {
                self.end_epoch(val.as_deref_mut())?;
            }
        }
        if !self.window.is_empty() {
            last_train = self.log_window(start, batches, frames)?;
        }
        let seconds = start.elapsed().as_secs_f64();
        Ok(Summary {
            steps: self.global_step,
            batches,
            seconds,
            frames_per_second: frames as f64 / seconds.max(1e-9),
            last_train,
            last_val: self.last_val.clone(),
        })
    }

    /// One batch: forward, objectives, backward and (every `accumulate_grad_batches`) an
    /// optimizer step. Returns whether the optimizer stepped.
    fn train_step(&mut self, batch: Batch) -> Result<bool, TrainError> {
        let step = self.global_step;
        let ctx = StepContext::train(self.batch_in_epoch, step);
        let policy = self.take_policy();
        let result = forward_losses(
            &self.objectives,
            &policy,
            batch,
            &mut self.train_memory,
            &self.device,
            &ctx,
        );
        let (losses, memory) = match result {
            Ok(out) => out,
            Err(source) => {
                self.policy = Some(policy);
                return Err(TrainError::Step { step, source });
            }
        };
        for (objective, loss) in &losses.per_objective {
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                self.policy = Some(policy);
                return Err(TrainError::NonFiniteLoss {
                    step,
                    objective,
                    value,
                });
            }
        }
        self.window.add(&losses.metric_values());
        let (policy, report) = self.optim.backward_step(policy, losses.total)?;
        self.policy = Some(policy);
        self.train_memory.keep(memory);
        Ok(report.is_some())
    }

    /// Bookkeeping after an optimizer step; returns whether validation is due.
    fn after_optimizer_step(&mut self) -> Result<bool, TrainError> {
        self.global_step += 1;
        let step = self.global_step;
        let lr = BTreeMap::from([("train/lr".to_owned(), self.optim.lr())]);
        self.write(MetricRecord {
            step,
            stage: "train".into(),
            values: lr,
        })?;
        if self
            .config
            .save_freq
            .is_some_and(|f| step.is_multiple_of(f))
        {
            self.save_weights()?;
        }
        if self
            .config
            .checkpoint_freq
            .is_some_and(|f| step.is_multiple_of(f))
        {
            self.save_checkpoint()?;
        }
        Ok(self
            .config
            .val_every_n_steps
            .is_some_and(|f| step.is_multiple_of(f)))
    }

    fn end_epoch<'s>(
        &mut self,
        val: Option<&mut (dyn BatchSource + 's)>,
    ) -> Result<(), TrainError> {
        if self.optim.pending_batches() > 0 {
            let policy = self.take_policy();
            let (policy, report) = self.optim.flush(policy);
            self.policy = Some(policy);
            if report.is_some() {
                self.after_optimizer_step()?;
            }
        }
        self.epoch += 1;
        self.batch_in_epoch = 0;
        if self.config.val_at_epoch_end {
            self.run_validation(val)?;
        }
        Ok(())
    }

    fn log_window(
        &mut self,
        start: Instant,
        batches: u64,
        frames: u64,
    ) -> Result<BTreeMap<String, f64>, TrainError> {
        let mut values = self.window.take("train");
        let seconds = start.elapsed().as_secs_f64().max(1e-9);
        values.insert("train/batches_per_second".into(), batches as f64 / seconds);
        values.insert("train/frames_per_second".into(), frames as f64 / seconds);
        self.write(MetricRecord {
            step: self.global_step,
            stage: "train".into(),
            values: values.clone(),
        })?;
        Ok(values)
    }

    fn write(&mut self, record: MetricRecord) -> Result<(), TrainError> {
        let path = self.sink.path().to_owned();
        self.sink
            .write(&record)
            .map_err(|source| TrainError::RunDir { path, source })
    }

    /// One pass over `val` without gradients, with its own memory; logs the means.
    fn run_validation<'s>(
        &mut self,
        val: Option<&mut (dyn BatchSource + 's)>,
    ) -> Result<(), TrainError> {
        let Some(val) = val else { return Ok(()) };
        let model = self.policy().valid();
        let mut memory = MemoryStream::<P::Memory>::default();
        let mut means = MeanAccumulator::default();
        let step = self.global_step;
        for (i, batch) in val.epoch(0, 0, &self.eval_device).enumerate() {
            let batch = batch.map_err(TrainError::Data)?;
            let ctx = StepContext::val(i, step);
            let (losses, next) = forward_losses(
                &self.objectives,
                &model,
                batch,
                &mut memory,
                &self.eval_device,
                &ctx,
            )
            .map_err(|source| TrainError::Step { step, source })?;
            means.add(&losses.metric_values());
            memory.keep(next);
        }
        let values = means.take("val");
        if !values.is_empty() {
            self.last_val = values.clone();
            self.write(MetricRecord {
                step,
                stage: "val".into(),
                values,
            })?;
        }
        Ok(())
    }

    /// Writes `weights/step-<N>.bpk` (model only; all are kept).
    pub fn save_weights(&mut self) -> Result<(), TrainError> {
        let dir = self.config.run_dir.join("weights");
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join(format!("{}.bpk", step_name(self.global_step)));
        let tmp = dir.join(format!(".{}.bpk.tmp", step_name(self.global_step)));
        self.policy().clone().save_file(&tmp).map_err(|e| {
            checkpoint::CheckpointError::Corrupt {
                path: tmp.clone(),
                message: e.to_string(),
            }
        })?;
        std::fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    /// Writes a full, resumable checkpoint `checkpoints/step-<N>/` and keeps the newest `keep_last`.
    pub fn save_checkpoint(&mut self) -> Result<(), TrainError> {
        let parent = self.config.run_dir.join("checkpoints");
        let name = step_name(self.global_step);
        let tmp = parent.join(format!(".{name}.tmp"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(io(&tmp))?;
        }
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        let model = tmp.join("model.bpk");
        self.policy().clone().save_file(&model).map_err(|e| {
            checkpoint::CheckpointError::Corrupt {
                path: model.clone(),
                message: e.to_string(),
            }
        })?;
        self.optim.save(&tmp)?;
        let (memory, last_timestamps) = self.train_memory.parts();
        let mut data = Vec::new();
        if let Some(memory) = memory {
            memory.export(&mut data);
        }
        let state = TrainerState {
            global_step: self.global_step,
            epoch: self.epoch,
            batch_in_epoch: self.batch_in_epoch,
            last_timestamps: last_timestamps.to_vec(),
            has_memory: memory.is_some(),
        };
        checkpoint::write_state(&tmp, &state, &data)?;
        checkpoint::commit(&tmp, &parent.join(name), self.config.keep_last)?;
        Ok(())
    }
}
