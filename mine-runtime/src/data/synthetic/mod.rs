//! Small, learnable synthetic datasets in MineStudio's LMDB format, generated on the spot so
//! examples and tests run on a fresh machine without downloading any data.
//!
//! [`generate`] writes `image/`, `action/` and `meta_info/` parts (and `segmentation/` when
//! asked) exactly like the contractor
//! converter ([`crate::data::convert`]): H.264 MP4 chunks of `chunk_size` frames, pickled
//! action dicts of numpy arrays, pickled lists of meta-info dicts. [`crate::data::RawDataset`]
//! reads the result like any MineStudio dataset. A `synthetic.json` manifest records the
//! config; see [`store`] for how an existing directory is reused or replaced.
//!
//! ```no_run
//! use mine_runtime::data::synthetic::{SyntheticConfig, generate};
//! use mine_runtime::data::{DataLoader, RawDataset};
//!
//! let data = generate(&SyntheticConfig::default(), "target/synthetic-track")?;
//! let mut cfg = data.dataset_config(); // 128x128 frames
//! cfg.win_len = 16;
//! cfg.batch_size = 2;
//! cfg.episode_continuous_batch = true;
//! let loader = DataLoader::new(RawDataset::open(cfg)?);
//! # Ok::<(), mine_runtime::data::DataError>(())
//! ```
//!
//! # The tasks
//!
//! Every recorded action is a deterministic function of what the frames show, so a policy
//! that sees the frames can drive the behaviour-cloning loss towards zero. Camera moves are
//! the centres of VPT camera bins ([`near_turn`] ≈ 1.6° = bin 7, [`far_turn`] ≈ 5.8° = bin 9,
//! negated for bins 3 and 1), so env actions survive the agent-action round trip exactly.
//! Shapes are large, flat and strongly coloured, so they survive H.264 compression.
//!
//! ## `track` (default)
//!
//! A flat background (one of four colours, [`track::BACKGROUNDS`]) and at times a square
//! (a quarter of the frame's side), red or yellow. The square sits on a grid of
//! `width / 20` by `height / 20` cells around the frame centre, at most 7 cells sideways and 4
//! up or down when it appears. For the visible frame the agent:
//!
//! * with no square: does nothing (the null action); after 1-5 idle frames a square appears
//!   at a random cell with a random colour;
//! * with the square off-centre: turns towards it. Yaw is ±[`far_turn`] while the square is 3
//!   or more cells sideways (also pressing `left` / `right`; the square then moves 2 cells
//!   towards the centre), ±[`near_turn`] at 1-2 cells (1 cell per frame), 0 when horizontally
//!   centred; pitch is ±[`near_turn`] (negative = up) while it is above or below the centre
//!   (1 cell per frame);
//! * with the square centred: presses `forward` plus `attack` (red) or `use` (yellow) for 4
//!   frames while the square grows; then it vanishes and 2-5 idle frames follow.
//!
//! Independently, about one frame in 24 switches the background to another colour, and on
//! exactly that frame the agent also presses `hotbar.N` (`N` = the new colour's index + 1,
//! also the meta info's `hotbar`). A single frame does not show whether the colour just
//! changed, so predicting these presses needs memory of the previous frames.
//!
//! In the default dataset (8 x 256 frames) 46 distinct agent (button, camera) pairs occur:
//! the null action (~33% of frames), `forward`+`attack` and `forward`+`use` (~17% each), and
//! the turns (15 camera classes, with or without strafe) and hotbar presses (~4%).
//!
//! ## `colors`
//!
//! The whole frame has one of six colours ([`colors::COLORS`]) for 4-12 frames at a time;
//! each colour has one action ([`colors::action_of`]): dark = nothing, red = `attack`, green
//! = `forward`+`sprint`, blue = yaw right [`far_turn`], yellow = `use` + pitch up
//! [`near_turn`], magenta = `left`+`jump` + yaw left [`near_turn`]. Memoryless and trivially
//! learnable: a smoke test for a training setup.
//!
//! ## `recall`
//!
//! Back-to-back trials: a cue fills the frame for [`recall::CUE_FRAMES`] frames in one of four
//! colours ([`recall::CUES`]), then the frame is grey for 12-24 frames. From the cue's first
//! frame to the next cue the agent repeats the cue's action ([`recall::action_of`]): red =
//! `attack`, green = `forward`, blue = `use`, yellow = `jump` + yaw right [`near_turn`]. A grey
//! frame does not show which action is due: with 16-frame windows, most grey frames' cues lie in
//! the previous batch of the episode, so only a policy whose memory is carried across batches
//! (`episode_continuous_batch`, a TransformerXL memory of 32 frames before the window) can drive the loss to zero;
//! with the memory reset every batch, those frames stay at chance among the four actions.
//! [`recall::cue_in_window`] tells which frames of a window need the carried memory.
//!
//! ## Segmentation (ROCKET-1)
//!
//! With `segmentation = true` (the `track` task only) a `segmentation/` modality is written
//! too, as MineStudio's segmentation converter writes it: every square is one interaction,
//! from its first to its last visible frame, with its mask, a point at its centre and an
//! interaction type by colour (red: Mine, `obj_id` 2; yellow: Use, read back as 3). The
//! reader's masks at the dataset's frame size are exactly the squares' pixels, so a policy
//! conditioned on them (ROCKET-1) is told where the target is and which button it takes
//! ([`segmentation`]).
//!
//! # Meta info
//!
//! One dict per frame with MineStudio's keys: `yaw`, `pitch` (degrees, integrated from the
//! camera actions), `xpos`, `ypos`, `zpos` (0.2 blocks per frame of `forward`/strafe),
//! `hotbar`, `inventory` (empty), `delta_yaw`, `delta_pitch` (against the previous frame, 0
//! on the first), `delta_inventory` (empty), `cursor_x`, `cursor_y` (0). Values are the pose
//! before the frame's action.

pub mod colors;
mod config;
mod episode;
pub mod recall;
pub(crate) mod rng;
mod scene;
pub mod segmentation;
pub mod store;
pub mod track;

use mine_dsl::action::ActionSpace;

pub use config::{MAX_SIDE, MIN_SIDE, SyntheticConfig, SyntheticTask};
pub use episode::{episode_name, simulate_episode};
pub use scene::{GRID_X, GRID_Y, SceneFrame, Target, TargetKind};
pub use store::{GeneratedDataset, MANIFEST_FILE, generate};

/// The small camera move (degrees): the centre of VPT camera bin 7 (≈ 1.615).
pub fn near_turn() -> f64 {
    ActionSpace::vpt().quantizer().undiscretize(7)
}

/// The large camera move (degrees): the centre of VPT camera bin 9 (≈ 5.811).
pub fn far_turn() -> f64 {
    ActionSpace::vpt().quantizer().undiscretize(9)
}
