//! Tuning the kernel choices on the CPU a run has: which one-option changes of a choice can
//! matter there, and when a timed change counts as faster. `bench --tune` and the trainer's
//! `tune_kernels` share these rules; each times the flips its own way.

use super::{KernelChoices, KernelOptions};

/// How much faster a flip's median time must be than the current choice's (and faster in
/// every round) to replace it: alternating rounds' ratios move by a few percent from run to
/// run on a quiet machine.
pub const MARGIN: f64 = 1.03;

/// A one-option change of a kernel choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flip {
    /// The choice it changes from.
    pub from: KernelOptions,
    /// The options it runs.
    pub options: KernelOptions,
}

impl Flip {
    /// The change as a trainer config's `[trainer.kernels]` line, e.g. `winograd = false`.
    pub fn name(&self) -> String {
        KernelChoices::between(self.from, self.options).line()
    }
}

/// Each one-option flip of `base` that changes what runs on this CPU, under bf16 autocast
/// when `bf16` (the `vdpbf16ps` kernels then count): from burn's own operations, only ours;
/// else Winograd against the direct convolutions, and the Winograd forms this CPU has
/// (F(2x2) in 32-tile chunks and the AVX2 F(4x4) on AVX-512 CPUs, F(4x4) against F(2x2) on
/// AVX2 ones).
pub fn flips(base: KernelOptions, bf16: bool) -> Vec<Flip> {
    let Some(cpu) = Cpu::detect() else {
        return Vec::new();
    };
    let flip = |options| Flip {
        from: base,
        options,
    };
    if !base.cpu_kernels {
        return vec![flip(KernelOptions {
            cpu_kernels: true,
            ..base
        })];
    }
    let mut all = vec![flip(KernelOptions {
        winograd: !base.winograd,
        ..base
    })];
    if base.winograd && cpu.avx512 {
        all.push(flip(KernelOptions {
            winograd_wide: !base.winograd_wide,
            ..base
        }));
        if base.winograd4 {
            all.push(flip(KernelOptions {
                winograd4_avx512: !base.winograd4_avx512,
                ..base
            }));
        }
    } else if base.winograd && cpu.avx2 {
        all.push(flip(KernelOptions {
            winograd4: !base.winograd4,
            ..base
        }));
    }
    if bf16 && cpu.bf16_dot {
        all.push(flip(KernelOptions {
            bf16_dot: !base.bf16_dot,
            ..base
        }));
    }
    all
}

/// What a tuned choice depends on besides the model: the CPU family, the instruction set of
/// the kernels and the compute threads, e.g. `AmdZen3 Avx2, 2 threads`.
pub fn machine() -> String {
    #[cfg(feature = "flex")]
    {
        format!(
            "{:?} {:?}, {} threads",
            super::cpu::family::CpuFamily::detect(),
            super::isa::Isa::best(),
            rayon::current_num_threads()
        )
    }
    #[cfg(not(feature = "flex"))]
    String::from("no CPU kernels")
}

/// What this CPU's 3x3 convolution kernels can run.
struct Cpu {
    /// The AVX-512 kernels.
    avx512: bool,
    /// The AVX2 ones.
    avx2: bool,
    /// The `vdpbf16ps` ones.
    bf16_dot: bool,
}

impl Cpu {
    /// This CPU's kernels; none in a build without our CPU kernels (the `flex` feature).
    fn detect() -> Option<Self> {
        #[cfg(feature = "flex")]
        {
            use super::cpu::conv3x3;
            Some(Self {
                avx512: conv3x3::available(),
                avx2: conv3x3::available_avx2(),
                bf16_dot: conv3x3::dpbf16::available(),
            })
        }
        #[cfg(not(feature = "flex"))]
        None
    }
}

/// What counts of a flip's timing against the current choice's: `ratio`, the current choice's
/// median time over the flip's (above 1: the flip is faster), capped at 1 unless the flip was
/// faster in every one of `rounds` (each a pair of the current choice's time and the flip's).
pub fn gain(ratio: f64, rounds: &[(f64, f64)]) -> f64 {
    let every_round = !rounds.is_empty() && rounds.iter().all(|(base, flip)| flip < base);
    match every_round && ratio.is_finite() {
        true => ratio,
        false => ratio.min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flip_changes_one_option_and_names_it() {
        let base = KernelOptions::default();
        let all = flips(base, true);
        assert!(!all.is_empty());
        for flip in &all {
            assert_eq!(flip.from, base);
            let choices = KernelChoices::between(base, flip.options);
            let text = toml::to_string(&choices).unwrap();
            assert_eq!(text.lines().count(), 1, "{text}");
            assert_eq!(flip.name(), text.trim());
        }
        assert_eq!(all[0].name(), "winograd = false");
        let burn = KernelOptions {
            cpu_kernels: false,
            ..base
        };
        let only = flips(burn, false);
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].name(), "cpu_kernels = true");
    }

    #[test]
    fn a_flip_gains_only_when_faster_in_every_round() {
        assert_eq!(gain(1.2, &[(10.0, 8.0), (12.0, 10.0), (11.0, 9.0)]), 1.2);
        // Faster in the median, slower in one round: no gain.
        assert_eq!(gain(1.2, &[(10.0, 8.0), (9.0, 9.5), (11.0, 9.0)]), 1.0);
        // Slower: the ratio itself.
        assert_eq!(gain(0.8, &[(8.0, 10.0), (8.0, 10.0)]), 0.8);
        assert_eq!(gain(1.2, &[]), 1.0);
        assert_eq!(gain(f64::NAN, &[(10.0, 8.0)]), 1.0);
    }
}
