//! Serializable optimizer settings and their validation.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Optimizer, learning-rate schedule, clipping and accumulation settings of a training run.
///
/// The defaults are MineStudio's offline trainer defaults: AdamW with learning rate `1e-5`,
/// weight decay `0.01`, PyTorch's betas `(0.9, 0.999)` and epsilon `1e-8`, a linear warmup over
/// 1000 optimizer steps followed by a constant rate, no clipping and no accumulation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// Peak (base) learning rate reached at the end of warmup. Must be finite and `> 0`.
    pub learning_rate: f64,
    /// Decoupled AdamW weight decay: each step multiplies parameters by `1 - lr * weight_decay`.
    /// Must be finite and `>= 0`.
    pub weight_decay: f64,
    /// Exponential decay rates of the first and second moment estimates, each in `[0, 1)`.
    pub betas: (f64, f64),
    /// Term added to the denominator after the square root. Must be finite and `> 0`.
    pub eps: f64,
    /// Number of optimizer steps of linear warmup: `lr(s) = base * min((s + 1) / warmup, 1)`.
    /// Must be `>= 1` (use 1 for no warmup).
    pub warmup_steps: usize,
    /// Optional decay of the learning rate after warmup; `None` keeps it constant (MineStudio).
    pub decay: Option<DecayConfig>,
    /// Maximum global L2 norm of all gradients; `None` disables clipping. Must be finite, `> 0`.
    pub gradient_clip_val: Option<f64>,
    /// Number of batches whose gradients are summed (each loss scaled by `1 / k`) per optimizer
    /// step. Must be `>= 1`.
    pub accumulate_grad_batches: usize,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-5,
            weight_decay: 0.01,
            betas: (0.9, 0.999),
            eps: 1e-8,
            warmup_steps: 1000,
            decay: None,
            gradient_clip_val: None,
            accumulate_grad_batches: 1,
        }
    }
}

/// Shape of the learning-rate decay that follows warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DecayKind {
    /// Half-cosine from the base rate down to `min_lr`.
    Cosine,
    /// Straight line from the base rate down to `min_lr`.
    Linear,
}

/// Learning-rate decay after warmup, from the base rate to a floor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecayConfig {
    /// Cosine or linear.
    pub kind: DecayKind,
    /// Floor reached at the end of the decay and kept afterwards. In `[0, learning_rate]`.
    #[serde(default)]
    pub min_lr: f64,
    /// Number of optimizer steps after warmup over which the rate decays. When `None`, the
    /// trainer's total number of optimizer steps minus the warmup is used.
    #[serde(default)]
    pub decay_steps: Option<usize>,
}

/// A rejected optimizer setting.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum OptimConfigError {
    /// A field holds a value outside its valid range.
    #[error("optimizer config: `{field}` = {value} is invalid: it {requirement}")]
    InvalidField {
        /// Dotted name of the field, as written in the configuration file.
        field: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What a valid value looks like.
        requirement: &'static str,
    },
    /// Decay is on but no length is known for it.
    #[error(
        "optimizer config: `decay.decay_steps` is not set and the total number of optimizer \
         steps is unknown; set `decay.decay_steps` or give the trainer a step budget"
    )]
    MissingDecaySteps,
    /// The step budget leaves no step for decay after warmup.
    #[error(
        "optimizer config: `decay` needs steps after warmup, but the run has {total_steps} \
         optimizer steps and `warmup_steps` = {warmup_steps}; set `decay.decay_steps` or \
         lower `warmup_steps`"
    )]
    NoStepsForDecay {
        /// Total optimizer steps of the run.
        total_steps: usize,
        /// Configured warmup.
        warmup_steps: usize,
    },
}

fn invalid(
    field: &'static str,
    value: impl ToString,
    requirement: &'static str,
) -> OptimConfigError {
    OptimConfigError::InvalidField {
        field,
        value: value.to_string(),
        requirement,
    }
}

fn check_beta(field: &'static str, beta: f64) -> Result<(), OptimConfigError> {
    if beta.is_finite() && (0.0..1.0).contains(&beta) {
        Ok(())
    } else {
        Err(invalid(field, beta, "must be in [0, 1)"))
    }
}

impl OptimizerConfig {
    /// Checks every field, returning the first invalid one.
    pub fn validate(&self) -> Result<(), OptimConfigError> {
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(invalid(
                "learning_rate",
                self.learning_rate,
                "must be a finite number > 0",
            ));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(invalid(
                "weight_decay",
                self.weight_decay,
                "must be a finite number >= 0",
            ));
        }
        check_beta("betas.0", self.betas.0)?;
        check_beta("betas.1", self.betas.1)?;
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(invalid("eps", self.eps, "must be a finite number > 0"));
        }
        if self.warmup_steps == 0 {
            return Err(invalid(
                "warmup_steps",
                self.warmup_steps,
                "must be >= 1 (1 means no warmup)",
            ));
        }
        if let Some(clip) = self.gradient_clip_val
            && !(clip.is_finite() && clip > 0.0)
        {
            return Err(invalid(
                "gradient_clip_val",
                clip,
                "must be a finite number > 0 (omit it to disable clipping)",
            ));
        }
        if self.accumulate_grad_batches == 0 {
            return Err(invalid(
                "accumulate_grad_batches",
                self.accumulate_grad_batches,
                "must be >= 1 (1 means no accumulation)",
            ));
        }
        if let Some(decay) = &self.decay {
            if !(decay.min_lr.is_finite()
                && decay.min_lr >= 0.0
                && decay.min_lr <= self.learning_rate)
            {
                return Err(invalid(
                    "decay.min_lr",
                    decay.min_lr,
                    "must be a finite number in [0, learning_rate]",
                ));
            }
            if decay.decay_steps == Some(0) {
                return Err(invalid(
                    "decay.decay_steps",
                    0,
                    "must be >= 1 (omit it to decay until the end of training)",
                ));
            }
        }
        Ok(())
    }
}
