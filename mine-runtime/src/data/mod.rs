//! The offline data layer: MineStudio LMDB datasets, windows, samplers and a batching loader.

pub mod error;
pub mod lmdb;
pub mod pickle;
pub mod video;

pub use error::{DataError, DataResult, Location};
