//! Data loading side by side: our loader and MineStudio's, each a data server in its own
//! process on the same generated dataset, alternating rounds. A round (`run N`) starts an
//! epoch, takes its first N batches (B=8, T=16, 128x128 frames) and stops it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use burn::tensor::Device;
use mine_runtime::data::video::VideoBackend;
use serde::{Deserialize, Serialize};

use super::data::{TempDataset, loader};
use super::reference;
use super::server::{Server, alternate, refuse, serve_lines};
use super::stats::median;

type Error = Box<dyn std::error::Error>;

/// Batch size of both loaders.
const BATCH: usize = 8;
/// Episodes in the generated dataset (20,480 frames, 160 batches an epoch).
const EPISODES: usize = 256;

/// What a data server answers to `run N`.
#[derive(Debug, Serialize, Deserialize)]
pub struct DataReply {
    /// Frames in the batches taken.
    pub frames: usize,
    /// From the start of the epoch to the last batch in hand.
    pub seconds: f64,
    /// The server process's peak resident memory so far (`VmHWM`).
    pub peak_rss_mib: f64,
    /// The sum of the worker processes' `VmHWM` (0 for ours: its workers are threads).
    #[serde(default)]
    pub workers_peak_rss_mib: f64,
    /// Proportional set size of the process and its workers after the last batch.
    pub pss_mib: f64,
    /// CPU time (user + system) the process and its workers spent in the round: a figure a
    /// busy machine changes less than the wall clock's.
    pub cpu_seconds: f64,
}

/// User + system CPU seconds of this process, all its threads.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes the struct it is given; RUSAGE_SELF is always valid, and on
    // failure the zeroed struct stays (0 seconds).
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// `Pss` of `/proc/self/smaps_rollup` in MiB (NaN where the platform has none).
fn own_pss_mib() -> f64 {
    let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Serves our loader on `dir` with `workers` threads and decoder `video`, batches into flex
/// tensors.
pub fn serve(dir: &Path, workers: usize, video: VideoBackend) -> Result<(), Error> {
    let loader = match loader(dir, BATCH, workers, video) {
        Ok(loader) => loader,
        Err(e) => return refuse(e),
    };
    let device = Device::flex();
    let ready = serde_json::json!({
        "ready": true,
        "workers": workers,
        "items": loader.dataset().len(),
        "batches_per_epoch": loader.index_batches(0).len(),
    });
    serve_lines(ready, |n| {
        let (start, cpu) = (Instant::now(), cpu_seconds());
        let mut batches = loader.epoch(0, &device);
        let mut frames = 0;
        for batch in batches.by_ref().take(n) {
            frames += batch?
                .image
                .as_ref()
                .map_or(0, |i| i.dims()[0] * i.dims()[1]);
        }
        let seconds = start.elapsed().as_secs_f64();
        let reply = DataReply {
            frames,
            seconds,
            peak_rss_mib: mine_runtime::metrics::peak_rss_mib().unwrap_or(f64::NAN),
            workers_peak_rss_mib: 0.0,
            pss_mib: own_pss_mib(),
            cpu_seconds: cpu_seconds() - cpu,
        };
        drop(batches);
        Ok(serde_json::to_value(reply)?)
    })
}

/// The decoder's name on the command line.
fn video_name(video: VideoBackend) -> &'static str {
    match video {
        VideoBackend::Openh264 => "openh264",
        VideoBackend::Ffmpeg => "ffmpeg",
    }
}

/// One loader's server and its rounds.
struct Contender {
    name: String,
    server: Server,
    fps: Vec<f64>,
    cpu_ms_per_frame: Vec<f64>,
    cores: Vec<f64>,
    last: Option<DataReply>,
}

impl Contender {
    fn start(name: String, command: Command, warmup: usize) -> Result<Self, Error> {
        let mut server = Server::spawn(command)?;
        server.run::<DataReply>(warmup)?;
        Ok(Self {
            name,
            server,
            fps: Vec::new(),
            cpu_ms_per_frame: Vec::new(),
            cores: Vec::new(),
            last: None,
        })
    }
}

/// Our loader against MineStudio's (`python` is the reference venv's interpreter), `rounds`
/// alternating rounds of `batches` batches with `workers` workers each; prints the table.
pub fn side_by_side(
    python: &PathBuf,
    workers: usize,
    video: VideoBackend,
    rounds: usize,
    batches: usize,
) -> Result<(), Error> {
    let dataset = TempDataset::generate(EPISODES)?;
    let dir = dataset
        .dir
        .to_str()
        .ok_or("the temporary directory's path is not UTF-8")?;
    let warmup = (batches / 4).max(1);
    let mut ours = Command::new(std::env::current_exe()?);
    ours.args(["--serve-data", dir, "--workers", &workers.to_string()]);
    ours.args(["--video-backend", video_name(video)]);
    let name = format!("ours ({workers} worker threads, {})", video_name(video));
    let ours = Contender::start(name, ours, warmup)?;
    let reference = Contender::start(
        String::new(),
        reference::data_command(python, &dataset.dir, workers),
        warmup,
    )?;
    let info = &reference.server.info;
    let name = format!(
        "MineStudio {} / PyTorch {}, PyAV {}, OpenCV {} ({workers} worker processes)",
        info["minestudio"].as_str().unwrap_or("?"),
        info["torch"].as_str().unwrap_or("?"),
        info["av"].as_str().unwrap_or("?"),
        info["cv2"].as_str().unwrap_or("?"),
    );
    let mut contenders = [ours, Contender { name, ..reference }];
    alternate(&mut contenders, rounds, |c| {
        let reply: DataReply = c.server.run(batches)?;
        c.fps.push(reply.frames as f64 / reply.seconds);
        c.cpu_ms_per_frame
            .push(reply.cpu_seconds * 1e3 / reply.frames as f64);
        c.cores.push(reply.cpu_seconds / reply.seconds);
        c.last = Some(reply);
        Ok(())
    })?;
    print_table(&contenders, workers, rounds, batches);
    Ok(())
}

fn print_table(contenders: &[Contender], workers: usize, rounds: usize, batches: usize) {
    println!(
        "## Data loading side by side (real Minecraft H.264, 224x224 resized to 128x128)\n\n\
         {EPISODES} episodes (the fixture's chunks under new names); win_len 16, batch {BATCH}, \
         episode-continuous, {workers} workers each. A round starts an epoch and takes its first \
         {batches} batches ({} frames); frames/s is the median of {rounds} rounds, the two loaders \
         alternating round by round after a warm-up round. Ours yields flex tensors, MineStudio \
         torch tensors. CPU ms/frame: user + system time of the process and its workers over \
         the round per frame (median), which another build on the machine disturbs less than \
         frames/s; cores: that CPU time over the round's wall time (median). Peak RSS: the server process's VmHWM; the workers' column sums the \
         worker processes' VmHWM (shared pages counted in each); PSS: process + workers after \
         the last batch of the last round.\n",
        batches * BATCH * 16
    );
    println!(
        "| implementation | frames/s | rounds' frames/s | CPU ms/frame | cores | peak RSS MiB | workers' peak RSS MiB | PSS MiB |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut summary = Vec::new();
    for c in contenders {
        let fps = median(c.fps.clone());
        let cpu = median(c.cpu_ms_per_frame.clone());
        let cores = median(c.cores.clone());
        let rounds: Vec<String> = c.fps.iter().map(|f| format!("{f:.0}")).collect();
        let (peak, workers, pss) = c.last.as_ref().map_or((f64::NAN, 0.0, f64::NAN), |r| {
            (r.peak_rss_mib, r.workers_peak_rss_mib, r.pss_mib)
        });
        println!(
            "| {} | {fps:.0} | {} | {cpu:.2} | {cores:.2} | {peak:.0} | {workers:.0} | {pss:.0} |",
            c.name,
            rounds.join(", ")
        );
        summary.push((fps, cpu, peak + workers, pss));
    }
    if let [
        (ours, our_cpu, our_rss, our_pss),
        (theirs, their_cpu, their_rss, their_pss),
    ] = summary.as_slice()
    {
        println!(
            "| ours vs reference | {:.2}x the frames/s | | {:.2}x the CPU time | | {:.2}x the memory (process + workers) | | {:.2}x |\n",
            ours / theirs,
            our_cpu / their_cpu,
            our_rss / their_rss,
            our_pss / their_pss
        );
    }
}
