//! The goal latent space: a diagonal Gaussian `(mu, log_var)` projected from a pooled
//! feature, and its sample `z` drawn with the reparameterization trick from seeded host noise.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex};

use burn::module::{Flag, Module, Param};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{DType, Device, Tensor, TensorData};
use mine_dsl::latent::DiagGaussian;
use rand::distr::Open01;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::kernels::autocast::to_full;
use crate::kernels::ops::linear_layer;

/// When the goal latent `z` is a random sample rather than the mean `mu`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LatentMode {
    /// Like MineStudio's `self.training`: sample while the module trains (its training flag is
    /// on, as after construction, and it runs on an autodiff device), `z = mu` otherwise (on a
    /// plain device, or in the [`valid`](burn::module::Module::valid) form of the policy).
    #[default]
    Auto,
    /// Always sample `z = mu + exp(log_var / 2) * eps`.
    Sample,
    /// Always take `z = mu` (deterministic).
    Mean,
}

/// The standard-normal noise of the reparameterization trick, drawn on the host from one seeded
/// generator shared by the posterior and prior heads (and by clones of the policy), so a seed
/// reproduces the sequence of draws on every backend.
///
/// Recorded noise can be replayed instead ([`NoiseSource::inject`]): MineStudio draws with
/// `torch.randn_like`, the posterior's first, then the prior's.
#[derive(Clone)]
pub struct NoiseSource {
    state: Arc<Mutex<NoiseState>>,
}

struct NoiseState {
    rng: StdRng,
    /// Draws to return before generating any, in order.
    injected: VecDeque<Vec<f32>>,
}

impl fmt::Debug for NoiseSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NoiseSource")
    }
}

impl NoiseSource {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(NoiseState {
                rng: StdRng::seed_from_u64(seed),
                injected: VecDeque::new(),
            })),
        }
    }

    /// Restarts the sequence of draws from `seed` (injected draws not yet used are kept).
    pub fn reseed(&self, seed: u64) {
        self.lock().rng = StdRng::seed_from_u64(seed);
    }

    /// Queues `draws`: the next calls of [`standard_normal`](Self::standard_normal) return
    /// them, one per call and in order, before any generated noise. Replays noise recorded
    /// elsewhere (each draw row-major `[B, hiddim]`, as the latent it feeds).
    pub fn inject(&self, draws: impl IntoIterator<Item = Vec<f32>>) {
        self.lock().injected.extend(draws);
    }

    /// Injected draws not used yet.
    pub fn injected_left(&self) -> usize {
        self.lock().injected.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NoiseState> {
        // A panic while holding the lock cannot leave the generator in an invalid state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `n` independent standard-normal values: the next injected draw, or generated ones
    /// (Box-Muller on open-interval uniforms).
    ///
    /// # Panics
    ///
    /// If the next injected draw does not hold `n` values (it was recorded for another shape).
    pub fn standard_normal(&self, n: usize) -> Vec<f32> {
        let mut state = self.lock();
        if let Some(draw) = state.injected.pop_front() {
            assert_eq!(
                draw.len(),
                n,
                "an injected noise draw holds {} values but the latent needs {n}: inject one \
                 [B, hiddim] draw per latent, in the order they are sampled",
                draw.len()
            );
            return draw;
        }
        let rng = &mut state.rng;
        let mut out = Vec::with_capacity(n + 1);
        while out.len() < n {
            let u1: f64 = rng.sample(Open01);
            let u2: f64 = rng.sample(Open01);
            let radius = (-2.0 * u1.ln()).sqrt();
            let angle = std::f64::consts::TAU * u2;
            out.push((radius * angle.cos()) as f32);
            out.push((radius * angle.sin()) as f32);
        }
        out.truncate(n);
        out
    }

    /// A `[rows, cols]` tensor of standard-normal values on `device`, in `dtype`.
    pub fn tensor(&self, rows: usize, cols: usize, device: &Device, dtype: DType) -> Tensor<2> {
        Tensor::from_data(
            TensorData::new(self.standard_normal(rows * cols), [rows, cols]),
            (device, dtype),
        )
    }
}

/// MineStudio's `LatentSpace`: two linear maps to `mu` and `log_var`, and `z`.
#[derive(Module, Debug)]
pub struct LatentSpace {
    /// Projection to the mean.
    pub encode_mu: Linear,
    /// Projection to the log-variance.
    pub encode_log_var: Linear,
    /// Whether the module trains (cleared by `valid()` and `freeze()`, like dropout's).
    pub training: Param<Flag>,
    /// When `z` is sampled.
    #[module(skip)]
    pub mode: LatentMode,
    #[module(skip)]
    noise: NoiseSource,
}

impl LatentSpace {
    /// A latent space of width `dim` drawing its noise from `noise`.
    pub fn new(dim: usize, mode: LatentMode, noise: NoiseSource, device: &Device) -> Self {
        Self {
            encode_mu: LinearConfig::new(dim, dim).init(device),
            encode_log_var: LinearConfig::new(dim, dim).init(device),
            training: Param::from_bool(true),
            mode,
            noise,
        }
    }

    /// Whether a forward on `device` samples `z`.
    pub fn samples_on(&self, device: &Device) -> bool {
        match self.mode {
            LatentMode::Sample => true,
            LatentMode::Mean => false,
            LatentMode::Auto => self.training.is_enabled() && device.is_autodiff(),
        }
    }

    /// Maps pooled features `[B, dim]` to the distribution and its sample `z` (in f32 under
    /// autocast: the KL objective reads them).
    pub fn forward(&self, x: Tensor<2>) -> DiagGaussian {
        let mu = to_full(linear_layer(&self.encode_mu, x.clone()));
        let log_var = to_full(linear_layer(&self.encode_log_var, x));
        let device = mu.device();
        let z = if self.samples_on(&device) {
            let [b, d] = mu.dims();
            let eps = self.noise.tensor(b, d, &device, mu.dtype());
            mu.clone() + eps * log_var.clone().mul_scalar(0.5).exp()
        } else {
            mu.clone()
        };
        DiagGaussian { mu, log_var, z }
    }
}
