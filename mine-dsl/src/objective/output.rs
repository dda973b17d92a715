//! What an objective returns: a loss and named metrics.

use std::borrow::Cow;

use burn::tensor::Tensor;

/// A logged value: a (detached) one-element tensor or a plain number.
// Metrics are few per step; boxing the tensor would cost an allocation for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum MetricValue {
    /// A one-element tensor, detached from the graph; read back only when logged.
    Tensor(Tensor<1>),
    /// A host value such as a weight.
    Scalar(f64),
}

impl MetricValue {
    /// The value as a number (reads the tensor back from its device).
    pub fn to_f64(&self) -> f64 {
        match self {
            MetricValue::Tensor(t) => t.clone().into_scalar::<f32>() as f64,
            MetricValue::Scalar(v) => *v,
        }
    }
}

/// The sum of two values logged under the same name by different objectives.
impl std::ops::Add for MetricValue {
    type Output = MetricValue;

    fn add(self, other: MetricValue) -> MetricValue {
        match (self, other) {
            (MetricValue::Scalar(a), MetricValue::Scalar(b)) => MetricValue::Scalar(a + b),
            (MetricValue::Tensor(a), MetricValue::Tensor(b)) => MetricValue::Tensor(a + b),
            (MetricValue::Tensor(t), MetricValue::Scalar(s))
            | (MetricValue::Scalar(s), MetricValue::Tensor(t)) => {
                MetricValue::Tensor(t.add_scalar(s))
            }
        }
    }
}

/// The result of one objective on one batch: the loss added to the total, and metrics that
/// are only logged (MineStudio's `{'loss': .., 'other_key': ..}`).
///
/// The name `loss` is reserved for [`ObjectiveOutput::loss`]; metrics of the same name from
/// several objectives are summed when logged.
///
/// ```
/// use burn::tensor::{Device, Tensor};
/// use mine_dsl::objective::ObjectiveOutput;
///
/// let device = Device::flex();
/// let loss = Tensor::<1>::from_floats([2.0], &device);
/// let out = ObjectiveOutput::new(loss.clone() * 0.5)
///     .metric("raw_loss", loss)
///     .scalar("weight", 0.5);
/// assert_eq!(out.metrics.len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct ObjectiveOutput {
    /// The weighted loss, a one-element tensor that gradients flow through.
    pub loss: Tensor<1>,
    /// Named values to log, in insertion order.
    pub metrics: Vec<(Cow<'static, str>, MetricValue)>,
}

impl ObjectiveOutput {
    /// An output with this loss and no metrics.
    pub fn new(loss: Tensor<1>) -> Self {
        Self {
            loss,
            metrics: Vec::new(),
        }
    }

    /// Adds a tensor metric (detached: metrics carry no gradient).
    pub fn metric(mut self, name: impl Into<Cow<'static, str>>, value: Tensor<1>) -> Self {
        self.metrics
            .push((name.into(), MetricValue::Tensor(value.detach())));
        self
    }

    /// Adds a host-side number as a metric.
    pub fn scalar(mut self, name: impl Into<Cow<'static, str>>, value: f64) -> Self {
        self.metrics.push((name.into(), MetricValue::Scalar(value)));
        self
    }
}

/// Return types an `#[objective]` function may have: [`ObjectiveOutput`] or
/// `Result<ObjectiveOutput, E>` with an error convertible into [`ObjectiveError`](super::ObjectiveError).
pub trait IntoObjectiveResult {
    /// Converts into the result the experiment consumes.
    fn into_objective_result(self) -> Result<ObjectiveOutput, super::ObjectiveError>;
}

impl IntoObjectiveResult for ObjectiveOutput {
    fn into_objective_result(self) -> Result<ObjectiveOutput, super::ObjectiveError> {
        Ok(self)
    }
}

impl<E: Into<super::ObjectiveError>> IntoObjectiveResult for Result<ObjectiveOutput, E> {
    fn into_objective_result(self) -> Result<ObjectiveOutput, super::ObjectiveError> {
        self.map_err(Into::into)
    }
}
