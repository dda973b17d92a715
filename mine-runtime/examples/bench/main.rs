//! The benchmark: a VPT training step (ours, and MineStudio on PyTorch side by side with
//! `--reference`), the cost of the typed DSL, and data loading. Prints Markdown tables.
//!
//! ```text
//! cargo run --release -p mine-runtime --example bench -- [--reference] [--steps 15] [--rounds 3]
//!     [--warmup 3] [--only step|dsl|data]... [--backend flex|wgpu|cuda]
//!     [--model tiny|small|1x|2x|3x] [--precision f32|bf16-mixed] [--batch N] [--threads N]
//!     [--workers 2] [--batches 40] [--tune]
//! ```
//!
//! `--tune` finds the fastest kernel choices on this CPU instead (see [`tune`]): our step with
//! each kernel option that can matter here flipped, alternating, and the `[trainer.kernels]`
//! section that trains with the winner.
//!
//! `--threads N` gives each step server N compute threads (ours: rayon's pool, which burn's
//! flex backend and our kernels share; PyTorch: `torch.set_num_threads`), for scaling
//! measures; the default is every core.
//!
//! Training step on `flex` (the default): 128x128 frames, hidden 256, 4 heads, 2 attention
//! blocks, ImpalaCNN 16/32/32; behaviour cloning, backward, global-norm clipping, AdamW; memory
//! carried between steps; at B=2, T=16, memory 32 and B=4, T=32, memory 64. Each implementation
//! runs in its own process (a step server), warmed up, then both alternate `rounds` rounds of
//! `steps` steps so that the ratio comes from one run on one machine; the figures are medians
//! over all timed steps, and the peak resident memory of each process. `--reference` installs
//! PyTorch and MineStudio into a throwaway virtual environment first
//! (`examples/reference/setup.sh`; about 2.7 GiB from PyPI the first time). `--burn-ops`
//! (or `MINE_KERNELS=burn`) runs burn's own ops instead of our CPU kernels, `--no-winograd` (or
//! `MINE_WINOGRAD=0`) our direct 3x3 convolutions instead of the Winograd ones, `--no-bf16-dot`
//! (or `MINE_BF16_DOT=0`) under `--precision bf16-mixed` the f32 kernels on bf16-rounded
//! operands instead of the `vdpbf16ps` ones, `--no-bf16-winograd` (or `MINE_BF16_WINOGRAD=0`)
//! the direct `vdpbf16ps` kernels for the wide layers too, `--winograd-wide` (or
//! `MINE_WINOGRAD_WIDE=1`) the f32 Winograd kernel's 32-tile chunks at every width,
//! `--no-winograd4` (or `MINE_WINOGRAD4=0`) on CPUs without AVX-512 Winograd F(2x2, 3x3)
//! where F(4x4, 3x3) would run, `--winograd4-avx512` (or `MINE_WINOGRAD4_AVX512=1`) on CPUs
//! with AVX-512 the AVX2 F(4x4, 3x3) kernels where they apply: the benchmark sets these
//! [`KernelOptions`] for its own processes.
//!
//! `--backend cuda` (built with `--features cuda`) times VPT 2x, window 128, memory 256, batch
//! 8 in bf16-mixed, MineStudio's fine-tuning recipe per GPU, against MineStudio on the same GPU
//! under bf16 autocast; `--backend wgpu` the same in f32 without a reference (see
//! [`setup`](setup::Setup)). The table then adds what each GPU allocator holds.
//!
//! Data loading: our loader on real H.264 alone; with `--reference`, side by side with
//! MineStudio's own loader (its RawDataModule's episode-continuous PyTorch `DataLoader`), both
//! with `--workers` workers, alternating `rounds` rounds of `--batches` batches (see
//! [`data_rounds`]).

mod contender;
mod data;
mod data_rounds;
mod dsl;
mod reference;
mod server;
mod setup;
mod stats;
mod step;
mod tune;

use std::process::Command;

use contender::Contender;
use mine_runtime::data::video::VideoBackend;
use mine_runtime::kernels::KernelOptions;
use mine_runtime::trainer::backend::{Backend, Precision};
use server::alternate;
use setup::Setup;
use stats::{StepTimes, medians};

type Error = Box<dyn std::error::Error>;

/// The benchmark's command line.
#[derive(clap::Parser)]
#[command(
    about = "Times our training step, DSL and data loader (with --reference, against MineStudio on PyTorch); prints Markdown tables",
    after_help = "Environment: MINE_KERNELS=burn, MINE_WINOGRAD=0, MINE_BF16_DOT=0 MINE_BF16_WINOGRAD=0, MINE_WINOGRAD_WIDE=1, MINE_WINOGRAD4=0 and MINE_WINOGRAD4_AVX512=1 are the defaults of --burn-ops, --no-winograd, --no-bf16-dot, --no-bf16-winograd, --winograd-wide, --no-winograd4 and --winograd4-avx512; MINE_REFERENCE_VENV names an existing reference environment."
)]
struct Args {
    /// Run MineStudio on PyTorch side by side (makes the reference environment first).
    #[arg(long)]
    reference: bool,
    /// Find the fastest kernel choices on this CPU: our step with each kernel option that can
    /// matter here flipped, alternating; prints the `[trainer.kernels]` section to train with.
    #[arg(long, conflicts_with = "reference")]
    tune: bool,
    /// Timed steps per round.
    #[arg(long, default_value_t = 15, value_parser = at_least_one)]
    steps: usize,
    /// Rounds per implementation (the implementations alternate round by round).
    #[arg(long, default_value_t = 3, value_parser = at_least_one)]
    rounds: usize,
    /// Untimed steps before the first round.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Run only these parts (repeatable); default: all of them on flex, the step on a GPU.
    #[arg(long, value_parser = ["step", "dsl", "data"])]
    only: Vec<String>,
    /// Serve training steps of batch B, window T, memory M on stdin/stdout (the benchmark's
    /// own child processes).
    #[arg(long, num_args = 3, value_names = ["B", "T", "M"], hide = true)]
    serve: Option<Vec<usize>>,
    /// Serve our loader on this dataset directory (the benchmark's own child process).
    #[arg(long, hide = true)]
    serve_data: Option<std::path::PathBuf>,
    /// Data-loading workers, ours and MineStudio's.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Batches per data-loading round.
    #[arg(long, default_value_t = 40, value_parser = at_least_one)]
    batches: usize,
    /// Our loader's H.264 decoder: openh264 (bundled) or ffmpeg (built with `--features
    /// ffmpeg`).
    #[arg(long, default_value = "openh264", value_parser = video_backend)]
    video_backend: VideoBackend,
    /// The device: flex (CPU), wgpu or cuda (built with the feature of that name).
    #[arg(long, default_value = "flex", value_parser = |s: &str| Backend::try_from(s.to_owned()))]
    backend: Backend,
    /// The VPT size: tiny, small, 1x, 2x or 3x (default: small on flex, 2x on CUDA).
    #[arg(long)]
    model: Option<String>,
    /// f32 or bf16-mixed (default: f32 on flex, bf16-mixed on CUDA).
    #[arg(long, value_parser = |s: &str| Precision::try_from(s.to_owned()))]
    precision: Option<Precision>,
    /// The batch size: for the small VPT on flex, which of its two configurations to run (2:
    /// B=2 T=16, 4: B=4 T=32; default both); otherwise the batch (default 8 on a GPU).
    #[arg(long)]
    batch: Option<usize>,
    /// Compute threads per step server (default: every core).
    #[arg(long, value_parser = at_least_one)]
    threads: Option<usize>,
    /// Run burn's own ops instead of our CPU kernels.
    #[arg(long)]
    burn_ops: bool,
    /// Our direct 3x3 convolutions instead of the Winograd ones.
    #[arg(long)]
    no_winograd: bool,
    /// Under bf16-mixed, the f32 kernels on bf16-rounded operands instead of `vdpbf16ps`.
    #[arg(long)]
    no_bf16_dot: bool,
    /// Under bf16-mixed, the direct `vdpbf16ps` kernels for the wide 3x3 convolutions too (64
    /// input and output channels and more) instead of the bf16 Winograd ones (forward, input
    /// and weight gradients).
    #[arg(long)]
    no_bf16_winograd: bool,
    /// The f32 Winograd kernel's chunks of 32 tiles (16 accumulators) at every width, instead
    /// of 16 tiles up to 32 input channels (the choice to measure on cores with two 512-bit
    /// FMA units).
    #[arg(long)]
    winograd_wide: bool,
    /// On CPUs without AVX-512, Winograd F(2x2, 3x3) for every Winograd convolution instead of
    /// F(4x4, 3x3) where the height is a multiple of 4 and the width of 32.
    #[arg(long)]
    no_winograd4: bool,
    /// On CPUs with AVX-512, the AVX2 Winograd F(4x4, 3x3) forward and input gradient where
    /// they apply, instead of the AVX-512 F(2x2, 3x3) ones (the choice to measure on AMD Zen 4).
    #[arg(long)]
    winograd4_avx512: bool,
}

impl Args {
    /// The kernels asked for: the environment's defaults, then the flags.
    fn kernels(&self) -> KernelOptions {
        let env = kernels_from_env();
        KernelOptions {
            cpu_kernels: env.cpu_kernels && !self.burn_ops,
            winograd: env.winograd && !self.no_winograd,
            bf16_dot: env.bf16_dot && !self.no_bf16_dot,
            bf16_winograd: env.bf16_winograd && !self.no_bf16_winograd,
            winograd_wide: env.winograd_wide || self.winograd_wide,
            winograd4: env.winograd4 && !self.no_winograd4,
            winograd4_avx512: env.winograd4_avx512 || self.winograd4_avx512,
        }
    }
}

/// A count of at least one.
fn at_least_one(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// `openh264` or `ffmpeg`.
fn video_backend(s: &str) -> Result<VideoBackend, String> {
    match s {
        "openh264" => Ok(VideoBackend::Openh264),
        "ffmpeg" => Ok(VideoBackend::Ffmpeg),
        other => Err(format!("{other}: not openh264 or ffmpeg")),
    }
}

/// The kernels the environment asks for (`MINE_KERNELS=burn`, `MINE_WINOGRAD=0`,
/// `MINE_BF16_DOT=0`, `MINE_BF16_WINOGRAD=0`, `MINE_WINOGRAD_WIDE=1`, `MINE_WINOGRAD4=0`,
/// `MINE_WINOGRAD4_AVX512=1`), the defaults of `--burn-ops`, `--no-winograd`, `--no-bf16-dot`,
/// `--no-bf16-winograd`, `--winograd-wide`, `--no-winograd4` and `--winograd4-avx512`.
fn kernels_from_env() -> KernelOptions {
    let var = |name: &str| std::env::var(name).ok();
    KernelOptions {
        cpu_kernels: var("MINE_KERNELS").is_none_or(|v| v != "burn"),
        winograd: var("MINE_WINOGRAD").is_none_or(|v| v != "0"),
        bf16_dot: var("MINE_BF16_DOT").is_none_or(|v| v != "0"),
        bf16_winograd: var("MINE_BF16_WINOGRAD").is_none_or(|v| v != "0"),
        winograd_wide: var("MINE_WINOGRAD_WIDE").is_some_and(|v| v == "1"),
        winograd4: var("MINE_WINOGRAD4").is_none_or(|v| v != "0"),
        winograd4_avx512: var("MINE_WINOGRAD4_AVX512").is_some_and(|v| v == "1"),
    }
}

/// The flags that give `kernels` (for the step server's command line).
fn kernel_flags(kernels: KernelOptions) -> Vec<&'static str> {
    let mut flags = Vec::new();
    if !kernels.cpu_kernels {
        flags.push("--burn-ops");
    }
    if !kernels.winograd {
        flags.push("--no-winograd");
    }
    if !kernels.bf16_dot {
        flags.push("--no-bf16-dot");
    }
    if !kernels.bf16_winograd {
        flags.push("--no-bf16-winograd");
    }
    if kernels.winograd_wide {
        flags.push("--winograd-wide");
    }
    if !kernels.winograd4 {
        flags.push("--no-winograd4");
    }
    if kernels.winograd4_avx512 {
        flags.push("--winograd4-avx512");
    }
    flags
}

fn main() -> std::process::ExitCode {
    let args = <Args as clap::Parser>::parse();
    let result = (|| {
        // The benchmark's choice of kernels, for this process (its step servers get the flags).
        mine_runtime::kernels::set_options(args.kernels());
        let setup = Setup::new(args.backend, args.model.clone(), args.precision, args.batch)?;
        match (args.serve.as_deref(), &args.serve_data) {
            (Some(&[b, t, m]), _) => server::serve(&setup, b, t, m),
            (Some(_), _) => Err("--serve needs B T M".into()),
            (None, Some(dir)) => data_rounds::serve(dir, args.workers, args.video_backend),
            (None, None) => run(&args, &setup),
        }
    })();
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &Args, setup: &Setup) -> Result<(), Error> {
    // The DSL and data-loading measures are the CPU's; a GPU run times the step only.
    let wants = |s: &str| match args.only.is_empty() {
        true => setup.backend == Backend::Flex || s == "step",
        false => args.only.iter().any(|o| o == s),
    };
    println!("# Benchmark\n\n{}\n", machine(setup));
    if args.tune {
        if setup.backend != Backend::Flex {
            return Err("--tune chooses among the CPU kernels: it runs on flex only".into());
        }
        let timing = tune::Timing {
            threads: args.threads.unwrap_or_else(server::rayon_threads),
            warmup: args.warmup,
            rounds: args.rounds,
            steps: args.steps,
        };
        return tune::tune(setup, args.kernels(), &timing);
    }
    if wants("step") {
        training_steps(args, setup)?;
    }
    if wants("dsl") {
        let (wired, direct) = dsl::overhead(2, 16, 32, args.rounds, args.steps)?;
        println!(
            "## Typed DSL overhead (small VPT forward + behaviour cloning, B=2 T=16, no autodiff)\n"
        );
        println!("| path | median ms |\n| --- | --- |");
        println!("| `Experiment` (wired objectives) | {:.2} |", wired * 1e3);
        println!(
            "| policy forward + `behavior_clone` called directly | {:.2} |",
            direct * 1e3
        );
        println!(
            "| difference | {:+.2} ms ({:+.2}%) |\n",
            (wired - direct) * 1e3,
            (wired / direct - 1.0) * 100.0
        );
    }
    if wants("data") && args.reference {
        let python = reference::setup()?;
        data_rounds::side_by_side(
            &python,
            args.workers,
            args.video_backend,
            args.rounds,
            args.batches,
        )?;
    } else if wants("data") {
        let d = data::measure(256, 8, args.workers, args.video_backend)?;
        println!("## Data loading (real Minecraft H.264 chunks, 224x224 resized to 128x128)\n");
        println!("| stage | frames/s |\n| --- | --- |");
        println!(
            "| H.264 decode alone (OpenH264, 1 thread) | {:.0} |",
            d.decode_fps
        );
        println!(
            "| loader, decode ({:?}) + resize + collate on the host ({} frames, batch {}, {} workers) | {:.0} |",
            args.video_backend, d.frames, d.batch_size, d.workers, d.host_fps
        );
        println!("| loader into flex tensors | {:.0} |\n", d.tensor_fps);
    }
    Ok(())
}

/// The CPU (model name and family), its cores and whether it has AVX-512, the backend, and
/// the date.
fn machine(setup: &Setup) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or("unknown CPU".to_owned(), |m| m.trim().to_owned());
    let avx512 = cpuinfo.contains("avx512f");
    let date = Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let options = mine_runtime::kernels::options();
    let kernels = match (setup.backend, options.cpu_kernels, options.winograd) {
        (Backend::Flex, false, _) => ", our CPU kernels off (--burn-ops)",
        (Backend::Flex, true, false) => ", our CPU kernels on, Winograd off (--no-winograd)",
        (Backend::Flex, true, true) if options.winograd_wide => {
            ", our CPU kernels on, Winograd in 32-tile chunks (--winograd-wide)"
        }
        (Backend::Flex, true, true) if !options.winograd4 && !avx512 => {
            ", our CPU kernels on, Winograd F(2x2, 3x3) only (--no-winograd4)"
        }
        (Backend::Flex, true, true) if options.winograd4 && options.winograd4_avx512 && avx512 => {
            ", our CPU kernels on, AVX2 Winograd F(4x4, 3x3) where it applies (--winograd4-avx512)"
        }
        (Backend::Flex, true, true) => ", our CPU kernels on",
        _ => " (burn's GPU kernels)",
    };
    let dot = mine_runtime::kernels::cpu::conv3x3::dpbf16::available();
    let kernels = match (setup.backend, setup.precision, options.bf16_dot && dot) {
        (Backend::Flex, Precision::Bf16Mixed, true) => match options.bf16_winograd {
            true => format!("{kernels}, bf16 via vdpbf16ps (Winograd from 64 channels)"),
            false => format!("{kernels}, bf16 via vdpbf16ps (direct only)"),
        },
        (Backend::Flex, Precision::Bf16Mixed, false) => {
            format!("{kernels}, bf16 on the f32 kernels (rounded operands)")
        }
        _ => kernels.to_owned(),
    };
    let family = mine_runtime::kernels::cpu::family::CpuFamily::detect();
    format!(
        "{date}; {model} ({family:?}), {} cores{}; burn 0.22.1 {}{kernels}",
        server::rayon_threads(),
        if avx512 { ", AVX-512" } else { ", no AVX-512" },
        setup.backend,
    )
}

fn training_steps(args: &Args, setup: &Setup) -> Result<(), Error> {
    let reference = match args.reference {
        true => Some((reference::setup()?, setup.reference_device()?)),
        false => None,
    };
    let threads = args.threads.unwrap_or_else(server::rayon_threads);
    let gpu = setup.backend != Backend::Flex;
    println!(
        "## Training step: {}, its objectives (VPT: BC; GROOT: BC + KL) + backward + clipping + AdamW, memory carried\n",
        setup.describe()?
    );
    println!(
        "Medians of {} rounds x {} steps after {} warm-up steps{}; {}.\n",
        args.rounds,
        args.steps,
        args.warmup,
        if reference.is_some() {
            ", the implementations alternating round by round"
        } else {
            ""
        },
        if gpu {
            "each part of a step ends with a device synchronization".to_owned()
        } else {
            format!(
                "{threads} thread{} each",
                if threads == 1 { "" } else { "s" }
            )
        }
    );
    let device_column = if gpu { " device MiB |" } else { "" };
    println!(
        "| config | implementation | step ms | frames/s | forward ms | backward ms | optimizer ms | peak RSS MiB |{device_column}"
    );
    println!(
        "| --- | --- | --- | --- | --- | --- | --- | --- |{}",
        if gpu { " --- |" } else { "" }
    );
    let exe = std::env::current_exe()?;
    let mut serial = Vec::new();
    for (b, t, m) in setup.configs()? {
        let mut ours = Command::new(&exe);
        ours.args(["--serve", &b.to_string(), &t.to_string(), &m.to_string()]);
        ours.args(setup.flags());
        ours.args(kernel_flags(args.kernels()));
        ours.env("RAYON_NUM_THREADS", threads.to_string());
        let mut contenders = vec![Contender::start("ours".into(), ours, args.warmup)?];
        if let Some((python, device)) = &reference {
            let command = reference::command(python, setup, device, [b, t, m], threads)?;
            let reference = Contender::start(String::new(), command, args.warmup)?;
            contenders.push(Contender {
                name: format!(
                    "MineStudio {} / PyTorch {}",
                    reference.server.info["minestudio"].as_str().unwrap_or("?"),
                    reference.server.info["torch"].as_str().unwrap_or("?")
                ),
                ..reference
            });
        }
        alternate(&mut contenders, args.rounds, |c| c.round(args.steps))?;
        let frames = (b * t) as f64;
        let label = format!("B={b} T={t} mem {m}");
        let mib = |x: Option<f64>| x.map_or("-".to_owned(), |x| format!("{x:.0}"));
        let summary: Vec<(StepTimes, f64, Option<f64>)> = contenders
            .iter()
            .map(|c| (medians(&c.steps), c.peak_mib, c.device_mib))
            .collect();
        if !gpu && let Some((ours, _, _)) = summary.first() {
            serial.push(format!(
                "- {label}: {:.1} ms of the {:.1} ms step ({:.1}%)",
                ours.calling_thread * 1e3,
                ours.total * 1e3,
                100.0 * ours.calling_thread / ours.total
            ));
        }
        for (c, (m, peak, device)) in contenders.iter().zip(&summary) {
            println!(
                "| {label} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} |{}",
                c.name,
                m.total * 1e3,
                frames / m.total,
                m.forward * 1e3,
                m.backward * 1e3,
                m.optimizer * 1e3,
                peak,
                if gpu {
                    format!(" {} |", mib(*device))
                } else {
                    String::new()
                }
            );
        }
        if let [
            (ours, our_peak, our_device),
            (theirs, their_peak, their_device),
        ] = summary.as_slice()
        {
            let device_ratio = match (our_device, their_device) {
                (Some(o), Some(t)) => format!(" {:.2}x |", o / t),
                _ => " - |".to_owned(),
            };
            println!(
                "| {label} | ours vs reference | {:.2}x faster | {:.2}x | {:.2}x | {:.2}x | {:.2}x | {:.2}x the memory |{}",
                theirs.total / ours.total,
                theirs.total / ours.total,
                theirs.forward / ours.forward,
                theirs.backward / ours.backward,
                theirs.optimizer / ours.optimizer,
                our_peak / their_peak,
                if gpu { device_ratio } else { String::new() }
            );
        }
    }
    if !serial.is_empty() {
        println!(
            "\nOurs, the calling thread's CPU time per step (median): the work no pool thread \
             takes, which more threads do not shorten."
        );
        serial.iter().for_each(|line| println!("{line}"));
    }
    println!();
    Ok(())
}
