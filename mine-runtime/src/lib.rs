//! Trainer runtime for mine-dsl experiments.

pub mod optim;
