//! `--tune`: which kernel choices are fastest on this CPU. Our training step runs with the
//! benchmark's kernel options and with each option that can matter on this CPU flipped, one at
//! a time: each flip's step server against the benchmark's, alternating round by round as the
//! side-by-side table does; a flip that is faster at every size is printed as a trainer
//! config's `[trainer.kernels]` section.

use std::process::Command;

use mine_runtime::kernels::cpu::conv3x3;
use mine_runtime::kernels::{KernelChoices, KernelOptions};
use mine_runtime::trainer::backend::Precision;

use super::contender::Contender;
use super::kernel_flags;
use super::setup::Setup;
use super::stats::medians;

type Error = Box<dyn std::error::Error>;

/// How much faster (in median step time, at every size, and faster in every round) a flip must
/// be to be recommended: the alternating rounds' ratios move by a few percent from run to run.
const MARGIN: f64 = 1.03;

/// The benchmark's options and each one-option flip of them that changes what runs on this
/// CPU in `precision`, named by the flag that asks for it.
fn candidates(base: KernelOptions, precision: Precision) -> Vec<(String, KernelOptions)> {
    let avx512 = conv3x3::available();
    let flip = |name: &str, options: KernelOptions| (name.to_owned(), options);
    let mut all = vec![flip("the benchmark's", base)];
    if !base.cpu_kernels {
        return all;
    }
    all.push(flip(
        if base.winograd {
            "--no-winograd"
        } else {
            "Winograd on"
        },
        KernelOptions {
            winograd: !base.winograd,
            ..base
        },
    ));
    if base.winograd && avx512 {
        all.push(flip(
            if base.winograd_wide {
                "wide off"
            } else {
                "--winograd-wide"
            },
            KernelOptions {
                winograd_wide: !base.winograd_wide,
                ..base
            },
        ));
        if base.winograd4 {
            all.push(flip(
                match base.winograd4_avx512 {
                    true => "AVX2 F(4x4) off",
                    false => "--winograd4-avx512",
                },
                KernelOptions {
                    winograd4_avx512: !base.winograd4_avx512,
                    ..base
                },
            ));
        }
    } else if base.winograd && conv3x3::available_avx2() {
        all.push(flip(
            if base.winograd4 {
                "--no-winograd4"
            } else {
                "F(4x4) on"
            },
            KernelOptions {
                winograd4: !base.winograd4,
                ..base
            },
        ));
    }
    if precision == Precision::Bf16Mixed && conv3x3::dpbf16::available() {
        all.push(flip(
            if base.bf16_dot {
                "--no-bf16-dot"
            } else {
                "vdpbf16ps on"
            },
            KernelOptions {
                bf16_dot: !base.bf16_dot,
                ..base
            },
        ));
    }
    all
}

/// Times the candidates at each of `setup`'s sizes and prints the table and the choice. Each
/// flip runs against the benchmark's options in a pair of step servers, alternating: two
/// models in memory at a time, whatever the number of flips.
pub fn tune(
    setup: &Setup,
    base: KernelOptions,
    threads: usize,
    (warmup, rounds, steps): (usize, usize, usize),
) -> Result<(), Error> {
    let candidates = candidates(base, setup.precision);
    println!(
        "## Kernel choices on this CPU ({}; each flip against the benchmark's kernels, \
         alternating {rounds} rounds x {steps} steps each after {warmup} warm-up steps; \
         {threads} threads)\n",
        setup.describe()?,
    );
    println!(
        "| config | kernels | step ms | speed vs the benchmark's | forward ms | backward ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    let exe = std::env::current_exe()?;
    // Per flip, its speed-up over the benchmark's options at each size.
    let mut speedups = vec![Vec::new(); candidates.len()];
    for (b, t, m) in setup.configs()? {
        let start = |(name, options): &(String, KernelOptions)| {
            let mut command = Command::new(&exe);
            command.args(["--serve", &b.to_string(), &t.to_string(), &m.to_string()]);
            command.args(setup.flags());
            command.args(kernel_flags(*options));
            command.env("RAYON_NUM_THREADS", threads.to_string());
            Contender::start(name.clone(), command, warmup)
        };
        let mut base = start(&candidates[0])?;
        let mut rows = Vec::new();
        for (candidate, speedup) in candidates.iter().zip(&mut speedups).skip(1) {
            let from = base.steps.len();
            let mut pair = [base, start(candidate)?];
            // Each round in the other order (ABBA...): a machine speeding up or slowing down
            // through the run favours neither.
            for round in 0..rounds {
                for i in [round % 2, 1 - round % 2] {
                    std::thread::sleep(std::time::Duration::from_millis(500));
                    pair[i].round(steps)?;
                }
            }
            let [kept, flip] = pair;
            base = kept;
            let time = medians(&flip.steps);
            let ratio = medians(&base.steps[from..]).total / time.total;
            // A flip slower than the benchmark's kernels in any one round is no win, nor one
            // whose steps give the very same losses (same weights, same batches): it changed
            // nothing this model runs.
            let rounds_won = base.steps[from..]
                .chunks(steps)
                .zip(flip.steps.chunks(steps))
                .all(|(b, f)| medians(f).total < medians(b).total);
            let same = !flip.losses.is_empty()
                && flip.losses.len() <= base.losses.len()
                && flip
                    .losses
                    .iter()
                    .zip(&base.losses)
                    .all(|(f, b)| f.to_bits() == b.to_bits());
            speedup.push(if rounds_won && !same {
                ratio
            } else {
                ratio.min(1.0)
            });
            let name = match same {
                true => format!(
                    "{} (no effect here: the same losses bit for bit)",
                    flip.name
                ),
                false => flip.name.clone(),
            };
            rows.push((name, time, ratio));
        }
        rows.insert(0, (base.name.clone(), medians(&base.steps), 1.0));
        for (name, time, ratio) in rows {
            println!(
                "| B={b} T={t} mem {m} | {name} | {:.1} | {ratio:.3}x | {:.1} | {:.1} |",
                time.total * 1e3,
                time.forward * 1e3,
                time.backward * 1e3,
            );
        }
    }
    println!();
    recommend(&candidates, &speedups);
    Ok(())
}

/// Prints the choice: the flip that is at least [`MARGIN`] faster at every size and faster in
/// each round (the one with the best worst case), else the benchmark's options, as the config section that makes a run
/// use it (a run's options start from the defaults).
fn recommend(candidates: &[(String, KernelOptions)], speedups: &[Vec<f64>]) {
    let worst = |s: &[f64]| s.iter().copied().fold(f64::INFINITY, f64::min);
    let best = (1..candidates.len())
        .filter(|&i| worst(&speedups[i]) >= MARGIN)
        .max_by(|&a, &b| worst(&speedups[a]).total_cmp(&worst(&speedups[b])));
    let (name, options) = &candidates[best.unwrap_or(0)];
    match best {
        Some(i) => println!(
            "Fastest here: {name}, {:.3}x the benchmark's kernels at worst.",
            worst(&speedups[i])
        ),
        None => println!(
            "No flip is {:.0}% faster at every size and faster in every round: the benchmark's \
             kernels are the choice here.",
            (MARGIN - 1.0) * 100.0
        ),
    }
    let choices = KernelChoices::between(KernelOptions::default(), *options);
    if choices.is_empty() {
        println!("They are the defaults: a training config needs no `[trainer.kernels]`.\n");
    } else {
        let section = toml::to_string(&choices).unwrap_or_default();
        println!(
            "In a training config:\n\n```toml\n[trainer.kernels]\n{section}```\n\n(`--tune` \
             with its flags checks the other flips from there.)\n"
        );
    }
}
