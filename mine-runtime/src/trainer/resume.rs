//! Resuming: a checkpoint loaded into the trainer, and the run directory's metric files cut
//! back to where that checkpoint left them, so that every step is logged once.

use std::path::{Path, PathBuf};

use mine_dsl::memory::MemoryState;
use mine_dsl::policy::Policy;

use super::run_dir::lies_inside;
use super::{TrainError, Trainer};
use crate::checkpoint::memory_file::load_memory;
use crate::checkpoint::{
    CheckpointError, EMA_FILE, MODEL_FILE, RankMemory, load_module, rank_memory_file, read_state,
    resolve_checkpoint,
};
use crate::metrics::rewind::rewind_to_step;
use crate::metrics::{METRICS_FILE, MetricsMark};
use crate::trainer::memory_manager::{MemoryManager, MemorySnapshot};

/// The checkpoint a trainer was resumed from.
#[derive(Debug)]
pub(super) struct Resumed {
    /// The checkpoint directory (verified and loaded).
    pub checkpoint: PathBuf,
    /// How to cut the metric files back, until the next `fit` has done it.
    rewind: Option<Rewind>,
}

/// How far back the metric files go on resume.
#[derive(Debug)]
enum Rewind {
    /// To the lengths the checkpoint recorded.
    ToMark(MetricsMark),
    /// To the checkpoint's step (a format-1 checkpoint recorded no lengths).
    ToStep(u64),
}

impl<P: Policy> Trainer<P> {
    /// Restores everything a full checkpoint holds (see [`Trainer::resume_from`]): the
    /// weights and optimizer state into every replica, each rank's memory.
    pub(super) fn load_checkpoint(&mut self, path: &Path) -> Result<(), TrainError> {
        let dir = resolve_checkpoint(path)?;
        let state = read_state(&dir)?;
        let world = self.ranks.world_size();
        if state.world_size != world {
            return Err(TrainError::WorldSize {
                checkpoint: dir,
                written: state.world_size,
                configured: world,
            });
        }
        for replica in &mut self.ranks.replicas {
            replica.replace(|policy, optim| {
                let policy = load_module(policy, &dir.join(MODEL_FILE))?;
                let optim = optim.load(&dir).map_err(CheckpointError::from)?;
                Ok((policy, optim))
            })?;
        }
        match (&mut self.ema, state.has_ema) {
            (Some(ema), true) => {
                let module = ema.module().clone();
                ema.set_module(load_module(module, &dir.join(EMA_FILE))?);
            }
            (Some(ema), false) => {
                tracing::warn!("the checkpoint has no EMA weights: the average restarts here");
                ema.set_module(self.ranks.replicas[0].policy().clone());
            }
            (None, true) => tracing::warn!("the checkpoint's EMA weights are not used (no `ema`)"),
            (None, false) => {}
        }
        let rank_states = std::iter::once(RankMemory {
            has_memory: state.has_memory,
            last_timestamp: state.last_timestamp.clone(),
        })
        .chain(state.other_ranks.iter().cloned());
        for (rank, saved) in rank_states.enumerate().take(world) {
            let memory_path = dir.join(rank_memory_file(rank));
            let memory: Option<MemoryState> = if saved.has_memory {
                Some(load_memory(&memory_path)?)
            } else {
                None
            };
            let snapshot = MemorySnapshot {
                memory,
                last_timestamp: saved.last_timestamp,
            };
            let device = &self.ranks.replica_of(rank).train_device;
            let restored = MemoryManager::restore(snapshot, device).map_err(|cause| {
                CheckpointError::Memory {
                    path: memory_path,
                    cause,
                }
            })?;
            self.ranks.ranks[rank].memory = restored.with_mode(self.config.memory);
        }
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
        self.resumed = Some(Resumed {
            rewind: Some(match &state.metrics {
                Some(mark) => Rewind::ToMark(mark.clone()),
                None => Rewind::ToStep(state.step),
            }),
            checkpoint: dir,
        });
        self.state = state;
        Ok(())
    }

    /// Cuts the run directory's metric files back to the checkpoint resumed from, once, when
    /// that checkpoint lies in this run directory (a checkpoint of another run leaves its own
    /// directory's files alone). Plots are redrawn from what is left.
    pub(super) fn rewind_metrics(&mut self) -> Result<(), TrainError> {
        let Some(resumed) = self.resumed.as_mut() else {
            return Ok(());
        };
        let Some(rewind) = resumed.rewind.take() else {
            return Ok(());
        };
        let run_dir = &self.config.run_dir;
        if !lies_inside(&resumed.checkpoint, run_dir) {
            return Ok(());
        }
        match rewind {
            Rewind::ToMark(mark) => mark.rewind(run_dir)?,
            Rewind::ToStep(step) => {
                tracing::warn!(
                    step,
                    "the checkpoint does not record where the metric files stood (state format \
                     1): dropping what they hold after its step"
                );
                rewind_to_step(run_dir, step)?;
            }
        }
        tracing::info!(
            step = self.state.step,
            run_dir = %run_dir.display(),
            "metric files cut back to the checkpoint"
        );
        if run_dir.join(METRICS_FILE).exists() {
            self.render_plots();
        }
        Ok(())
    }
}
