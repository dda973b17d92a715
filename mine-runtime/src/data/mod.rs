//! The offline data layer: MineStudio LMDB datasets, windows, samplers and a batching loader.
//!
//! A dataset directory holds one folder per modality (`image/`, `action/`, `meta_info/`), each
//! with LMDB parts written by MineStudio's converter (or by `mine-convert`). [`RawDataset`]
//! joins modalities by episode name and cuts episodes into windows exactly like MineStudio's
//! `RawDataset`; the samplers and [`loader`] turn items into `mine_dsl::batch::Batch`es.

pub mod action;
pub mod collate;
pub mod config;
pub mod convert;
pub mod dataset;
pub mod error;
pub mod lmdb;
pub mod loader;
pub mod meta;
pub mod modality;
pub mod pickle;
pub mod pyrandom;
pub mod sample;
pub mod sampler;
pub mod video;
pub mod window;
pub mod writer;

pub use config::{Bias, DatasetConfig, ErrorPolicy, Split};
pub use dataset::{EpisodeItems, RawDataset};
pub use error::{DataError, DataResult, Location};
pub use loader::DataLoader;
pub use modality::Modality;
pub use sample::Sample;
