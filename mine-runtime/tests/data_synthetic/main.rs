//! The synthetic dataset generator: what it writes reads back through `RawDataset` and
//! `DataLoader` with the intended scenes and actions; complete datasets are reused, broken
//! ones regenerated, foreign directories and bad configs refused.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor};
use mine_dsl::action::{ActionSpace, AgentActionFrame, EnvActionFrame};
use mine_runtime::data::pickle::PyValue;
use mine_runtime::data::synthetic::{
    GeneratedDataset, MANIFEST_FILE, SceneFrame, SyntheticConfig, SyntheticTask, TargetKind,
    far_turn, generate, near_turn, simulate_episode, track,
};
use mine_runtime::data::{DataError, DataLoader, DatasetConfig, Modality, RawDataset};

mod lifecycle;
mod loader;
mod read_back;
mod tasks;

/// A small dataset of `task` (3 episodes of 96 frames, 96x64).
fn small(task: SyntheticTask) -> SyntheticConfig {
    SyntheticConfig {
        episodes: 3,
        frames_per_episode: 96,
        width: 96,
        height: 64,
        chunk_size: 32,
        seed: 7,
        task,
        ..SyntheticConfig::default()
    }
}
