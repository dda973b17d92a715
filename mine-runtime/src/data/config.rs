//! Dataset and loader configuration (serde: TOML/JSON friendly, every field but the paths defaulted).

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::augment::VideoAugConfig;
use super::error::{DataError, DataResult};
use super::modality::Modality;
use super::video::VideoBackend;

/// Which side of the episode split to read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// The first `split_ratio` of the episodes.
    #[default]
    Train,
    /// The remaining episodes.
    Val,
}

/// What to do with an episode whose data is bad.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorPolicy {
    /// Return the error (naming dataset, episode and chunk).
    #[default]
    Fail,
    /// Log a `tracing` warning and leave the episode (or, while loading, the batch) out.
    SkipEpisode,
}

/// A modality's window offsets (MineStudio's `read_bias` / `win_bias`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bias {
    /// Added to the window start (e.g. -1 to read the previous action too).
    #[serde(default)]
    pub read_bias: i64,
    /// Added to the window length.
    #[serde(default)]
    pub win_bias: i64,
}

fn default_modalities() -> Vec<Modality> {
    vec![Modality::Image, Modality::Action]
}
fn one() -> usize {
    1
}
fn default_win_len() -> usize {
    32
}
fn default_frame() -> usize {
    224
}
fn default_split_ratio() -> f64 {
    0.8
}
fn default_workers() -> usize {
    2
}
fn default_prefetch() -> usize {
    4
}

/// Everything needed to read a MineStudio dataset and batch it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetConfig {
    /// Dataset directories, each holding modality folders (`image/`, `action/`, ...).
    pub dataset_dirs: Vec<PathBuf>,
    /// Modalities to read; an episode must be present in all of them. `"segmentation"`
    /// (MineStudio's `SegmentationKernelCallback`) adds ROCKET-1's object masks, which the
    /// loader puts in `Batch::segmentation`.
    #[serde(default = "default_modalities")]
    pub modalities: Vec<Modality>,
    /// Frames per item.
    #[serde(default = "default_win_len")]
    pub win_len: usize,
    /// Take every `skip_frame`-th frame.
    #[serde(default = "one")]
    pub skip_frame: usize,
    /// Output frame width (frames are resized bilinearly when it differs from the stored one;
    /// segmentation masks, stored at 360x640, with OpenCV's nearest neighbour).
    #[serde(default = "default_frame")]
    pub frame_width: usize,
    /// Output frame height.
    #[serde(default = "default_frame")]
    pub frame_height: usize,
    /// Augment every window (MineStudio's `enable_video_aug`): one draw of colour jitter and
    /// affine warp per window, the same for all its frames and (warp only) their
    /// segmentation masks; see [`crate::data::augment`]. Off by default.
    #[serde(default)]
    pub enable_video_aug: bool,
    /// The ranges of the augmentation's draws (MineStudio's by default).
    #[serde(default)]
    pub video_aug: VideoAugConfig,
    /// Also return the previous frame's action (`env_prev_action`, `agent_prev_action`).
    #[serde(default)]
    pub enable_prev_action: bool,
    /// Per-modality window offsets; MineStudio's examples use
    /// `action = { read_bias = -1, win_bias = 1 }` with `enable_prev_action`.
    #[serde(default)]
    pub biases: HashMap<Modality, Bias>,
    /// Which split to read.
    #[serde(default)]
    pub split: Split,
    /// Fraction of episodes in the train split.
    #[serde(default = "default_split_ratio")]
    pub split_ratio: f64,
    /// Shuffle episodes (with Python's `random.seed(seed); random.shuffle`, like MineStudio).
    #[serde(default)]
    pub shuffle_episodes: bool,
    /// Seed of the episode shuffle and of the batch shuffle.
    #[serde(default)]
    pub seed: u64,
    /// What to do with bad episodes.
    #[serde(default)]
    pub on_error: ErrorPolicy,
    /// H.264 decoder.
    #[serde(default)]
    pub video_backend: VideoBackend,
    /// Items per batch.
    #[serde(default = "one")]
    pub batch_size: usize,
    /// Keep each batch row on one episode, window after window (`MineDistributedBatchSampler`).
    #[serde(default)]
    pub episode_continuous_batch: bool,
    /// Shuffle items between epochs (ignored with `episode_continuous_batch`).
    #[serde(default)]
    pub shuffle: bool,
    /// Number of data-parallel replicas.
    #[serde(default = "one")]
    pub num_replicas: usize,
    /// This replica's rank.
    #[serde(default)]
    pub rank: usize,
    /// Background threads reading items.
    #[serde(default = "default_workers")]
    pub num_workers: usize,
    /// Batches buffered ahead of the consumer.
    #[serde(default = "default_prefetch")]
    pub prefetch: usize,
    /// Makes this an event dataset (MineStudio's `EventDataset`, see
    /// [`crate::data::event`]): each item is the window ending at one occurrence of an event
    /// whose name matches (Python's `re.match`, e.g. `"minecraft.mine_block:.*"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_regex: Option<String>,
    /// Event datasets: the window of an event at frame `t` starts at `max(t - win_len +
    /// bias, 0)` (0: it ends just before the event frame; 1: on it). MineStudio's `bias`.
    #[serde(default)]
    pub bias: i64,
    /// Event datasets: drop an occurrence at most this many frames after the last one kept
    /// for the same event and episode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_nearby: Option<i64>,
    /// Event datasets: keep at most this many occurrences per event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_within: Option<usize>,
    /// Event datasets: the events LMDB directories (default: `<dataset_dir>/event` for every
    /// dataset directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_paths: Option<Vec<PathBuf>>,
}

impl DatasetConfig {
    /// A configuration with defaults for everything but the dataset directories.
    pub fn new(dataset_dirs: Vec<PathBuf>) -> Self {
        Self {
            dataset_dirs,
            modalities: default_modalities(),
            win_len: default_win_len(),
            skip_frame: 1,
            frame_width: default_frame(),
            frame_height: default_frame(),
            enable_video_aug: false,
            video_aug: VideoAugConfig::default(),
            enable_prev_action: false,
            biases: HashMap::new(),
            split: Split::Train,
            split_ratio: default_split_ratio(),
            shuffle_episodes: false,
            seed: 0,
            on_error: ErrorPolicy::Fail,
            video_backend: VideoBackend::Openh264,
            batch_size: 1,
            episode_continuous_batch: false,
            shuffle: false,
            num_replicas: 1,
            rank: 0,
            num_workers: default_workers(),
            prefetch: default_prefetch(),
            event_regex: None,
            bias: 0,
            min_nearby: None,
            max_within: None,
            event_paths: None,
        }
    }

    /// The bias of a modality (zero when not configured).
    pub fn bias(&self, modality: Modality) -> Bias {
        self.biases.get(&modality).copied().unwrap_or_default()
    }

    /// The event settings apply to event datasets only, which batch like MineStudio's
    /// `EventDataModule` (no episode-continuous rows).
    fn validate_events(&self) -> DataResult<()> {
        let set: Vec<&str> = [
            ("bias", self.bias != 0),
            ("min_nearby", self.min_nearby.is_some()),
            ("max_within", self.max_within.is_some()),
            ("event_paths", self.event_paths.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, on)| on.then_some(name))
        .collect();
        if self.event_regex.is_none() {
            if let Some(name) = set.first() {
                return Err(DataError::Config(format!(
                    "`{name}` applies to event datasets: set `event_regex` too (or remove \
                     `{name}`; per-modality window offsets are `biases`)"
                )));
            }
            return Ok(());
        }
        if self.episode_continuous_batch {
            return Err(DataError::Config(
                "`episode_continuous_batch` needs windows that follow each other, and an event \
                 dataset's (`event_regex`) end at events: set it to false"
                    .into(),
            ));
        }
        if self.max_within == Some(0) {
            return Err(DataError::Config(
                "`max_within` = 0 keeps no event: use at least 1, or remove it".into(),
            ));
        }
        Ok(())
    }

    /// Checks ranges and combinations; the message says which field to fix.
    pub fn validate(&self) -> DataResult<()> {
        let fail = |m: &str| Err(DataError::Config(m.to_string()));
        if self.dataset_dirs.is_empty() {
            return fail("`dataset_dirs` is empty");
        }
        if self.modalities.is_empty() {
            return fail("`modalities` is empty");
        }
        if self.win_len == 0 || self.skip_frame == 0 {
            return fail("`win_len` and `skip_frame` must be at least 1");
        }
        if self.frame_width == 0 || self.frame_height == 0 {
            return fail("`frame_width` and `frame_height` must be at least 1");
        }
        if !(0.0..=1.0).contains(&self.split_ratio) {
            return fail("`split_ratio` must lie in 0..=1");
        }
        if self.batch_size == 0 {
            return fail("`batch_size` must be at least 1");
        }
        if self.num_replicas == 0 || self.rank >= self.num_replicas {
            return fail("`rank` must be below `num_replicas` (at least 1)");
        }
        for (m, b) in &self.biases {
            if self.win_len as i64 + b.win_bias < 1 {
                return fail(&format!("`{}` win_bias leaves an empty window", m.name()));
            }
        }
        if self.video_backend == VideoBackend::Ffmpeg && !cfg!(feature = "ffmpeg") {
            return fail(
                "`video_backend = \"ffmpeg\"` needs mine-runtime built with `--features ffmpeg`",
            );
        }
        self.validate_events()?;
        if self.enable_video_aug {
            self.video_aug.validate()?;
        }
        if self.enable_prev_action && self.win_len as i64 + self.bias(Modality::Action).win_bias < 2
        {
            return fail("`enable_prev_action` needs an action window of at least 2 frames");
        }
        Ok(())
    }
}
