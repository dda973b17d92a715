//! One dataset item: a window of every modality plus its bookkeeping.

use mine_dsl::action::{AgentActionFrame, EnvActionFrame};

use super::pickle::PyValue;
use super::segmentation::SegmentationWindow;

/// Frames of one window, RGB24, zero frames on padding.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageWindow {
    /// Frame width.
    pub width: usize,
    /// Frame height.
    pub height: usize,
    /// `len * height * width * 3` bytes, frame after frame.
    pub frames: Vec<u8>,
    /// 1 for real frames, 0 for padding.
    pub mask: Vec<u8>,
}

impl ImageWindow {
    /// Number of frames.
    pub fn len(&self) -> usize {
        self.mask.len()
    }

    /// Whether the window holds no frames.
    pub fn is_empty(&self) -> bool {
        self.mask.is_empty()
    }

    /// The bytes of frame `i` (`height * width * 3`).
    pub fn frame(&self, i: usize) -> &[u8] {
        let n = self.width * self.height * 3;
        &self.frames[i * n..(i + 1) * n]
    }
}

/// Actions of one window.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionWindow {
    /// Environment actions (with previous actions enabled: frames `1..`).
    pub env: Vec<EnvActionFrame>,
    /// Agent actions for `env` (VPT mapping of [`mine_dsl::action::ActionSpace::vpt`]).
    pub agent: Vec<AgentActionFrame>,
    /// Previous environment actions (frames `..len-1`), when enabled.
    pub env_prev: Option<Vec<EnvActionFrame>>,
    /// Agent actions for `env_prev`, when enabled.
    pub agent_prev: Option<Vec<AgentActionFrame>>,
    /// 1 for real frames, 0 for padding (all ones with previous actions, like MineStudio).
    pub mask: Vec<u8>,
}

/// Meta info of one window: the per-frame dicts, `None` on padding.
#[derive(Clone, Debug, PartialEq)]
pub struct MetaWindow {
    /// One dict per frame.
    pub frames: Vec<Option<PyValue>>,
    /// 1 for real frames, 0 for padding.
    pub mask: Vec<u8>,
}

impl MetaWindow {
    /// One field across the window (MineStudio's `meta_info[key]` list), `None` where absent.
    pub fn field(&self, key: &str) -> Vec<Option<&PyValue>> {
        self.frames
            .iter()
            .map(|f| f.as_ref().and_then(|d| d.get(key)))
            .collect()
    }
}

/// One item of a [`super::dataset::RawDataset`].
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Dataset index of the item.
    pub index: usize,
    /// Episode name.
    pub episode: String,
    /// Window number within the episode (event datasets: the item's index among its
    /// event's items).
    pub relative_idx: usize,
    /// `"<window>/<windows>"` (event datasets: `"<item>/<items>"` among the split's items of
    /// the event).
    pub progress: String,
    /// MineStudio's `text`: `"raw"`, or for an event dataset the event without its
    /// `minecraft.` prefixes (`"mine_block:oak_log"`).
    pub text: String,
    /// Frame index of every time step (continues into padding).
    pub timestamp: Vec<i64>,
    /// Images, when read.
    pub image: Option<ImageWindow>,
    /// Actions, when read.
    pub action: Option<ActionWindow>,
    /// Meta info, when read.
    pub meta_info: Option<MetaWindow>,
    /// Object masks and interactions, when read.
    pub segmentation: Option<SegmentationWindow>,
    /// The training mask: the action mask when actions are read, else that of the image,
    /// meta info or segmentation, the first read in this order.
    pub mask: Vec<u8>,
}
