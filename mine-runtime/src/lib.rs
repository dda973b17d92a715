//! Trainer runtime for mine-dsl experiments: optimizer and the policy networks.

pub mod optim;
pub mod policies;
