//! The run directory: resolved config and hyperparameters at start, checkpoints, resume.

use std::fs;
use std::path::{Path, PathBuf};

use mine_dsl::memory::MemoryState;
use mine_dsl::policy::Policy;

use super::{TrainError, Trainer};
use crate::checkpoint::memory_file::{load_memory, save_memory};
use crate::checkpoint::{
    CheckpointError, EMA_FILE, MEMORY_FILE, MODEL_FILE, load_module, read_state,
    resolve_checkpoint, save_module, write_state,
};
use crate::fs_atomic::write_atomic;
use crate::memory_manager::{MemoryManager, MemorySnapshot};

/// File of the run directory holding the resolved trainer configuration (TOML).
pub const CONFIG_FILE: &str = "config.toml";
/// File of the run directory holding every hyperparameter (JSON).
pub const HPARAMS_FILE: &str = "hparams.json";

impl<P: Policy> Trainer<P> {
    /// Creates the run directory and writes the resolved configuration and hyperparameters.
    pub(super) fn prepare_run_dir(&self) -> Result<(), TrainError> {
        let dir = &self.config.run_dir;
        let fail = |action, path: &Path, source| TrainError::RunDir {
            action,
            path: path.to_owned(),
            source,
        };
        fs::create_dir_all(dir).map_err(|e| fail("create", dir, e))?;
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

    /// Writes the weights (and EMA weights) of the current step to `run_dir/weights`.
    pub fn save_weights(&self) -> Result<PathBuf, TrainError> {
        let ema = self.ema.as_ref().map(|e| e.module());
        Ok(self
            .checkpointer
            .save_weights(self.state.step, self.policy(), ema)?)
    }

    /// Writes a full checkpoint of the current step; returns its directory.
    pub fn save_checkpoint(&self) -> Result<PathBuf, TrainError> {
        let snapshot = self.memory.snapshot();
        let mut state = self.state.clone();
        state.has_ema = self.ema.is_some();
        state.has_memory = snapshot.memory.is_some();
        state.last_timestamp = snapshot.last_timestamp;
        let policy = self.policy();
        let optim = self.optim();
        let ema = self.ema.as_ref().map(|e| e.module());
        let dir = self.checkpointer.write_full(self.state.step, |dir| {
            save_module(policy, &dir.join(MODEL_FILE))?;
            optim.save(dir)?;
            if let Some(ema) = ema {
                save_module(ema, &dir.join(EMA_FILE))?;
            }
            if let Some(memory) = snapshot.memory {
                save_memory(&dir.join(MEMORY_FILE), memory)?;
            }
            write_state(dir, &state)
        })?;
        tracing::info!(step = self.state.step, path = %dir.display(), "checkpoint saved");
        Ok(dir)
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

    /// Restores everything a full checkpoint holds (see [`Trainer::resume_from`]).
    pub(super) fn load_checkpoint(&mut self, path: &Path) -> Result<(), TrainError> {
        let dir = resolve_checkpoint(path)?;
        let state = read_state(&dir)?;
        let policy = self
            .policy
            .take()
            .expect("the policy is only taken out during an optimizer step");
        self.policy = Some(load_module(policy, &dir.join(MODEL_FILE))?);
        let optim = self
            .optim
            .take()
            .expect("the optimizer is only taken out while loading a checkpoint");
        self.optim = Some(optim.load(&dir).map_err(CheckpointError::from)?);
        match (&mut self.ema, state.has_ema) {
            (Some(ema), true) => {
                let module = ema.module().clone();
                ema.set_module(load_module(module, &dir.join(EMA_FILE))?);
            }
            (Some(ema), false) => {
                tracing::warn!("the checkpoint has no EMA weights: the average restarts here");
                let policy = self.policy.as_ref().expect("the policy was just loaded");
                ema.set_module(policy.clone());
            }
            (None, true) => tracing::warn!("the checkpoint's EMA weights are not used (no `ema`)"),
            (None, false) => {}
        }
        let memory_path = dir.join(MEMORY_FILE);
        let memory: Option<MemoryState> = if state.has_memory {
            Some(load_memory(&memory_path)?)
        } else {
            None
        };
        let snapshot = MemorySnapshot {
            memory,
            last_timestamp: state.last_timestamp.clone(),
        };
        self.memory = MemoryManager::restore(snapshot, &self.train_device)
            .map_err(|source| CheckpointError::Memory {
                path: memory_path,
                source,
            })?
            .with_mode(self.config.memory);
        if state.seed != self.config.seed {
            tracing::warn!(
                checkpoint = state.seed,
                config = self.config.seed,
                "resuming with the checkpoint's seed, not the configured one"
            );
        }
        tracing::info!(
            step = state.step,
            epoch = state.epoch,
            batch = state.batch_in_epoch,
            path = %dir.display(),
            "resumed from checkpoint"
        );
        self.state = state;
        Ok(())
    }
}
