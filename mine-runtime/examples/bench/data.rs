//! Data loading: frames/s through the loader (H.264 decode, resize to 128x128, batching into
//! tensors) on a dataset of real Minecraft video: the fixture's chunks copied under many
//! episode names.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use mine_runtime::data::lmdb::LmdbPart;
use mine_runtime::data::video::VideoBackend;
use mine_runtime::data::video::decode_chunk_yuv;
use mine_runtime::data::writer::PartWriter;
use mine_runtime::data::{DataLoader, DatasetConfig, Location, RawDataset};

type Error = Box<dyn std::error::Error>;

/// What the data section measured.
pub struct DataFigures {
    /// H.264 decoding alone, one thread.
    pub decode_fps: f64,
    /// Frames in the generated dataset.
    pub frames: usize,
    /// Decoded, resized and collated on the host.
    pub host_fps: f64,
    /// The same, into tensors on the flex device.
    pub tensor_fps: f64,
    /// Batch size and workers used.
    pub batch_size: usize,
    /// Loader threads.
    pub workers: usize,
}

/// `../shared` (or `MINE_SHARED_DIR`): where the fixture dataset lives.
pub fn shared() -> PathBuf {
    std::env::var("MINE_SHARED_DIR").map_or_else(
        |_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
        PathBuf::from,
    )
}

/// Copies the fixture's chunks under `episodes` new names: a bigger dataset of real H.264.
fn generate(tiny: &Path, out: &Path, episodes: usize) -> Result<(), Error> {
    for modality in ["image", "action"] {
        let mut sources = Vec::new();
        for part in ["part-2", "part-4"] {
            let p = LmdbPart::open(&tiny.join(modality).join(part), modality)?;
            for info in &p.chunk_infos {
                let chunks = (0..info.num_frames / 32)
                    .map(|c| {
                        let key = format!("({}, {})", info.episode_idx, c * 32);
                        p.require(&key, &Location::default())
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                sources.push((info.episode.clone(), chunks));
            }
        }
        sources.sort();
        let dir = out.join(modality).join(format!("part-{episodes}"));
        let mut w = PartWriter::create(&dir, 32)?;
        for e in 0..episodes {
            let (name, chunks) = &sources[e % sources.len()];
            w.add_episode(&format!("gen-{e:05}-{name}"), chunks)?;
        }
        w.finish()?;
    }
    Ok(())
}

fn decode_speed(tiny: &Path) -> Result<f64, Error> {
    let part = LmdbPart::open(&tiny.join("image/part-2"), "image")?;
    let chunks: Vec<Vec<u8>> = part
        .keys()?
        .iter()
        .filter(|k| k.starts_with('('))
        .map(|k| part.require(k, &Location::default()))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    let mut decoded = 0;
    for _ in 0..5 {
        for c in &chunks {
            decoded += decode_chunk_yuv(c)?.len();
        }
    }
    Ok(decoded as f64 / start.elapsed().as_secs_f64())
}

/// A generated dataset in a temporary directory, removed when dropped.
pub struct TempDataset {
    /// The dataset directory (`image/`, `action/`).
    pub dir: PathBuf,
}

impl TempDataset {
    /// Copies the fixture's episodes under `episodes` names into a new temporary directory.
    pub fn generate(episodes: usize) -> Result<Self, Error> {
        let tiny = fixture()?;
        let dir = std::env::temp_dir().join(format!("mine-bench-data-{}", std::process::id()));
        let dataset = Self { dir };
        generate(&tiny, &dataset.dir, episodes)?;
        Ok(dataset)
    }
}

impl Drop for TempDataset {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn fixture() -> Result<PathBuf, Error> {
    let tiny = shared().join("fixtures/minestudio-tiny");
    if !tiny.is_dir() {
        return Err(format!(
            "no fixture dataset at {}: set MINE_SHARED_DIR to the shared folder",
            tiny.display()
        )
        .into());
    }
    Ok(tiny)
}

/// The benchmark's loader on `dir`: win_len 16, 128x128 frames, episode-continuous batches.
pub fn loader(
    dir: &Path,
    batch_size: usize,
    workers: usize,
    video: VideoBackend,
) -> Result<DataLoader, Error> {
    let mut cfg = DatasetConfig::new(vec![dir.to_path_buf()]);
    cfg.video_backend = video;
    cfg.split_ratio = 1.0;
    cfg.win_len = 16;
    cfg.frame_width = 128;
    cfg.frame_height = 128;
    cfg.batch_size = batch_size;
    cfg.episode_continuous_batch = true;
    cfg.num_workers = workers;
    cfg.prefetch = 4;
    Ok(DataLoader::new(RawDataset::open(cfg)?))
}

/// Measures the loader on `episodes` copies of the fixture's episodes.
pub fn measure(
    episodes: usize,
    batch_size: usize,
    workers: usize,
    video: VideoBackend,
) -> Result<DataFigures, Error> {
    let decode_fps = decode_speed(&fixture()?)?;
    let dataset = TempDataset::generate(episodes)?;
    let loader = loader(&dataset.dir, batch_size, workers, video)?;
    let start = Instant::now();
    let mut frames = 0usize;
    for batch in loader.host_epoch(0) {
        frames += batch?.batch_size * 16;
    }
    let host_fps = frames as f64 / start.elapsed().as_secs_f64();
    let device = Device::flex();
    let start = Instant::now();
    let mut tensor_frames = 0usize;
    for batch in loader.epoch(0, &device) {
        tensor_frames += batch?
            .image
            .as_ref()
            .map_or(0, |i| i.dims()[0] * i.dims()[1]);
    }
    Ok(DataFigures {
        decode_fps,
        frames,
        host_fps,
        tensor_fps: tensor_frames as f64 / start.elapsed().as_secs_f64(),
        batch_size,
        workers,
    })
}
