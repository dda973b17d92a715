//! A tiny recurrent policy, generated trajectories and config helpers for the trainer tests.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::prelude::*;
use mine_dsl::{Memory, policy::Forward};
use mine_runtime::optim::OptimizerConfig;
use mine_runtime::trainer::config::{ProgressMode, TrainerConfig};

/// Button class of each colour of the synthetic task.
pub const BUTTONS: [i64; 4] = [0, 17, 250, 4000];
/// Camera class of each colour (never the null class 60).
pub const CAMERAS: [i64; 4] = [10, 33, 77, 100];
/// RGB of each colour.
const PALETTE: [[f32; 3]; 4] = [
    [220.0, 30.0, 30.0],
    [30.0, 220.0, 30.0],
    [30.0, 30.0, 220.0],
    [200.0, 200.0, 40.0],
];
/// Rows, frames per window, frames per episode.
pub const B: usize = 3;
pub const T: usize = 4;
const EPISODE: usize = 10;
const HIDDEN: usize = 8;

/// The recurrent state: one hidden vector per row, and a frame counter.
#[derive(Clone, Debug, Memory)]
pub struct TinyMemory {
    pub hidden: Tensor<2>,
    pub frames: Vec<Tensor<2, Int>>,
}

/// A per-frame RNN over the mean colour of each frame, with the VPT action head's logits.
#[policy(produces(pi_logits), memory = TinyMemory)]
#[derive(Module, Debug)]
pub struct TinyRnn {
    input: Linear,
    recur: Linear,
    buttons: Linear,
    camera: Linear,
}

impl TinyRnn {
    pub fn new(device: &Device) -> Self {
        device.seed(7);
        Self {
            input: LinearConfig::new(3, HIDDEN).init(device),
            recur: LinearConfig::new(HIDDEN, HIDDEN)
                .with_bias(false)
                .init(device),
            buttons: LinearConfig::new(HIDDEN + 3, 8641).init(device),
            camera: LinearConfig::new(HIDDEN + 3, 121).init(device),
        }
    }
}

impl Policy for TinyRnn {
    fn initial_memory(&self, batch_size: usize, device: &Device) -> TinyMemory {
        TinyMemory {
            hidden: Tensor::zeros([batch_size, HIDDEN], device),
            frames: vec![Tensor::zeros([batch_size, 1], device)],
        }
    }

    fn forward(&self, batch: &Batch, memory: TinyMemory) -> Forward<Self> {
        let image = batch.image()?.clone();
        let [b, t, h, w, c] = image.dims();
        let colour = image
            .reshape([b, t, h * w, c])
            .mean_dim(2)
            .reshape([b, t, c])
            .div_scalar(255.0);
        let mut hidden = memory.hidden;
        let mut outputs = Vec::with_capacity(t);
        for step in 0..t {
            let x = colour
                .clone()
                .slice([0..b, step..step + 1, 0..c])
                .reshape([b, c]);
            hidden = (self.input.forward(x.clone()) + self.recur.forward(hidden)).tanh();
            outputs.push(Tensor::cat(vec![hidden.clone(), x], 1).reshape([b, 1, HIDDEN + c]));
        }
        let features = Tensor::cat(outputs, 1);
        let buttons =
            log_softmax(self.buttons.forward(features.clone()), 2).reshape([b, t, 1, 8641]);
        let camera = log_softmax(self.camera.forward(features), 2).reshape([b, t, 1, 121]);
        let frames = memory
            .frames
            .into_iter()
            .map(|f| f.add_scalar(t as i64))
            .collect();
        Ok((
            TinyRnnLatents {
                pi_logits: PiLogits { buttons, camera },
            },
            TinyMemory { hidden, frames },
        ))
    }
}

/// A deterministic pseudo-random sequence (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` episode-continuous batches of `B` rows: each row plays episodes of `EPISODE` frames back
/// to back, cut into windows of `T`; the last window of an episode is padded (mask 0).
pub fn trajectories(n: usize, seed: u64, device: &Device) -> Vec<Batch> {
    trajectories_of(B, n, seed, device)
}

/// [`trajectories`] with `rows` rows per batch.
pub fn trajectories_of(rows: usize, n: usize, seed: u64, device: &Device) -> Vec<Batch> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let windows_per_episode = EPISODE.div_ceil(T);
    (0..n)
        .map(|k| {
            let (mut image, mut buttons, mut camera, mut mask) = (vec![], vec![], vec![], vec![]);
            let mut info = BatchInfo::default();
            for row in 0..rows {
                // Rows are out of phase so that they start episodes in different batches.
                let window = k + row;
                let episode = window / windows_per_episode;
                let start = (window % windows_per_episode) * T;
                info.episode.push(format!("row{row}-ep{episode}"));
                info.timestamp
                    .push((start..start + T).map(|t| t as i64).collect());
                info.progress.push(format!(
                    "{}/{windows_per_episode}",
                    window % windows_per_episode
                ));
                for t in start..start + T {
                    let colour = (rng.next() % 4) as usize;
                    for _ in 0..4 {
                        let noise = (rng.next() % 21) as f32 - 10.0;
                        image.extend(PALETTE[colour].iter().map(|v| v + noise));
                    }
                    buttons.push(BUTTONS[colour]);
                    camera.push(CAMERAS[colour]);
                    mask.push(if t < EPISODE { 1.0f32 } else { 0.0 });
                }
            }
            Batch {
                image: Some(Tensor::from_data(
                    TensorData::new(image, [rows, T, 2, 2, 3]),
                    device,
                )),
                agent_action: Some(AgentAction {
                    buttons: Tensor::from_data(TensorData::new(buttons, [rows, T, 1]), device),
                    camera: Tensor::from_data(TensorData::new(camera, [rows, T, 1]), device),
                }),
                mask: Some(Tensor::from_data(TensorData::new(mask, [rows, T]), device)),
                info,
                ..Batch::default()
            }
        })
        .collect()
}

/// Every float parameter of `module`, in visiting order.
pub fn params<M: burn::module::Module>(module: &M) -> Vec<Vec<f32>> {
    struct Values(Vec<Vec<f32>>);
    impl burn::module::ModuleVisitor for Values {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            self.0.push(param.val().into_data().try_to_vec().unwrap());
        }
    }
    let mut values = Values(Vec::new());
    module.visit(&mut values);
    values.0
}

/// A fresh run directory under the system's temporary directory.
pub fn run_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mine-trainer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A quiet config for tests: AdamW at `lr`, no warmup, progress off, on the backend
/// `MINE_TEST_BACKEND` names (`flex` by default; see `common::test_backend`).
pub fn config(dir: &Path, max_steps: usize, lr: f64) -> TrainerConfig {
    TrainerConfig {
        backend: crate::common::test_backend(),
        optimizer: OptimizerConfig {
            learning_rate: lr,
            warmup_steps: 1,
            gradient_clip_val: Some(10.0),
            ..OptimizerConfig::default()
        },
        log_freq: 1,
        max_steps: Some(max_steps),
        run_dir: dir.to_owned(),
        progress: ProgressMode::Off,
        ..TrainerConfig::default()
    }
}

/// The `train/loss` of every logged step in `metrics.jsonl`, by step.
pub fn logged(dir: &Path, key: &str) -> Vec<(u64, f64)> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("metrics.jsonl exists");
    text.lines()
        .filter_map(|line| {
            let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
            Some((value["step"].as_u64()?, value.get(key)?.as_f64()?))
        })
        .collect()
}

/// Every `(step, key)` logged in `metrics.jsonl` (keys other than `step` and `wall_time`), in
/// file order, with its value.
pub fn logged_all(dir: &Path) -> Vec<(u64, String, f64)> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).expect("metrics.jsonl exists");
    let mut out = Vec::new();
    for line in text.lines() {
        let record: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        let step = record["step"].as_u64().expect("a step");
        for (key, value) in &record {
            if key != "step" && key != "wall_time" {
                out.push((step, key.clone(), value.as_f64().unwrap_or(f64::NAN)));
            }
        }
    }
    out
}

fn varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let (mut value, mut shift) = (0u64, 0);
    loop {
        let byte = bytes[*pos];
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
    }
}

/// The (tag, value) of a Summary message.
pub fn summary_values(bytes: &[u8]) -> Vec<(String, f32)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        assert_eq!(bytes[pos], 0x0a, "Summary.value");
        pos += 1;
        let len = varint(bytes, &mut pos) as usize;
        let value = &bytes[pos..pos + len];
        pos += len;
        let (mut tag, mut number) = (String::new(), f32::NAN);
        let mut p = 0;
        while p < value.len() {
            let key = value[p];
            p += 1;
            match key {
                0x0a => {
                    let l = varint(value, &mut p) as usize;
                    tag = String::from_utf8(value[p..p + l].to_vec()).unwrap();
                    p += l;
                }
                0x15 => {
                    number = f32::from_le_bytes(value[p..p + 4].try_into().unwrap());
                    p += 4;
                }
                other => panic!("unexpected field {other:#x}"),
            }
        }
        out.push((tag, number));
    }
    out
}

/// The payloads of an event file's TFRecords, every length and CRC checked; the file must end
/// with a complete record.
pub fn event_payloads(path: &Path) -> Vec<Vec<u8>> {
    use mine_runtime::metrics::tensorboard::masked_crc32c;
    let bytes = std::fs::read(path).unwrap();
    let mut pos = 0;
    let mut events = Vec::new();
    while pos < bytes.len() {
        let len_bytes = &bytes[pos..pos + 8];
        let len = u64::from_le_bytes(len_bytes.try_into().unwrap()) as usize;
        let len_crc = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap());
        assert_eq!(len_crc, masked_crc32c(len_bytes), "{}", path.display());
        let payload = &bytes[pos + 12..pos + 12 + len];
        let crc = u32::from_le_bytes(bytes[pos + 12 + len..pos + 16 + len].try_into().unwrap());
        assert_eq!(crc, masked_crc32c(payload), "{}", path.display());
        events.push(payload.to_vec());
        pos += 16 + len;
    }
    events
}

/// The scalar events of an event file as `(step, tag, value)`, after its header.
pub fn event_scalars(path: &Path) -> Vec<(u64, String, f32)> {
    let events = event_payloads(path);
    assert!(
        events[0].windows(13).any(|w| w == b"brain.Event:2"),
        "the first event is the header"
    );
    let mut scalars = Vec::new();
    for event in &events[1..] {
        let mut p = 0;
        assert_eq!(event[p], 0x09);
        let wall_time = f64::from_le_bytes(event[1..9].try_into().unwrap());
        assert!(wall_time > 1.6e9);
        p += 9;
        assert_eq!(event[p], 0x10);
        p += 1;
        let step = varint(event, &mut p);
        assert_eq!(event[p], 0x2a);
        p += 1;
        let len = varint(event, &mut p) as usize;
        for (tag, value) in summary_values(&event[p..p + len]) {
            scalars.push((step, tag, value));
        }
    }
    scalars
}

/// The scalar events of every event file of `run/tensorboard`, files in name order.
pub fn tensorboard_scalars(run: &Path) -> Vec<(u64, String, f32)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(run.join("tensorboard"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().flat_map(|f| event_scalars(f)).collect()
}

/// Copies the directory tree `from` to `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The names in a directory, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
