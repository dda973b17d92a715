//! Data-layer throughput: frames/s decoded and batched for the fixture and for a larger
//! generated dataset, plus peak memory.
//!
//! ```text
//! MINE_SHARED_DIR=../shared cargo run --release -p mine-runtime --example data_bench [EPISODES]
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::Device;
use mine_runtime::data::lmdb::LmdbPart;
use mine_runtime::data::video::decode_chunk_yuv;
use mine_runtime::data::writer::PartWriter;
use mine_runtime::data::{DataLoader, DatasetConfig, Location, RawDataset};

fn shared() -> PathBuf {
    std::env::var("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

fn peak_rss_mib() -> f64 {
    mine_runtime::metrics::peak_rss_mib().unwrap_or(f64::NAN)
}

/// Copies the fixture's chunks under `episodes` new names: a bigger dataset of real H.264.
fn generate(tiny: &Path, out: &Path, episodes: usize) -> Result<(), Box<dyn std::error::Error>> {
    for modality in ["image", "action"] {
        let mut sources = Vec::new();
        for part in ["part-2", "part-4"] {
            let p = LmdbPart::open(&tiny.join(modality).join(part), modality)?;
            for info in &p.chunk_infos {
                let chunks = (0..info.num_frames / 32)
                    .map(|c| {
                        p.require(
                            &format!("({}, {})", info.episode_idx, c * 32),
                            &Location::default(),
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                sources.push((info.episode.clone(), chunks));
            }
        }
        sources.sort();
        let mut w = PartWriter::create(&out.join(modality).join(format!("part-{episodes}")), 32)?;
        for e in 0..episodes {
            let (name, chunks) = &sources[e % sources.len()];
            w.add_episode(&format!("gen-{e:05}-{name}"), chunks)?;
        }
        w.finish()?;
    }
    Ok(())
}

fn run(
    label: &str,
    dirs: Vec<PathBuf>,
    batch_size: usize,
    workers: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut cfg = DatasetConfig::new(dirs);
    cfg.split_ratio = 1.0;
    cfg.win_len = 32;
    cfg.batch_size = batch_size;
    cfg.episode_continuous_batch = true;
    cfg.num_workers = workers;
    cfg.prefetch = 4;
    let loader = DataLoader::new(RawDataset::open(cfg)?);
    let start = Instant::now();
    let mut host_frames = 0usize;
    for batch in loader.host_epoch(0) {
        host_frames += batch?.batch_size * 32;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label}: {:.0} frames/s decoded+collated on the host (no tensors)",
        host_frames as f64 / secs
    );
    let device = Device::flex();
    let start = Instant::now();
    let mut frames = 0usize;
    for batch in loader.epoch(0, &device) {
        let batch = batch?;
        frames += batch
            .image
            .as_ref()
            .map_or(0, |i| i.dims()[0] * i.dims()[1]);
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{label}: {frames} frames in {secs:.2} s = {:.0} frames/s decoded+batched (batch {batch_size}, {workers} workers); peak RSS {:.0} MiB",
        frames as f64 / secs,
        peak_rss_mib()
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tiny = shared().join("fixtures/minestudio-tiny");
    let episodes: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);

    // Raw decoding speed, one thread.
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
    let secs = start.elapsed().as_secs_f64();
    println!(
        "H.264 decode (OpenH264, 1 thread, 224x224): {:.0} frames/s",
        decoded as f64 / secs
    );

    run("fixture (320 frames)", vec![tiny.clone()], 2, 2)?;
    let tmp = std::env::temp_dir().join(format!("mine-data-bench-{}", std::process::id()));
    generate(&tiny, &tmp, episodes)?;
    let result = run(
        &format!("generated ({episodes} episodes)"),
        vec![tmp.clone()],
        8,
        2,
    );
    std::fs::remove_dir_all(&tmp).ok();
    result?;
    println!("peak memory (VmHWM): {:.0} MiB", peak_rss_mib());
    Ok(())
}
