//! The offline data layer: MineStudio LMDB datasets, windows, samplers and a batching loader.
//!
//! A dataset directory holds one folder per modality (`image/`, `action/`, `meta_info/`,
//! `segmentation/`), each with LMDB parts written by MineStudio's converter (or by
//! `mine-convert`); [`segmentation`] reads ROCKET-1's object masks. [`RawDataset`]
//! joins modalities by episode name and cuts episodes into windows exactly like MineStudio's
//! `RawDataset`; the samplers and [`loader`] turn items into `mine_dsl::batch::Batch`es.
//!
//! ```no_run
//! use burn::tensor::Device;
//! use mine_runtime::data::{Bias, DataLoader, DatasetConfig, Modality, RawDataset};
//!
//! let mut cfg = DatasetConfig::new(vec!["/data/minestudio-dataset".into()]);
//! cfg.win_len = 128;
//! cfg.enable_prev_action = true;
//! cfg.biases.insert(Modality::Action, Bias { read_bias: -1, win_bias: 1 });
//! cfg.episode_continuous_batch = true;
//! cfg.batch_size = 8;
//! let loader = DataLoader::new(RawDataset::open(cfg)?);
//! for batch in loader.epoch(0, &Device::flex()) {
//!     let batch = batch?; // image [B,T,H,W,3], agent/env actions, mask, info
//! #   let _ = batch;
//! }
//! # Ok::<(), mine_runtime::data::DataError>(())
//! ```
//!
//! Raw VPT contractor recordings are converted with [`convert::convert_contractor`] (or the
//! `mine-convert` program of the `minestudio-rs` package); [`synthetic::generate`] writes small learnable datasets for examples
//! and tests. Image chunks are decoded with the bundled OpenH264 by default, or
//! with FFmpeg under the `ffmpeg` cargo feature ([`video::VideoBackend`]).

pub mod action;
pub mod augment;
pub mod chunk_cache;
pub mod collate;
pub mod config;
pub mod convert;
pub mod dataset;
pub mod error;
pub mod event;
#[doc(hidden)] // For the tests and the benchmark.
pub mod lmdb;
pub mod loader;
pub mod meta;
pub mod modality;
#[doc(hidden)] // For the tests, which write pickles of their own.
pub mod pickle;
mod prefetch;
pub(crate) mod pyrandom;
pub mod read;
pub mod sample;
pub mod sampler;
pub mod segmentation;
pub mod synthetic;
pub mod video;
pub mod window;
#[doc(hidden)] // For the tests and the benchmark.
pub mod writer;

pub use config::{Bias, DatasetConfig, ErrorPolicy, Split};
pub use dataset::{EpisodeItems, RawDataset};
pub use error::{DataError, DataResult, Location};
pub use loader::DataLoader;
pub use modality::Modality;
pub use sample::Sample;
