//! [`KernelChoices`]: a run's own choices among the CPU kernels, as data (a trainer config's
//! `[trainer.kernels]`, what `bench --tune` prints for the machine it ran on).

use serde::{Deserialize, Serialize};

use super::KernelOptions;

/// The kernel options a run sets, each field it leaves unset keeping the process's
/// ([`options`](super::options)). Only the speed of a CPU (flex) run depends on them, and the
/// last digits of its values (Winograd and direct convolutions round differently); a GPU run
/// ignores them.
///
/// ```
/// use mine_runtime::kernels::{KernelChoices, KernelOptions};
///
/// let choices: KernelChoices = toml::from_str("winograd = false").unwrap();
/// let run = choices.over(KernelOptions::default());
/// assert!(!run.winograd && run.cpu_kernels);
/// assert_eq!(toml::to_string(&choices).unwrap().trim(), "winograd = false");
/// assert!(toml::from_str::<KernelChoices>("winogard = false").is_err());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KernelChoices {
    /// [`KernelOptions::cpu_kernels`]: `false` runs burn's own operations everywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_kernels: Option<bool>,
    /// [`KernelOptions::winograd`]: `false` runs the direct 3x3 convolutions for every shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winograd: Option<bool>,
    /// [`KernelOptions::winograd4`]: on CPUs without AVX-512, `false` runs Winograd F(2x2,
    /// 3x3) where F(4x4, 3x3) would.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winograd4: Option<bool>,
    /// [`KernelOptions::winograd4_avx512`]: on CPUs with AVX-512, `true` runs the AVX2
    /// F(4x4, 3x3) kernels where they apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winograd4_avx512: Option<bool>,
    /// [`KernelOptions::winograd_wide`]: on CPUs with AVX-512, `true` runs the F(2x2, 3x3)
    /// kernel in chunks of 32 tiles at every width.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub winograd_wide: Option<bool>,
    /// [`KernelOptions::bf16_dot`]: under bf16 autocast on CPUs with AVX512_BF16, `false`
    /// runs the f32 kernels on rounded operands instead of `vdpbf16ps`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bf16_dot: Option<bool>,
}

impl From<KernelOptions> for KernelChoices {
    /// Every field set, to `options`' value: the same options in any process.
    fn from(options: KernelOptions) -> Self {
        Self {
            cpu_kernels: Some(options.cpu_kernels),
            winograd: Some(options.winograd),
            winograd4: Some(options.winograd4),
            winograd4_avx512: Some(options.winograd4_avx512),
            winograd_wide: Some(options.winograd_wide),
            bf16_dot: Some(options.bf16_dot),
        }
    }
}

impl KernelChoices {
    /// `base` with the fields this sets.
    pub fn over(self, base: KernelOptions) -> KernelOptions {
        KernelOptions {
            cpu_kernels: self.cpu_kernels.unwrap_or(base.cpu_kernels),
            winograd: self.winograd.unwrap_or(base.winograd),
            winograd4: self.winograd4.unwrap_or(base.winograd4),
            winograd4_avx512: self.winograd4_avx512.unwrap_or(base.winograd4_avx512),
            winograd_wide: self.winograd_wide.unwrap_or(base.winograd_wide),
            bf16_dot: self.bf16_dot.unwrap_or(base.bf16_dot),
            bf16_winograd: base.bf16_winograd,
        }
    }

    /// The choices that turn `base` into `target`: the fields where they differ
    /// (`bf16_winograd` is a trainer setting of its own, `trainer.bf16_winograd`).
    ///
    /// ```
    /// use mine_runtime::kernels::{KernelChoices, KernelOptions};
    ///
    /// let base = KernelOptions::default();
    /// let direct = KernelOptions { winograd: false, ..base };
    /// let choices = KernelChoices::between(base, direct);
    /// assert_eq!(choices, KernelChoices { winograd: Some(false), ..KernelChoices::default() });
    /// assert_eq!(choices.over(base), direct);
    /// assert!(KernelChoices::between(base, base).is_empty());
    /// ```
    pub fn between(base: KernelOptions, target: KernelOptions) -> Self {
        let differs = |b: bool, t: bool| (b != t).then_some(t);
        Self {
            cpu_kernels: differs(base.cpu_kernels, target.cpu_kernels),
            winograd: differs(base.winograd, target.winograd),
            winograd4: differs(base.winograd4, target.winograd4),
            winograd4_avx512: differs(base.winograd4_avx512, target.winograd4_avx512),
            winograd_wide: differs(base.winograd_wide, target.winograd_wide),
            bf16_dot: differs(base.bf16_dot, target.bf16_dot),
        }
    }

    /// Whether no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The fields set, as `[trainer.kernels]` lines joined on one line (for logs and tables).
    ///
    /// ```
    /// use mine_runtime::kernels::KernelChoices;
    ///
    /// let choices = KernelChoices { winograd: Some(false), bf16_dot: Some(true), ..Default::default() };
    /// assert_eq!(choices.line(), "winograd = false, bf16_dot = true");
    /// ```
    pub fn line(&self) -> String {
        toml::to_string(self)
            .unwrap_or_default()
            .trim()
            .replace('\n', ", ")
    }
}
