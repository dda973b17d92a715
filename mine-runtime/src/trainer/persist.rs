//! The run directory: claimed, then the resolved config and hyperparameters at start, weights,
//! checkpoints and plots.

use std::path::{Path, PathBuf};

use mine_dsl::policy::Policy;

use super::run_dir::{CONFIG_FILE, HPARAMS_FILE, RunDir, RunDirMode};
use super::{Checkpointed, TrainError, Trainer};
use crate::checkpoint::fs_atomic::write_atomic;
use crate::checkpoint::memory_file::save_memory;
use crate::checkpoint::{
    EMA_FILE, MODEL_FILE, RankMemory, STATE_FORMAT, rank_memory_file, save_module, write_state,
};
use crate::metrics::MetricsMark;
use crate::sync;

impl<P: Policy> Trainer<P> {
    /// Claims the run directory (unless the program did, or an earlier `fit`), cuts its metric
    /// files back to a checkpoint just resumed from, and writes the resolved configuration and
    /// hyperparameters.
    pub(super) fn prepare_run_dir(&mut self) -> Result<(), TrainError> {
        if self.run_dir.is_none() {
            let mode = match &self.resumed {
                Some(resumed) => RunDirMode::Resume(resumed.checkpoint.clone()),
                None => RunDirMode::Fresh,
            };
            self.run_dir = Some(RunDir::claim(&self.config.run_dir, mode)?);
        }
        if let (Some(claim), Some(resumed)) = (&self.run_dir, &self.resumed) {
            claim.admit_resume(&resumed.checkpoint)?;
        }
        self.rewind_metrics()?;
        let dir = &self.config.run_dir;
        let fail = |action, path: &Path, cause| TrainError::RunDir {
            action,
            path: path.to_owned(),
            cause,
        };
        let config = match &self.config_file {
            Some(text) => text.clone(),
            None => self.config.to_toml_string(),
        };
        let path = dir.join(CONFIG_FILE);
        write_atomic(&path, config.as_bytes()).map_err(|e| fail("write", &path, e))?;
        let path = dir.join(HPARAMS_FILE);
        let text = serde_json::to_string_pretty(&self.hyperparameter_record())
            .unwrap_or_else(|_| "{}".into());
        write_atomic(&path, text.as_bytes()).map_err(|e| fail("write", &path, e))?;
        self.checkpointer.clean_temporaries();
        Ok(())
    }

    /// Everything `hparams.json` records: the trainer config, each objective's hyperparameters,
    /// the policy's name and the user's own.
    pub fn hyperparameter_record(&self) -> serde_json::Value {
        let objectives: serde_json::Map<String, serde_json::Value> = self
            .objectives
            .hyperparameters()
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect();
        serde_json::json!({
            "policy": P::NAME,
            "trainer": serde_json::to_value(&self.config).unwrap_or_default(),
            "objectives": objectives,
            "user": self.hyperparameters,
        })
    }

    /// Writes the weights (and EMA weights) of the current step to `run_dir/weights` (rank 0's
    /// replica: every replica holds the same weights).
    pub fn save_weights(&self) -> Result<PathBuf, TrainError> {
        let ema = self.ema.as_ref().map(|e| e.module());
        sync::note_checkpoint();
        Ok(self
            .checkpointer
            .save_weights(self.state.step, self.policy(), ema)?)
    }

    /// Writes a full checkpoint of the current step, recording where the metric files stand
    /// (flush the sinks first); returns its directory. Holds rank 0's weights and optimizer
    /// state (every replica's are the same), and every rank's memory.
    pub fn save_checkpoint(&self) -> Result<PathBuf, TrainError> {
        let mut snapshots: Vec<_> = self
            .ranks
            .ranks
            .iter()
            .map(|r| r.memory.snapshot())
            .collect();
        let mut state = self.state.clone();
        state.format = STATE_FORMAT;
        state.metrics = Some(MetricsMark::measure(&self.config.run_dir)?);
        state.has_ema = self.ema.is_some();
        state.has_memory = snapshots[0].memory.is_some();
        state.last_timestamp = snapshots[0].last_timestamp.clone();
        state.world_size = snapshots.len();
        state.other_ranks = snapshots[1..]
            .iter()
            .map(|s| RankMemory {
                has_memory: s.memory.is_some(),
                last_timestamp: s.last_timestamp.clone(),
            })
            .collect();
        let policy = self.policy();
        let optim = self.optim();
        let ema = self.ema.as_ref().map(|e| e.module());
        sync::note_checkpoint();
        let dir = self.checkpointer.write_full(self.state.step, |dir| {
            save_module(policy, &dir.join(MODEL_FILE))?;
            optim.save(dir)?;
            if let Some(ema) = ema {
                save_module(ema, &dir.join(EMA_FILE))?;
            }
            for (rank, snapshot) in snapshots.iter_mut().enumerate() {
                if let Some(memory) = snapshot.memory.take() {
                    save_memory(&dir.join(rank_memory_file(rank)), memory)?;
                }
            }
            write_state(dir, &state)
        })?;
        tracing::info!(step = self.state.step, path = %dir.display(), "checkpoint saved");
        self.run_checkpoint_hooks(&dir)?;
        Ok(dir)
    }

    /// Calls every [`on_checkpoint`](Trainer::on_checkpoint) hook for the checkpoint `dir`.
    fn run_checkpoint_hooks(&self, dir: &Path) -> Result<(), TrainError> {
        let saved = Checkpointed {
            step: self.state.step,
            dir,
            policy: self.policy(),
            ema: self.ema.as_ref().map(|e| e.module()),
        };
        let mut hooks = self.checkpoint_hooks.borrow_mut();
        for hook in hooks.iter_mut() {
            hook(&saved).map_err(|message| TrainError::CheckpointHook {
                step: saved.step,
                message,
            })?;
        }
        Ok(())
    }

    /// Redraws the run directory's loss and learning-rate plots from its metrics (when
    /// `plots` is on). A plot that cannot be drawn is a warning, not the end of the run.
    pub(super) fn render_plots(&self) {
        if !self.config.plots {
            return;
        }
        match crate::metrics::plot::render_run_plots(&self.config.run_dir) {
            Ok(files) => tracing::debug!(?files, "plots drawn"),
            Err(error) => tracing::warn!(%error, "plots not drawn"),
        }
    }
}
