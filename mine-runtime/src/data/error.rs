//! Errors of the offline data layer: every one names the dataset, episode and chunk involved.

use std::path::PathBuf;

/// The parts of a [`Location`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct LocationParts {
    /// The dataset directory (or LMDB part) being read.
    pub dataset: PathBuf,
    /// The modality (`image`, `action`, `meta_info`), when known.
    pub modality: Option<String>,
    /// The episode name, when known.
    pub episode: Option<String>,
    /// The chunk key (`"(0, 32)"`), when known.
    pub chunk: Option<String>,
}

/// Where in a dataset a problem was found (boxed, so errors stay small).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Location(Box<LocationParts>);

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "dataset `{}`", self.0.dataset.display())?;
        if let Some(m) = &self.0.modality {
            write!(f, ", modality `{m}`")?;
        }
        if let Some(e) = &self.0.episode {
            write!(f, ", episode `{e}`")?;
        }
        if let Some(c) = &self.0.chunk {
            write!(f, ", chunk `{c}`")?;
        }
        Ok(())
    }
}

impl Location {
    /// A location naming only a dataset path.
    pub fn dataset(path: impl Into<PathBuf>) -> Self {
        Self(Box::new(LocationParts {
            dataset: path.into(),
            ..LocationParts::default()
        }))
    }

    /// The dataset, modality, episode and chunk named.
    pub fn parts(&self) -> &LocationParts {
        &self.0
    }

    /// The same location with a modality.
    pub fn with_modality(mut self, modality: &str) -> Self {
        self.0.modality = Some(modality.to_string());
        self
    }

    /// The same location with an episode.
    pub fn with_episode(mut self, episode: &str) -> Self {
        self.0.episode = Some(episode.to_string());
        self
    }

    /// The same location with a chunk key.
    pub fn with_chunk(mut self, chunk: &str) -> Self {
        self.0.chunk = Some(chunk.to_string());
        self
    }
}

/// Everything that can go wrong while reading, converting or batching offline data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file or directory could not be read.
    #[error("{at}: cannot read `{path}`: {cause}")]
    Io {
        /// Where.
        at: Location,
        /// The path that failed.
        path: PathBuf,
        /// The OS error.
        cause: std::io::Error,
    },
    /// The dataset has no folder for a requested modality.
    #[error(
        "{at}: no `{modality}` folder (expected one of {expected}); convert the modality or drop it from `modalities`"
    )]
    MissingModality {
        /// Where.
        at: Location,
        /// The modality asked for.
        modality: String,
        /// Folder names that would have been accepted.
        expected: String,
    },
    /// An LMDB environment could not be opened or read.
    #[error("{at}: LMDB error: {message}; the part is missing or corrupt, re-convert it")]
    Lmdb {
        /// Where.
        at: Location,
        /// The LMDB message.
        message: String,
    },
    /// A key the format requires is absent.
    #[error("{at}: key `{key}` is missing; the part is incomplete, re-convert it")]
    MissingKey {
        /// Where.
        at: Location,
        /// The missing key.
        key: String,
    },
    /// A pickle could not be decoded or held something unexpected.
    #[error("{at}: unexpected pickle: {message}")]
    Pickle {
        /// Where.
        at: Location,
        /// What was wrong.
        message: String,
    },
    /// An H.264/MP4 chunk could not be demuxed or decoded.
    #[error(
        "{at}: cannot decode video chunk: {message}; the chunk is truncated or corrupt, re-convert the episode"
    )]
    Video {
        /// Where.
        at: Location,
        /// What was wrong.
        message: String,
    },
    /// A segmentation chunk holds an interaction whose mask or fields do not decode.
    #[error(
        "{at}: bad segmentation data: {message}; the chunk is corrupt or was not written by \
         MineStudio's segmentation converter, re-convert the episode's segmentation"
    )]
    Segmentation {
        /// Where (the chunk).
        at: Location,
        /// Which frame and interaction, and what is wrong.
        message: String,
    },
    /// An events LMDB is missing, or no event matches, or an event item is unusable.
    #[error("{at}: {message}")]
    Event {
        /// Where (the events LMDB).
        at: Location,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// Modalities or chunks disagree about the number of frames.
    #[error("{at}: frame count mismatch: {message}")]
    FrameCount {
        /// Where.
        at: Location,
        /// What disagreed.
        message: String,
    },
    /// A window or index lies outside the dataset.
    #[error("{at}: {message}")]
    OutOfRange {
        /// Where.
        at: Location,
        /// What was out of range.
        message: String,
    },
    /// The configuration is invalid.
    #[error("invalid data configuration: {0}")]
    Config(String),
    /// A raw recording could not be converted.
    #[error("{at}: cannot convert recording: {message}")]
    Convert {
        /// Where.
        at: Location,
        /// What was wrong.
        message: String,
    },
    /// A conversion's output directory cannot be written as asked.
    #[error("output `{path}`: {message}")]
    Output {
        /// The output directory (or the temporary directory beside it).
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The data loader's workers stopped unexpectedly.
    #[error("data loader: {0}")]
    Loader(String),
}

/// Result alias of the data layer.
pub type DataResult<T> = Result<T, DataError>;
