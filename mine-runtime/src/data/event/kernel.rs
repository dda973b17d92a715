//! One events LMDB (MineStudio's `EventKernel`): the events whose name matches the regex,
//! each with the items that survive MineStudio's filter.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::data::error::{DataError, DataResult, Location};
use crate::data::lmdb::LmdbEnv;
use crate::data::pickle::PyValue;

/// Events at earlier frames are dropped ("dirty events", hard-coded in MineStudio).
pub const MIN_EVENT_FRAME: i64 = 128;
/// What an episode's "last kept item" is before the first (MineStudio's `-100000`).
const NO_PREVIOUS: i64 = -100_000;

/// MineStudio's event filter settings (`EventDataset`'s `min_nearby` and `max_within`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Drop an item within this many frames after the last kept item of the same event in
    /// the same episode (`frame - last <= min_nearby`).
    pub min_nearby: Option<i64>,
    /// Keep at most this many items per event (the first ones in stored order).
    pub max_within: Option<usize>,
}

/// One stored event occurrence.
#[derive(Clone, Debug, PartialEq)]
pub struct EventItem {
    /// The episode it happened in.
    pub episode: String,
    /// The frame it happened on (an index in the converted episode).
    pub frame: i64,
    /// The stored value (the event's count on that frame).
    pub value: PyValue,
}

/// One events LMDB, opened and filtered.
#[derive(Debug)]
pub struct EventKernel {
    store: LmdbEnv,
    /// Codebook id -> episode name, when the LMDB has a `__codebook__`.
    codebook: Option<HashMap<String, String>>,
    /// Every event the LMDB holds, in stored order (for error messages).
    stored: Vec<String>,
    /// Matching events, sorted by name, with the stored indices of their kept items.
    kept: Vec<(String, Vec<usize>)>,
}

fn location(path: &Path) -> Location {
    Location::dataset(path).with_modality("event")
}

impl EventKernel {
    /// Opens the events LMDB in directory `path`, keeps the events `regex` matches and
    /// filters their items.
    pub fn open(path: &Path, regex: &Regex, filter: EventFilter) -> DataResult<Self> {
        let at = location(path);
        if !path.join("data.mdb").is_file() {
            return Err(DataError::Event {
                at,
                message: "no events LMDB here (data.mdb); write one with MineStudio's \
                          `event_convertion` (minestudio.data.minecraft.tools), or point \
                          `event_paths` at it"
                    .into(),
            });
        }
        let store = LmdbEnv::open(path, &at)?;
        let bad = |key: &str, message: String| DataError::Pickle {
            at: at.clone().with_chunk(key),
            message,
        };
        let info = store.pickle("__event_info__", &at)?;
        let PyValue::Dict(info) = info else {
            return Err(bad(
                "__event_info__",
                format!("a {}, expected a dict", info.type_name()),
            ));
        };
        let mut sizes = HashMap::new();
        let mut stored = Vec::with_capacity(info.len());
        for (event, value) in &info {
            let (Some(event), Some(n)) = (
                event.as_str(),
                value.get("__num_items__").and_then(PyValue::as_int),
            ) else {
                return Err(bad(
                    "__event_info__",
                    format!(
                        "entry {}: {} is not {{'__num_items__': int, ...}}",
                        event.repr(),
                        value.repr()
                    ),
                ));
            };
            stored.push(event.to_string());
            sizes.insert(event.to_string(), usize::try_from(n).unwrap_or(0));
        }
        let codebook = match store.get("__codebook__", &at)? {
            None => None,
            Some(_) => Some(
                invert_codebook(store.pickle("__codebook__", &at)?)
                    .map_err(|m| bad("__codebook__", m))?,
            ),
        };
        let mut events: Vec<String> = stored
            .iter()
            .filter(|e| regex.is_match(e))
            .cloned()
            .collect();
        events.sort();
        let mut kernel = Self {
            store,
            codebook,
            stored,
            kept: Vec::new(),
        };
        kernel.kept = events
            .into_iter()
            .map(|e| {
                let kept = kernel.filter(&e, sizes[&e], filter)?;
                Ok((e, kept))
            })
            .collect::<DataResult<_>>()?;
        Ok(kernel)
    }

    /// MineStudio's `EventKernel.filter_out` for one event.
    fn filter(&self, event: &str, stored: usize, filter: EventFilter) -> DataResult<Vec<usize>> {
        let mut last: HashMap<String, i64> = HashMap::new();
        let mut kept = Vec::new();
        for i in 0..stored {
            let item = self.stored_item(event, i)?;
            if item.frame < MIN_EVENT_FRAME {
                continue;
            }
            let previous = last.entry(item.episode).or_insert(NO_PREVIOUS);
            if filter
                .min_nearby
                .is_some_and(|d| item.frame - *previous <= d)
            {
                continue;
            }
            if filter.max_within.is_some_and(|m| kept.len() >= m) {
                break;
            }
            *previous = item.frame;
            kept.push(i);
        }
        Ok(kept)
    }

    /// The events LMDB's directory.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// Every event the LMDB holds, in stored order.
    pub fn stored_events(&self) -> &[String] {
        &self.stored
    }

    /// The matching events, sorted.
    pub fn events(&self) -> impl Iterator<Item = &str> {
        self.kept.iter().map(|(e, _)| e.as_str())
    }

    /// The stored indices of the kept items of `event` (MineStudio's `remaining_events`).
    pub fn kept_items(&self, event: &str) -> &[usize] {
        self.kept
            .iter()
            .find(|(e, _)| e == event)
            .map_or(&[], |(_, k)| k.as_slice())
    }

    /// Items of `event` after the filter (0 for an event this LMDB does not match).
    pub fn size(&self, event: &str) -> usize {
        self.kept_items(event).len()
    }

    /// Kept item `index` of `event`.
    pub fn item(&self, event: &str, index: usize) -> DataResult<EventItem> {
        let stored =
            self.kept_items(event)
                .get(index)
                .copied()
                .ok_or_else(|| DataError::OutOfRange {
                    at: location(self.path()),
                    message: format!(
                        "event `{event}` has {} items, asked for {index}",
                        self.size(event)
                    ),
                })?;
        self.stored_item(event, stored)
    }

    /// Stored item `index` of `event`: key `str((event, index))`, value `(episode, frame, value)`.
    fn stored_item(&self, event: &str, index: usize) -> DataResult<EventItem> {
        let key =
            PyValue::Tuple(vec![PyValue::Str(event.into()), PyValue::Int(index as i64)]).repr();
        let at = location(self.path());
        let value = self.store.pickle(&key, &at)?;
        let bad = |message: String| DataError::Pickle {
            at: at.clone().with_chunk(&key),
            message,
        };
        let (PyValue::Tuple(parts) | PyValue::List(parts)) = &value else {
            return Err(bad(format!(
                "{} is not a tuple (episode, frame, value)",
                value.repr()
            )));
        };
        let [episode, frame, value] = parts.as_slice() else {
            return Err(bad(format!(
                "{} is not a tuple (episode, frame, value)",
                value.repr()
            )));
        };
        let Some(frame) = frame.as_int() else {
            return Err(bad(format!("the frame {} is not an int", frame.repr())));
        };
        let episode = match (&self.codebook, episode) {
            (Some(book), PyValue::Str(id)) => book.get(id).cloned().ok_or_else(|| {
                bad(format!(
                    "episode id {} is not in the `__codebook__`",
                    episode.repr()
                ))
            })?,
            (None, PyValue::Str(name)) => name.clone(),
            (_, other) => return Err(bad(format!("the episode {} is not a str", other.repr()))),
        };
        Ok(EventItem {
            episode,
            frame,
            value: value.clone(),
        })
    }
}

/// `{episode: id}` -> `{id: episode}`.
fn invert_codebook(book: PyValue) -> Result<HashMap<String, String>, String> {
    let PyValue::Dict(entries) = book else {
        return Err(format!("a {}, expected a dict", book.type_name()));
    };
    entries
        .into_iter()
        .map(|(k, v)| match (k, v) {
            (PyValue::Str(episode), PyValue::Str(id)) => Ok((id, episode)),
            (k, v) => Err(format!("entry {}: {} is not str: str", k.repr(), v.repr())),
        })
        .collect()
}

/// The events LMDBs of a dataset: `event_paths`, or `<dir>/event` for every dataset dir.
pub fn event_paths(dataset_dirs: &[PathBuf], event_paths: Option<&[PathBuf]>) -> Vec<PathBuf> {
    match event_paths {
        Some(paths) => paths.to_vec(),
        None => dataset_dirs.iter().map(|d| d.join("event")).collect(),
    }
}
