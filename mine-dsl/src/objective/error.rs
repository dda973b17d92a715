//! Errors raised while evaluating objectives.

/// An objective could not be evaluated on a batch.
#[derive(Debug, thiserror::Error)]
pub enum ObjectiveError {
    /// The batch lacks a field the objective requires.
    #[error(
        "objective `{objective}` needs batch field `{field}`, which this batch does not have; \
         enable the modality that provides it in the dataset config, or make the parameter `Option<..>`"
    )]
    MissingBatchField {
        /// The objective's name.
        objective: &'static str,
        /// The batch field's name.
        field: &'static str,
    },
    /// The latents lack a key the objective consumes (only possible for experiments assembled
    /// from configuration, and only if wiring validation was bypassed).
    #[error(
        "objective `{objective}` consumes latent `{key}`, which the policy's latents do not hold"
    )]
    MissingLatent {
        /// The objective's name.
        objective: &'static str,
        /// The latent key's name.
        key: &'static str,
    },
    /// An error reported by the objective itself.
    #[error("objective failed: {0}")]
    Custom(String),
}

impl From<String> for ObjectiveError {
    fn from(message: String) -> Self {
        ObjectiveError::Custom(message)
    }
}

impl From<&str> for ObjectiveError {
    fn from(message: &str) -> Self {
        ObjectiveError::Custom(message.to_owned())
    }
}
