//! The combined result of all objectives on one batch.

use std::collections::BTreeMap;

use burn::tensor::Tensor;

use crate::objective::MetricValue;

/// All objectives' results for one batch, combined the MineStudio way: the total loss is the
/// sum of every objective's `loss`; metrics of the same name are summed.
#[derive(Clone, Debug)]
pub struct StepLosses {
    /// Sum of the objectives' losses: what the trainer differentiates.
    pub total: Tensor<1>,
    /// Each objective's loss, by objective name, in wiring order (to name the culprit of a NaN).
    pub per_objective: Vec<(&'static str, Tensor<1>)>,
    /// Logged values by name, `loss` (the total, detached) included.
    pub metrics: BTreeMap<String, MetricValue>,
}

impl StepLosses {
    /// Reads every metric back to the host as numbers.
    pub fn metric_values(&self) -> BTreeMap<String, f64> {
        self.metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.to_f64()))
            .collect()
    }
}
