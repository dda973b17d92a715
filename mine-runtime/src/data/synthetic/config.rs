//! What to generate: size, seed and task of a synthetic dataset (serde, validated).

use serde::{Deserialize, Serialize};

use crate::data::error::{DataError, DataResult};

/// Largest accepted frame side (pixels).
pub const MAX_SIDE: usize = 1024;
/// Smallest accepted frame side (pixels): the scene's grid needs room.
pub const MIN_SIDE: usize = 32;

/// The behaviour the recorded actions follow (see the [module docs](super)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyntheticTask {
    /// Turn towards a coloured square, walk up to it and hit it (`attack` for red, `use` for
    /// yellow); press `hotbar.N` on the frame the background changes (needs memory).
    #[default]
    Track,
    /// The whole frame has one of six colours, each mapped to one action; a memoryless
    /// sanity task that even a tiny model learns in a few steps.
    Colors,
    /// A coloured cue flashes for two frames, then a grey screen follows for 12-24 frames
    /// while the agent keeps doing what the cue asked for: a memory task for long-trajectory
    /// training (the cue is often in an earlier batch than the frames that need it).
    Recall,
}

impl SyntheticTask {
    /// The task's name as written in configs and episode names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Track => "track",
            Self::Colors => "colors",
            Self::Recall => "recall",
        }
    }
}

/// Size, seed and task of a synthetic dataset; every field has a default (8 episodes of 256
/// frames at 128x128, chunks of 32, seed 0, [`SyntheticTask::Track`]).
///
/// ```
/// use mine_runtime::data::synthetic::{SyntheticConfig, SyntheticTask};
/// let cfg: SyntheticConfig = toml::from_str("episodes = 2\ntask = \"colors\"").unwrap();
/// assert_eq!((cfg.episodes, cfg.task, cfg.width), (2, SyntheticTask::Colors, 128));
/// cfg.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntheticConfig {
    /// Number of episodes.
    pub episodes: usize,
    /// Frames of every episode; a multiple of `chunk_size`.
    pub frames_per_episode: usize,
    /// Frame width in pixels (even, `MIN_SIDE..=MAX_SIDE`).
    pub width: usize,
    /// Frame height in pixels (even, `MIN_SIDE..=MAX_SIDE`).
    pub height: usize,
    /// Frames per stored chunk (MineStudio: 32).
    pub chunk_size: usize,
    /// Frame rate written into the video chunks.
    pub fps: u32,
    /// Seed of everything random; the same config always gives the same dataset.
    pub seed: u64,
    /// The behaviour to record.
    pub task: SyntheticTask,
    /// Also write the `segmentation` modality (ROCKET-1's data): every square of the `track`
    /// task is an interaction with its mask (see [`super::segmentation`]). Needs frames of at
    /// most 640x360, the size MineStudio's masks are stored at.
    pub segmentation: bool,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            episodes: 8,
            frames_per_episode: 256,
            width: 128,
            height: 128,
            chunk_size: 32,
            fps: 20,
            seed: 0,
            task: SyntheticTask::Track,
            segmentation: false,
        }
    }
}

impl SyntheticConfig {
    /// Total frames of the dataset.
    pub fn total_frames(&self) -> usize {
        self.episodes * self.frames_per_episode
    }

    /// Checks ranges; the message names the field and the fix.
    pub fn validate(&self) -> DataResult<()> {
        let fail = |m: String| Err(DataError::Config(format!("synthetic dataset: {m}")));
        if self.episodes == 0 || self.episodes > 1_000_000 {
            return fail(format!("`episodes` is {}; use 1..=1000000", self.episodes));
        }
        if self.chunk_size == 0 || self.chunk_size > 4096 {
            return fail(format!(
                "`chunk_size` is {}; use 1..=4096 (MineStudio uses 32)",
                self.chunk_size
            ));
        }
        if self.frames_per_episode == 0 || !self.frames_per_episode.is_multiple_of(self.chunk_size)
        {
            return fail(format!(
                "`frames_per_episode` ({}) must be a positive multiple of `chunk_size` ({}); \
                 episodes are stored in whole chunks",
                self.frames_per_episode, self.chunk_size
            ));
        }
        if self.frames_per_episode > 1 << 24 {
            return fail(format!(
                "`frames_per_episode` is {}; use at most {}",
                self.frames_per_episode,
                1 << 24
            ));
        }
        for (name, side) in [("width", self.width), ("height", self.height)] {
            if !(MIN_SIDE..=MAX_SIDE).contains(&side) || !side.is_multiple_of(2) {
                return fail(format!(
                    "`{name}` is {side}; use an even size in {MIN_SIDE}..={MAX_SIDE} (H.264 4:2:0 \
                     needs even sides)"
                ));
            }
        }
        if self.segmentation && self.task != SyntheticTask::Track {
            return fail(format!(
                "`segmentation = true` draws the masks of the `track` task's squares; task \
                 `{}` has no objects (use task = \"track\")",
                self.task.name()
            ));
        }
        let (rows, cols) = crate::data::segmentation::RLE_SHAPE;
        if self.segmentation && (self.width > cols || self.height > rows) {
            return fail(format!(
                "`segmentation = true` needs frames of at most {cols}x{rows} (MineStudio stores \
                 masks at that size); the frames are {}x{}",
                self.width, self.height
            ));
        }
        if self.fps == 0 || self.fps > 1000 {
            return fail(format!(
                "`fps` is {}; use 1..=1000 (MineStudio: 20)",
                self.fps
            ));
        }
        Ok(())
    }
}
