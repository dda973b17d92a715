//! `--tune`: which kernel choices are fastest on this CPU. Our training step runs with the
//! benchmark's kernel options and with each option that can matter on this CPU flipped, one at
//! a time: each flip's step server against the benchmark's, alternating round by round as the
//! side-by-side table does; a flip that is faster at every size becomes the choice, and the
//! next pass flips from there. The final choice is printed as a trainer config's
//! `[trainer.kernels]` section.

use std::process::Command;

use mine_runtime::kernels::tune::{self, MARGIN};
use mine_runtime::kernels::{KernelChoices, KernelOptions};
use mine_runtime::trainer::backend::Precision;

use super::contender::Contender;
use super::kernel_flags;
use super::server::alternate_abba;
use super::setup::Setup;
use super::stats::{StepTimes, medians};

type Error = Box<dyn std::error::Error>;

/// The current choice and each one-option flip of it that changes what runs on this CPU in
/// `precision`, named by its `[trainer.kernels]` line.
fn candidates(base: KernelOptions, precision: Precision) -> Vec<(String, KernelOptions)> {
    let flips = tune::flips(base, precision == Precision::Bf16Mixed);
    std::iter::once(("the current choice".to_owned(), base))
        .chain(flips.into_iter().map(|flip| (flip.name(), flip.options)))
        .collect()
}

/// How a tuning run times its steps.
pub struct Timing {
    /// Compute threads of each step server.
    pub threads: usize,
    /// Untimed steps before the first round.
    pub warmup: usize,
    /// Rounds per step server.
    pub rounds: usize,
    /// Timed steps per round.
    pub steps: usize,
}

/// Finds the fastest kernel choices from `base`: a pass times every flip of the options
/// chosen so far against them; a winning flip becomes the choice and the next pass starts from
/// it (never back to a choice already left), until no flip wins. Prints each pass's table and
/// the `[trainer.kernels]` section of the final choice.
pub fn tune(setup: &Setup, base: KernelOptions, timing: &Timing) -> Result<(), Error> {
    let Timing {
        threads,
        warmup,
        rounds,
        steps,
    } = *timing;
    println!(
        "## Kernel choices on this CPU ({}; each flip against the current choice, alternating \
         {rounds} rounds x {steps} steps each after {warmup} warm-up steps; {threads} threads)\n",
        setup.describe()?,
    );
    let mut chosen = base;
    let mut visited = vec![base];
    loop {
        let candidates: Vec<_> = candidates(chosen, setup.precision)
            .into_iter()
            .enumerate()
            .filter(|(i, (_, options))| *i == 0 || !visited.contains(options))
            .map(|(_, c)| c)
            .collect();
        if candidates.len() < 2 {
            break;
        }
        let Some((name, options)) = pass(setup, &candidates, timing)? else {
            break;
        };
        println!("Pass won by {name}: the next pass starts from it.\n");
        chosen = options;
        visited.push(options);
    }
    let choices = KernelChoices::between(KernelOptions::default(), chosen);
    if choices.is_empty() {
        println!(
            "The choice here is the default kernels: a training config needs no \
             `[trainer.kernels]`.\n"
        );
    } else {
        let section = toml::to_string(&choices).unwrap_or_default();
        println!(
            "The choice here, in a training config:\n\n```toml\n[trainer.kernels]\n{section}```\n"
        );
    }
    println!(
        "(`trainer.tune_kernels = true` makes the same measurement on a run's own policy and \
         first batch before it trains.)\n"
    );
    Ok(())
}

/// One pass: each flip in `candidates` (after the first, the current choice) against the
/// current choice at every size, printed as a table; the flip that is at least [`MARGIN`]
/// faster at every size and faster in each round (the best worst case), if any.
fn pass(
    setup: &Setup,
    candidates: &[(String, KernelOptions)],
    timing: &Timing,
) -> Result<Option<(String, KernelOptions)>, Error> {
    println!(
        "| config | kernels | step ms | speed vs the current choice | forward ms | backward ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    // Per flip, its speed-up over the current choice at each size (capped at 1 where it
    // loses a round or changes nothing).
    let mut speedups = vec![Vec::new(); candidates.len()];
    for (b, t, m) in setup.configs()? {
        let start = |(name, options): &(String, KernelOptions)| {
            let mut command = Command::new(std::env::current_exe()?);
            command.args(["--serve", &b.to_string(), &t.to_string(), &m.to_string()]);
            command.args(setup.flags());
            command.args(kernel_flags(*options));
            command.env("RAYON_NUM_THREADS", timing.threads.to_string());
            Contender::start(name.clone(), command, timing.warmup)
        };
        let mut base = start(&candidates[0])?;
        let mut rows = Vec::new();
        for (candidate, speedup) in candidates.iter().zip(&mut speedups).skip(1) {
            let (kept, flip) = against(base, start(candidate)?, timing)?;
            base = kept;
            speedup.push(flip.gain);
            rows.push((flip.name, flip.time, flip.ratio));
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
    let worst = |s: &[f64]| s.iter().copied().fold(f64::INFINITY, f64::min);
    let best = (1..candidates.len())
        .filter(|&i| worst(&speedups[i]) >= MARGIN)
        .max_by(|&a, &b| worst(&speedups[a]).total_cmp(&worst(&speedups[b])));
    if best.is_none() {
        println!(
            "No flip is {:.0}% faster at every size and faster in every round.\n",
            (MARGIN - 1.0) * 100.0
        );
    }
    Ok(best.map(|i| candidates[i].clone()))
}

/// A flip timed against the current choice.
struct Measured {
    /// Its name in the table (saying when it changed nothing).
    name: String,
    /// Its per-part medians.
    time: StepTimes,
    /// The current choice's median step time over its own, in this pair's rounds.
    ratio: f64,
    /// What counts for the choice: `ratio`, capped at 1 if it lost a round or its steps gave
    /// the very same losses as the current choice's (same weights and batches: then it changed
    /// nothing this model runs).
    gain: f64,
}

/// Times `flip` against `base` in rounds of ABBA order; gives `base` back.
fn against(
    base: Contender,
    flip: Contender,
    timing: &Timing,
) -> Result<(Contender, Measured), Error> {
    let steps = timing.steps;
    let from = base.steps.len();
    let mut pair = [base, flip];
    alternate_abba(&mut pair, timing.rounds, |c| c.round(steps))?;
    let [base, flip] = pair;
    let time = medians(&flip.steps);
    let ratio = medians(&base.steps[from..]).total / time.total;
    let rounds: Vec<(f64, f64)> = (base.steps[from..].chunks(steps))
        .zip(flip.steps.chunks(steps))
        .map(|(b, f)| (medians(b).total, medians(f).total))
        .collect();
    let same = !flip.losses.is_empty()
        && flip.losses.len() <= base.losses.len()
        && (flip.losses.iter().zip(&base.losses)).all(|(f, b)| f.to_bits() == b.to_bits());
    let gain = match same {
        true => ratio.min(1.0),
        false => tune::gain(ratio, &rounds),
    };
    let name = match same {
        true => format!(
            "{} (no effect here: the same losses bit for bit)",
            flip.name
        ),
        false => flip.name.clone(),
    };
    let measured = Measured {
        name,
        time,
        ratio,
        gain,
    };
    Ok((base, measured))
}
