//! Losses, metrics and gradient norms kept on the device, and read back in one transfer: at a
//! logged step and before a checkpoint (training), at the end of a pass (validation).

use std::collections::BTreeMap;

use burn::tensor::Tensor;
use mine_dsl::experiment::StepLosses;
use mine_dsl::objective::MetricValue;

use super::TrainError;
use crate::metrics::MeanWindow;
use crate::sync::{self, ReadReason};

/// Where a batch's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Origin {
    /// Optimizer steps taken before the batch.
    pub step: u64,
    /// The epoch.
    pub epoch: usize,
    /// The batch index within the epoch.
    pub batch: usize,
    /// The data-parallel rank, when there are several.
    pub rank: Option<usize>,
}

impl Origin {
    /// Whether `other` is another rank's batch of the same round.
    fn same_round(&self, other: &Origin) -> bool {
        (self.step, self.epoch, self.batch) == (other.step, other.epoch, other.batch)
    }
}

/// The host values of one batch's losses and metrics.
#[derive(Debug, Clone, Default)]
pub(super) struct LossValues {
    /// Each objective's loss, in wiring order.
    pub per_objective: Vec<(&'static str, f64)>,
    /// Every metric by name, `loss` (the total) included.
    pub metrics: Vec<(String, f64)>,
}

impl LossValues {
    /// The total loss.
    fn total(&self) -> f64 {
        self.metrics
            .iter()
            .find(|(name, _)| name == "loss")
            .map_or(f64::NAN, |(_, v)| *v)
    }

    /// The first objective whose loss is not finite, or `"total"` if only the sum is not.
    pub fn non_finite(&self) -> Option<(String, f64)> {
        if let Some((name, value)) = self.per_objective.iter().find(|(_, v)| !v.is_finite()) {
            return Some(((*name).to_owned(), *value));
        }
        let total = self.total();
        (!total.is_finite()).then(|| ("total".to_owned(), total))
    }
}

/// A value read back.
#[derive(Debug, Clone)]
pub(super) enum Value {
    /// A batch's losses and metrics.
    Batch { origin: Origin, values: LossValues },
    /// An optimizer step's gradient norm before clipping (0 when nothing had a gradient).
    GradNorm { step: u64, norm: f64 },
}

/// How the values of one entry lie in the read-back vector.
enum Layout {
    Batch {
        origin: Origin,
        objectives: Vec<&'static str>,
        /// The tensor metrics, read back after the objectives' losses.
        metrics: Vec<String>,
        /// The host metrics, kept as they are.
        scalars: Vec<(String, f64)>,
    },
    GradNorm {
        step: u64,
        on_device: bool,
    },
}

/// Values waiting on the device, in training order.
#[derive(Default)]
pub(super) struct Pending {
    layout: Vec<Layout>,
    tensors: Vec<Tensor<1>>,
}

impl Pending {
    /// Keeps a batch's losses and tensor metrics on the device (one small tensor, nothing read).
    pub fn push_batch(&mut self, origin: Origin, losses: &StepLosses) {
        let mut row: Vec<Tensor<1>> = losses
            .per_objective
            .iter()
            .map(|(_, loss)| loss.clone().detach().mean())
            .collect();
        let mut metrics = Vec::new();
        let mut scalars = Vec::new();
        for (name, value) in &losses.metrics {
            match value {
                MetricValue::Tensor(t) => {
                    row.push(t.clone().detach().mean());
                    metrics.push(name.clone());
                }
                MetricValue::Scalar(v) => scalars.push((name.clone(), *v)),
            }
        }
        if !row.is_empty() {
            let device = row[0].device();
            let row = row.into_iter().map(|t| t.to_device(&device)).collect();
            self.tensors.push(Tensor::cat(row, 0));
        }
        self.layout.push(Layout::Batch {
            origin,
            objectives: losses.per_objective.iter().map(|(name, _)| *name).collect(),
            metrics,
            scalars,
        });
    }

    /// Keeps an optimizer step's gradient norm (`None`: no gradient, read as 0).
    pub fn push_grad_norm(&mut self, step: u64, norm: Option<Tensor<1>>) {
        self.layout.push(Layout::GradNorm {
            step,
            on_device: norm.is_some(),
        });
        self.tensors.extend(norm);
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.layout.is_empty()
    }

    /// Reads everything back in one transfer (one counted host read, none when only host
    /// values wait) and empties the buffer.
    pub fn read(&mut self, reason: ReadReason) -> Vec<Value> {
        let tensors = std::mem::take(&mut self.tensors);
        let read: Vec<f32> = match tensors.first() {
            None => Vec::new(),
            Some(first) => {
                let device = first.device();
                let tensors = tensors.into_iter().map(|t| t.to_device(&device)).collect();
                sync::read_f32(Tensor::cat(tensors, 0), reason)
            }
        };
        let mut read = read.into_iter().map(f64::from);
        let mut next = || read.next().unwrap_or(f64::NAN);
        std::mem::take(&mut self.layout)
            .into_iter()
            .map(|entry| match entry {
                Layout::Batch {
                    origin,
                    objectives,
                    metrics,
                    scalars,
                } => {
                    let per_objective = objectives.into_iter().map(|n| (n, next())).collect();
                    let mut metrics: Vec<(String, f64)> =
                        metrics.into_iter().map(|n| (n, next())).collect();
                    metrics.extend(scalars);
                    Value::Batch {
                        origin,
                        values: LossValues {
                            per_objective,
                            metrics,
                        },
                    }
                }
                Layout::GradNorm { step, on_device } => Value::GradNorm {
                    step,
                    norm: if on_device { next() } else { 0.0 },
                },
            })
            .collect()
    }
}

/// Adds read-back training values to the logging window, in training order: for each round
/// (one batch per rank) the mean over the ranks of every metric, and each step's gradient norm
/// as `grad_norm`. The first non-finite loss or gradient norm is an error naming where it
/// arose; `found` is the number of steps taken when it was read.
pub(super) fn add_to_window(
    values: Vec<Value>,
    window: &mut MeanWindow,
    found: u64,
) -> Result<(), TrainError> {
    let mut round: Vec<(Origin, LossValues)> = Vec::new();
    for value in values {
        match value {
            Value::Batch { origin, values } => {
                if round.first().is_some_and(|(o, _)| !o.same_round(&origin)) {
                    add_round(std::mem::take(&mut round), window, found)?;
                }
                round.push((origin, values));
            }
            Value::GradNorm { step, norm } => {
                add_round(std::mem::take(&mut round), window, found)?;
                if !norm.is_finite() {
                    return Err(TrainError::NonFiniteGradient { step, norm, found });
                }
                window.add("grad_norm", norm);
            }
        }
    }
    add_round(round, window, found)
}

/// Checks one round's losses and adds the mean over its ranks of every metric.
fn add_round(
    round: Vec<(Origin, LossValues)>,
    window: &mut MeanWindow,
    found: u64,
) -> Result<(), TrainError> {
    for (origin, values) in &round {
        if let Some((objective, value)) = values.non_finite() {
            return Err(TrainError::NonFiniteLoss {
                step: origin.step,
                epoch: origin.epoch,
                batch: origin.batch,
                rank: origin.rank,
                objective,
                value,
                found,
            });
        }
    }
    let mut sums: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    for (_, values) in &round {
        for (name, value) in &values.metrics {
            sums.entry(name)
                .and_modify(|(sum, n)| {
                    *sum += value;
                    *n += 1;
                })
                .or_insert((*value, 1));
        }
    }
    for (name, (sum, n)) in sums {
        window.add(name, sum / n as f64);
    }
    Ok(())
}
