//! A modality's LMDB parts merged into one view, joined to other modalities by episode name.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::{DataError, DataResult, Location};
use super::lmdb::{LmdbPart, chunk_key};

/// The modalities a MineStudio dataset stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Modality {
    /// H.264 video chunks (`image/` or `video/`).
    Image,
    /// Pickled env action dicts (`action/`).
    Action,
    /// Pickled per-frame meta info (`meta_info/` or `contractor_info/`).
    MetaInfo,
    /// ROCKET-1's object masks: pickled per-frame interaction dicts with RLE masks
    /// (`segmentation/` or `segment/`, MineStudio's `SegmentationKernelCallback`).
    Segmentation,
}

impl Modality {
    /// The name MineStudio gives the modality (keys `image`, `action`, `meta_info`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Action => "action",
            Self::MetaInfo => "meta_info",
            Self::Segmentation => "segmentation",
        }
    }

    /// Folder names recognised for this modality.
    pub fn folder_names(self) -> &'static [&'static str] {
        match self {
            Self::Image => &["image", "video"],
            Self::Action => &["action"],
            Self::MetaInfo => &["meta_info", "contractor_info"],
            Self::Segmentation => &["segmentation", "segment"],
        }
    }
}

/// Where one episode of a modality lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpisodeEntry {
    /// Index into [`ModalStore::parts`].
    pub part: usize,
    /// Episode index local to that part.
    pub episode_idx: i64,
    /// Stored frames.
    pub num_frames: usize,
}

/// All LMDB parts of one modality across the dataset directories.
#[derive(Debug)]
pub struct ModalStore {
    /// The modality.
    pub modality: Modality,
    /// Opened parts, in directory order (sorted by name).
    pub parts: Vec<LmdbPart>,
    /// Episode name -> location (a later part wins, like MineStudio's mapping).
    pub episodes: HashMap<String, EpisodeEntry>,
}

fn sorted_entries(dir: &Path, at: &Location) -> DataResult<Vec<PathBuf>> {
    let read = std::fs::read_dir(dir).map_err(|cause| DataError::Io {
        at: at.clone(),
        path: dir.to_path_buf(),
        cause,
    })?;
    let mut out = Vec::new();
    for entry in read {
        let entry = entry.map_err(|cause| DataError::Io {
            at: at.clone(),
            path: dir.to_path_buf(),
            cause,
        })?;
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

impl ModalStore {
    /// Opens every LMDB part of `modality` found under the dataset directories.
    pub fn open(dataset_dirs: &[PathBuf], modality: Modality) -> DataResult<Self> {
        let mut dirs: Vec<&PathBuf> = dataset_dirs.iter().collect();
        dirs.sort();
        let mut parts = Vec::new();
        let mut found_folder = false;
        for dir in &dirs {
            let at = Location::dataset(dir.as_path()).with_modality(modality.name());
            for sub in sorted_entries(dir, &at)? {
                let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !sub.is_dir() || !modality.folder_names().contains(&name) {
                    continue;
                }
                found_folder = true;
                for part in sorted_entries(&sub, &at)? {
                    if part.is_dir() {
                        parts.push(LmdbPart::open(&part, modality.name())?);
                    }
                }
            }
        }
        if !found_folder {
            let dataset = dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(DataError::MissingModality {
                at: Location::dataset(dataset),
                modality: modality.name().to_string(),
                expected: modality.folder_names().join(" or "),
            });
        }
        let mut episodes = HashMap::new();
        for (i, part) in parts.iter().enumerate() {
            for info in &part.chunk_infos {
                episodes.insert(
                    info.episode.clone(),
                    EpisodeEntry {
                        part: i,
                        episode_idx: info.episode_idx,
                        num_frames: info.num_frames,
                    },
                );
            }
        }
        Ok(Self {
            modality,
            parts,
            episodes,
        })
    }

    /// The location of `episode`, for error messages.
    pub fn location(&self, episode: &str) -> Location {
        let mut at = match self.episodes.get(episode) {
            Some(e) => Location::dataset(self.parts[e.part].path()),
            None => Location::default(),
        };
        at = at.with_modality(self.modality.name()).with_episode(episode);
        at
    }

    /// Chunk size of the part holding `episode`.
    pub fn chunk_size(&self, episode: &str) -> DataResult<usize> {
        let e = self.entry(episode)?;
        Ok(self.parts[e.part].chunk_size)
    }

    /// The entry of `episode`, or an error.
    pub fn entry(&self, episode: &str) -> DataResult<&EpisodeEntry> {
        self.episodes
            .get(episode)
            .ok_or_else(|| DataError::OutOfRange {
                at: Location::default()
                    .with_modality(self.modality.name())
                    .with_episode(episode),
                message: "episode is not in this modality".into(),
            })
    }

    /// Reads the chunks starting at `first..=last` (multiples of the chunk size).
    pub fn read_chunks(
        &self,
        episode: &str,
        first: usize,
        last: usize,
    ) -> DataResult<Vec<(Location, Vec<u8>)>> {
        let e = self.entry(episode)?;
        let part = &self.parts[e.part];
        let mut out = Vec::new();
        let mut start = first;
        while start <= last {
            let key = chunk_key(e.episode_idx, start);
            let at = self.location(episode).with_chunk(&key);
            let bytes = part.require(&key, &at)?;
            out.push((at, bytes));
            start += part.chunk_size;
        }
        Ok(out)
    }

    /// Checks that every chunk of `episode` is present (without decoding it).
    pub fn check_chunks(&self, episode: &str) -> DataResult<()> {
        let e = self.entry(episode)?;
        let part = &self.parts[e.part];
        let mut start = 0;
        while start < e.num_frames {
            let key = chunk_key(e.episode_idx, start);
            let at = self.location(episode).with_chunk(&key);
            if !part.contains(&key, &at)? {
                return Err(DataError::MissingKey { at, key });
            }
            start += part.chunk_size;
        }
        Ok(())
    }
}
