//! A validation pass: no gradients, its own memory, metrics averaged over the pass and read
//! back once, at its end.

use std::collections::BTreeMap;

use mine_dsl::experiment::StepError;
use mine_dsl::objective::StepContext;
use mine_dsl::policy::Policy;

use super::readback::{Origin, Pending, Value};
use super::{BatchSource, TrainError, Trainer, batch_to_device, step_seed};
use crate::kernels::{self, autocast};
use crate::metrics::MeanWindow;
use crate::sync::ReadReason;
use crate::trainer::memory_manager::MemoryManager;

impl<P: Policy> Trainer<P> {
    /// Runs the policy (or its EMA, if configured for validation) over the validation source's
    /// epoch 0 on the device without autodiff (rank 0's), with a fresh memory, and returns the
    /// mean of every metric over the pass (`loss` included). The values are read back once, at
    /// the end of the pass; a non-finite loss is a warning naming the batch.
    pub fn validate(
        &mut self,
        source: &mut dyn BatchSource,
    ) -> Result<BTreeMap<String, f64>, TrainError> {
        let use_ema = self
            .config
            .ema
            .as_ref()
            .is_some_and(|c| c.use_for_validation);
        let model = match (&self.ema, use_ema) {
            (Some(ema), true) => ema.module().valid(),
            _ => self.policy().valid(),
        };
        let device = self.device().clone();
        let step = self.state.step;
        device.seed(step_seed(self.state.seed, step, 1));
        let mut memory = MemoryManager::<P::Memory>::new().with_mode(self.config.memory);
        let mut pending = Pending::default();
        let limit = self.config.max_val_batches.unwrap_or(usize::MAX);
        let batches = source.epoch(0, 0).map_err(|cause| TrainError::Data {
            stream: "val",
            epoch: 0,
            batch: 0,
            cause,
        })?;
        for (index, batch) in batches.take(limit).enumerate() {
            let fail = |cause: StepError| TrainError::Step {
                stream: "val",
                step,
                epoch: 0,
                batch: index,
                cause,
            };
            let batch = batch.map_err(|cause| TrainError::Data {
                stream: "val",
                epoch: 0,
                batch: index,
                cause,
            })?;
            let ctx = StepContext::val(index, step);
            let batch = batch_to_device(batch, &device);
            let batch = self
                .objectives
                .before_step(batch, &ctx)
                .map_err(|e| fail(e.into()))?;
            let batch_size = batch.batch_size().ok_or(TrainError::EmptyBatch {
                stream: "val",
                epoch: 0,
                batch: index,
            })?;
            let prepared = memory.prepare(&batch.info, batch_size, |rows| {
                model.initial_memory(rows, &device)
            });
            let autocast = autocast::scope(self.config.precision.autocast());
            let kernels = kernels::scope(self.config.kernel_options());
            let (latents, memory_out) =
                model.forward(&batch, prepared.memory).map_err(|cause| {
                    fail(StepError::Policy {
                        policy: P::NAME,
                        cause,
                    })
                })?;
            let losses = self
                .objectives
                .evaluate(&latents, &batch, &ctx)
                .map_err(|e| fail(e.into()))?;
            drop((kernels, autocast));
            let origin = Origin {
                step,
                epoch: 0,
                batch: index,
                rank: None,
            };
            pending.push_batch(origin, &losses);
            memory.store(memory_out);
        }
        let mut means = MeanWindow::new();
        for value in pending.read(ReadReason::Validation) {
            let Value::Batch { origin, values } = value else {
                continue;
            };
            if let Some((objective, value)) = values.non_finite() {
                tracing::warn!(
                    step,
                    batch = origin.batch,
                    objective,
                    value,
                    "non-finite validation loss"
                );
            }
            for (name, value) in &values.metrics {
                means.add(name, *value);
            }
        }
        Ok(means.take())
    }
}
