//! One synthetic episode: simulated, drawn, and encoded into MineStudio chunks.

use mine_dsl::action::EnvActionFrame;

use super::config::{SyntheticConfig, SyntheticTask};
use super::rng::SplitMix64;
use super::scene::SceneFrame;
use super::segmentation::segmentation_chunks;
use super::{colors, recall, track};
use crate::data::convert::action_chunk;
use crate::data::pickle::{PyValue, dumps};
use crate::data::video::encode_mp4_chunk;

/// Blocks walked per frame with `forward` (or strafed with `left` / `right`).
const STEP_BLOCKS: f64 = 0.2;

/// The stored name of episode `index` (zero-padded, so names sort in index order).
pub fn episode_name(config: &SyntheticConfig, index: usize) -> String {
    format!("synthetic-{}-{index:07}", config.task.name())
}

/// The frames of episode `index`: what each shows and the action recorded with it.
///
/// Deterministic in `(config.seed, config.task, index, config.frames_per_episode)`; the stored
/// dataset holds exactly these actions, and these scenes drawn with [`SceneFrame::render`].
pub fn simulate_episode(config: &SyntheticConfig, index: usize) -> Vec<SceneFrame> {
    let mut rng = SplitMix64::for_episode(config.seed, index);
    match config.task {
        SyntheticTask::Track => track::simulate(&mut rng, config.frames_per_episode),
        SyntheticTask::Colors => colors::simulate(&mut rng, config.frames_per_episode),
        SyntheticTask::Recall => recall::simulate(&mut rng, config.frames_per_episode),
    }
}

/// Where the agent is, integrated from its actions (for the meta info).
#[derive(Clone, Copy, Default)]
struct Pose {
    yaw: f64,
    pitch: f64,
    x: f64,
    z: f64,
}

impl Pose {
    fn step(self, a: &EnvActionFrame) -> Self {
        let pressed = |n: &str| a.pressed(n).unwrap_or(false);
        let yaw = self.yaw + a.camera[1];
        let pitch = (self.pitch + a.camera[0]).clamp(-90.0, 90.0);
        let (sin, cos) = yaw.to_radians().sin_cos();
        let fwd = f64::from(u8::from(pressed("forward"))) - f64::from(u8::from(pressed("back")));
        let side = f64::from(u8::from(pressed("right"))) - f64::from(u8::from(pressed("left")));
        // Minecraft axes: yaw 0 faces +z, yaw 90 faces -x.
        Self {
            yaw,
            pitch,
            x: self.x + STEP_BLOCKS * (-sin * fwd - cos * side),
            z: self.z + STEP_BLOCKS * (cos * fwd - sin * side),
        }
    }
}

/// The per-frame meta info dicts, with MineStudio's keys (pose before the frame's action).
fn meta_infos(frames: &[SceneFrame], task: SyntheticTask) -> Vec<PyValue> {
    let s = |k: &str| PyValue::Str(k.to_string());
    let mut pose = Pose::default();
    let mut prev = pose;
    let mut out = Vec::with_capacity(frames.len());
    for f in frames {
        let hotbar = match task {
            SyntheticTask::Track => track::BACKGROUNDS
                .iter()
                .position(|c| *c == f.background)
                .unwrap_or(0),
            SyntheticTask::Colors | SyntheticTask::Recall => 0,
        };
        out.push(PyValue::Dict(vec![
            (s("yaw"), PyValue::Float(pose.yaw)),
            (s("pitch"), PyValue::Float(pose.pitch)),
            (s("xpos"), PyValue::Float(pose.x)),
            (s("ypos"), PyValue::Float(64.0)),
            (s("zpos"), PyValue::Float(pose.z)),
            (s("hotbar"), PyValue::Int(hotbar as i64)),
            (s("inventory"), PyValue::List(Vec::new())),
            (s("delta_yaw"), PyValue::Float(pose.yaw - prev.yaw)),
            (s("delta_pitch"), PyValue::Float(pose.pitch - prev.pitch)),
            (s("delta_inventory"), PyValue::Dict(Vec::new())),
            (s("cursor_x"), PyValue::Int(0)),
            (s("cursor_y"), PyValue::Int(0)),
        ]));
        prev = pose;
        pose = pose.step(&f.action);
    }
    out
}

/// An episode's chunk values, ready to store.
pub(super) struct EncodedEpisode {
    pub name: String,
    pub image: Vec<Vec<u8>>,
    pub action: Vec<Vec<u8>>,
    pub meta: Vec<Vec<u8>>,
    /// Empty unless the config writes the segmentation modality.
    pub segmentation: Vec<Vec<u8>>,
}

/// Simulates, draws and encodes episode `index`.
pub(super) fn encode_episode(
    config: &SyntheticConfig,
    index: usize,
) -> Result<EncodedEpisode, String> {
    let frames = simulate_episode(config, index);
    let metas = meta_infos(&frames, config.task);
    let cs = config.chunk_size;
    let mut out = EncodedEpisode {
        name: episode_name(config, index),
        image: Vec::with_capacity(frames.len() / cs),
        action: Vec::with_capacity(frames.len() / cs),
        meta: Vec::with_capacity(frames.len() / cs),
        segmentation: Vec::new(),
    };
    if config.segmentation {
        out.segmentation = segmentation_chunks(&frames, config.width, config.height, cs);
    }
    for (chunk, meta) in frames.chunks_exact(cs).zip(metas.chunks_exact(cs)) {
        let rgb: Vec<Vec<u8>> = chunk
            .iter()
            .map(|f| f.render(config.width, config.height))
            .collect();
        out.image.push(encode_mp4_chunk(
            &rgb,
            config.width,
            config.height,
            config.fps,
        )?);
        let actions: Vec<EnvActionFrame> = chunk.iter().map(|f| f.action).collect();
        out.action.push(dumps(&action_chunk(&actions)));
        out.meta.push(dumps(&PyValue::List(meta.to_vec())));
    }
    Ok(out)
}
