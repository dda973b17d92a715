//! PyTorch's `nn.BatchNorm2d`: batch statistics while training (with the running statistics
//! updated as PyTorch does), running statistics otherwise.

use burn::module::{Module, Param, RunningState};
use burn::tensor::module::batch_norm;
use burn::tensor::{Device, Tensor};

use crate::kernels::autocast::to_full;
use crate::kernels::ops::batch_norm_train;

/// `nn.BatchNorm2d(channels, eps, momentum)` with its state-dict names: `weight`, `bias`,
/// `running_mean`, `running_var`, `num_batches_tracked`.
///
/// On an autodiff device (training) it normalizes with the batch's mean and biased variance
/// over `[N, H, W]` and folds the batch into the running statistics as PyTorch does:
/// `running = (1 - momentum) * running + momentum * batch`, with the *unbiased* variance
/// (burn's `BatchNorm` folds the biased one), and counts the batch in
/// `num_batches_tracked`. Elsewhere (validation, inference) it normalizes with the running
/// statistics, like PyTorch's `eval()` mode.
#[derive(Module, Debug)]
pub struct BatchNorm2d {
    /// Scale per channel (PyTorch `weight`).
    pub weight: Param<Tensor<1>>,
    /// Shift per channel (PyTorch `bias`).
    pub bias: Param<Tensor<1>>,
    /// Running mean per channel.
    pub running_mean: RunningState<Tensor<1>>,
    /// Running (unbiased) variance per channel.
    pub running_var: RunningState<Tensor<1>>,
    /// Number of training batches folded in, `[1]` (PyTorch: an int64 scalar).
    pub num_batches_tracked: RunningState<Tensor<1>>,
    /// Weight of a new batch in the running statistics.
    pub momentum: f64,
    /// Added to the variance before the square root.
    pub epsilon: f64,
}

impl BatchNorm2d {
    /// PyTorch's initial state: scale 1, shift 0, running mean 0 and variance 1, eps 1e-5,
    /// momentum 0.1.
    pub fn new(channels: usize, device: &Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([channels], device)),
            bias: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            num_batches_tracked: RunningState::new(Tensor::zeros([1], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    /// Normalizes `[N, C, H, W]` (see the type's documentation for the two modes).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        // f32 under bf16 autocast, as PyTorch's autocast runs batch_norm.
        let x = to_full(x);
        if !x.is_autodiff() {
            return batch_norm(
                x,
                self.weight.val(),
                self.bias.val(),
                self.running_mean.value(),
                self.running_var.value(),
                self.epsilon,
            );
        }
        let [n, _, h, w] = x.dims();
        let count = (n * h * w) as f64;
        let result = batch_norm_train(x, self.weight.val(), self.bias.val(), self.epsilon);
        let m = self.momentum;
        let unbiased = result.variance.mul_scalar(count / (count - 1.0).max(1.0));
        let fold = |state: &RunningState<Tensor<1>>, batch: Tensor<1>| {
            let running = state.value_sync().to_device(&batch.device());
            commit(state, running.mul_scalar(1.0 - m).add(batch.mul_scalar(m)));
        };
        fold(&self.running_mean, result.mean);
        fold(&self.running_var, unbiased);
        let tracked = self.num_batches_tracked.value_sync();
        commit(&self.num_batches_tracked, tracked.add_scalar(1.0));
        result.output
    }
}

/// Sets a running state to `value` at once. `RunningState::update` only records the value
/// for the calling thread until the next `value_sync`, and burn's record, export and
/// optimizer read the committed value: without the sync, the last batch's statistics would
/// be missing from a checkpoint written after it.
fn commit(state: &RunningState<Tensor<1>>, value: Tensor<1>) {
    state.update(value.detach());
    state.value_sync();
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn values(t: Tensor<1>) -> Vec<f32> {
        t.into_data().try_to_vec().unwrap()
    }

    #[test]
    fn training_folds_the_unbiased_variance_and_counts_batches() {
        let device = Device::flex().autodiff();
        let bn = BatchNorm2d::new(1, &device);
        // One channel, values 2 and 6: mean 4, biased variance 4, unbiased 8.
        let x = Tensor::<4>::from_data(TensorData::new(vec![2.0f32, 6.0], [2, 1, 1, 1]), &device);
        let y: Vec<f32> = bn.forward(x).into_data().try_to_vec().unwrap();
        assert!(
            (y[0] + 1.0).abs() < 1e-5 && (y[1] - 1.0).abs() < 1e-5,
            "{y:?}"
        );
        assert!((values(bn.running_mean.value())[0] - 0.4).abs() < 1e-6);
        assert!((values(bn.running_var.value())[0] - (0.9 + 0.8)).abs() < 1e-6);
        assert_eq!(values(bn.num_batches_tracked.value()), [1.0]);
    }

    #[test]
    fn inference_uses_the_running_statistics() {
        let device = Device::flex();
        let bn = BatchNorm2d::new(1, &device);
        commit(&bn.running_mean, Tensor::from_data([3.0f32], &device));
        commit(&bn.running_var, Tensor::from_data([4.0f32], &device));
        let x = Tensor::<4>::from_data(TensorData::new(vec![5.0f32], [1, 1, 1, 1]), &device);
        let y: Vec<f32> = bn.forward(x).into_data().try_to_vec().unwrap();
        assert!((y[0] - 1.0).abs() < 1e-4, "{y:?}");
        assert_eq!(values(bn.num_batches_tracked.value()), [0.0]);
    }
}
