//! The VPT output heads: the categorical action head (joint buttons and camera classes) and
//! the value head with its EWMA target-normalization statistics.

use burn::module::{Module, RunningState};
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};
use mine_dsl::latent::PiLogits;

use super::config::{BUTTON_CLASSES, CAMERA_CLASSES};
use crate::kernels::autocast::to_full;
use crate::kernels::ops::{linear_layer, log_softmax};

/// One categorical distribution per frame: a linear layer to the class logits, division by the
/// temperature and a log-softmax (MineStudio `CategoricalActionHead` with shape `(1,)`); the
/// log-probabilities are f32 under autocast.
#[derive(Module, Debug)]
pub struct CategoricalHead {
    /// Linear layer from the latent to the class logits.
    pub linear_layer: Linear,
    /// Softmax temperature.
    pub temperature: f64,
}

impl CategoricalHead {
    fn new(d_input: usize, classes: usize, temperature: f64, device: &Device) -> Self {
        Self {
            linear_layer: LinearConfig::new(d_input, classes).init(device),
            temperature,
        }
    }

    /// `[B, T, hidsize]` latent to `[B, T, 1, classes]` log-probabilities.
    pub fn forward(&self, latent: Tensor<3>) -> Tensor<4> {
        let logits = linear_layer(&self.linear_layer, latent).unsqueeze_dim::<4>(2);
        let logits = if self.temperature == 1.0 {
            logits
        } else {
            logits.div_scalar(self.temperature)
        };
        log_softmax(logits, 3)
    }
}

/// The VPT action head: joint button classes and camera classes (MineStudio `pi_head`).
#[derive(Module, Debug)]
pub struct VptActionHead {
    /// Head over the 8641 joint button classes.
    pub buttons: CategoricalHead,
    /// Head over the 121 camera classes.
    pub camera: CategoricalHead,
}

impl VptActionHead {
    /// Builds both heads on a `d_input`-wide latent.
    pub fn new(d_input: usize, temperature: f64, device: &Device) -> Self {
        Self {
            buttons: CategoricalHead::new(d_input, BUTTON_CLASSES, temperature, device),
            camera: CategoricalHead::new(d_input, CAMERA_CLASSES, temperature, device),
        }
    }

    /// Log-probabilities of both heads for a `[B, T, hidsize]` latent.
    pub fn forward(&self, latent: Tensor<3>) -> PiLogits {
        PiLogits {
            buttons: self.buttons.forward(latent.clone()),
            camera: self.camera.forward(latent),
        }
    }
}

/// Exponentially weighted running statistics of value targets (MineStudio `NormalizeEwma`).
///
/// These are buffers: they are loaded and saved with the weights but never trained.
/// `debiasing_term` is stored with shape `[1]` (PyTorch stores a scalar).
#[derive(Module, Debug)]
pub struct NormalizeEwma {
    /// Running mean of the targets, `[1]`.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running mean of the squared targets, `[1]`.
    pub running_mean_sq: RunningState<Tensor<1>>,
    /// Sum of the EWMA weights so far, `[1]`, used to debias the running means.
    pub debiasing_term: RunningState<Tensor<1>>,
    /// EWMA decay per update.
    pub beta: f64,
    /// Lower bound of the debiasing term.
    pub epsilon: f64,
}

impl NormalizeEwma {
    fn new(device: &Device) -> Self {
        Self {
            running_mean: RunningState::new(Tensor::zeros([1], device)),
            running_mean_sq: RunningState::new(Tensor::zeros([1], device)),
            debiasing_term: RunningState::new(Tensor::zeros([1], device)),
            beta: 0.99999,
            epsilon: 1e-5,
        }
    }

    /// Debiased mean and variance (variance clamped to at least 0.01), each `[1]`.
    pub fn mean_var(&self) -> (Tensor<1>, Tensor<1>) {
        let debias = self.debiasing_term.value_sync().clamp_min(self.epsilon);
        let mean = self.running_mean.value_sync().div(debias.clone());
        let mean_sq = self.running_mean_sq.value_sync().div(debias);
        let var = (mean_sq - mean.clone().square()).clamp_min(1e-2);
        (mean, var)
    }

    /// Folds a batch of `[B, T, 1]` targets into the statistics (MineStudio's training-mode
    /// update with `beta = 0.99999`).
    pub fn update(&self, targets: Tensor<3>) {
        let targets = targets.detach();
        let [b, t, c] = targets.dims();
        let flat = targets.reshape([b * t, c]);
        let batch_mean = flat.clone().mean_dim(0).reshape([c]);
        let batch_sq_mean = flat.square().mean_dim(0).reshape([c]);
        let w = self.beta;
        let ewma = |state: &RunningState<Tensor<1>>, x: Tensor<1>| {
            state.update(state.value_sync().mul_scalar(w) + x.mul_scalar(1.0 - w));
        };
        ewma(&self.running_mean, batch_mean);
        ewma(&self.running_mean_sq, batch_sq_mean);
        let debias = self.debiasing_term.value_sync();
        self.debiasing_term
            .update(debias.mul_scalar(w).add_scalar(1.0 - w));
    }

    /// `(x - mean) / sqrt(var)` on `[B, T, 1]`, without updating the statistics.
    pub fn normalize(&self, x: Tensor<3>) -> Tensor<3> {
        let (mean, var) = self.mean_var();
        (x - mean.reshape([1, 1, 1])).div(var.sqrt().reshape([1, 1, 1]))
    }

    /// `x * sqrt(var) + mean` on `[B, T, 1]`.
    pub fn denormalize(&self, x: Tensor<3>) -> Tensor<3> {
        let (mean, var) = self.mean_var();
        x.mul(var.sqrt().reshape([1, 1, 1])) + mean.reshape([1, 1, 1])
    }
}

/// The value head: a linear layer to one value per frame, plus the normalization statistics
/// of its targets (MineStudio `ScaledMSEHead`).
#[derive(Module, Debug)]
pub struct ValueHead {
    /// Linear layer from the latent to the (normalized) value prediction.
    pub linear: Linear,
    /// Target normalization statistics.
    pub normalizer: NormalizeEwma,
}

impl ValueHead {
    /// Builds the head on a `d_input`-wide latent.
    pub fn new(d_input: usize, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(d_input, 1).init(device),
            normalizer: NormalizeEwma::new(device),
        }
    }

    /// `[B, T, hidsize]` latent to `[B, T, 1]` normalized value predictions (f32 under
    /// autocast, like every output a policy hands to the objectives).
    pub fn forward(&self, latent: Tensor<3>) -> Tensor<3> {
        to_full(linear_layer(&self.linear, latent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(t: Tensor<1>) -> f64 {
        t.into_data().try_into_vec_as::<f64>().unwrap()[0]
    }

    #[test]
    fn ewma_statistics_debias_and_clamp() {
        let device = Device::flex();
        let norm = NormalizeEwma::new(&device);
        // Empty statistics: mean 0, variance clamped to 0.01.
        let (mean, var) = norm.mean_var();
        assert_eq!((scalar(mean), scalar(var)), (0.0, 0.01f32 as f64));

        let targets = Tensor::<3>::from_data(
            burn::tensor::TensorData::new(vec![1.0f32, 2.0, 3.0, 6.0], [2, 2, 1]),
            &device,
        );
        norm.update(targets.clone());
        // One update: the debiased statistics are the batch's own.
        let (mean, var) = norm.mean_var();
        assert!((scalar(mean) - 3.0).abs() < 1e-3, "mean");
        assert!((scalar(var) - 3.5).abs() < 1e-2, "var = 12.5 - 9");
        let round_trip = norm.denormalize(norm.normalize(targets.clone()));
        let diff = (round_trip - targets).abs().max();
        assert!(scalar(diff.reshape([1])) < 1e-4);
    }
}
