//! The items of an event dataset (MineStudio's `EventKernelManager` + `EventDataset`): the
//! kept items of every matching event, split per event, each a window ending at its event.

use std::collections::HashMap;

use regex::Regex;
use tracing::warn;

use super::kernel::{EventFilter, EventItem, EventKernel, event_paths};
use crate::data::config::{DatasetConfig, ErrorPolicy, Split};
use crate::data::error::{DataError, DataResult, Location};

/// One item: the window of an event occurrence.
#[derive(Clone, Debug, PartialEq)]
pub struct EventWindow {
    /// The event's name.
    pub event: String,
    /// The item's index among the event's kept items (after the split's offset).
    pub relative_idx: usize,
    /// The occurrence: episode, frame and stored value.
    pub item: EventItem,
    /// The window's first frame: `max(frame - win_len + bias, 0)`.
    pub start: usize,
}

impl EventWindow {
    /// MineStudio's `text` of the item: the event without its `minecraft.` prefixes.
    pub fn text(&self) -> String {
        self.event.replace("minecraft.", "")
    }
}

/// The items of an event dataset, in MineStudio's index order.
#[derive(Debug)]
pub struct EventItems {
    events: Vec<String>,
    table: Vec<(usize, String, usize)>,
    windows: Vec<EventWindow>,
}

/// `event_regex` as Python's `re.match` applies it: anchored at the start only.
fn compile(regex: &str) -> DataResult<Regex> {
    Regex::new(&format!("^(?:{regex})")).map_err(|e| {
        DataError::Config(format!(
            "`event_regex` = {regex:?} is not a valid regular expression (Rust's `regex` \
             syntax, which has no look-around or backreferences): {e}"
        ))
    })
}

impl EventItems {
    /// Opens the events LMDBs of `config` and builds the items of its split; `episodes`
    /// (name -> frames) are the dataset's joined episodes, which every item must be in.
    pub fn open(config: &DatasetConfig, episodes: &HashMap<String, usize>) -> DataResult<Self> {
        let pattern = config.event_regex.as_deref().unwrap_or_default();
        let regex = compile(pattern)?;
        let filter = EventFilter {
            min_nearby: config.min_nearby,
            max_within: config.max_within,
        };
        let paths = event_paths(&config.dataset_dirs, config.event_paths.as_deref());
        let kernels = paths
            .iter()
            .map(|p| EventKernel::open(p, &regex, filter))
            .collect::<DataResult<Vec<_>>>()?;
        let mut events: Vec<String> = kernels
            .iter()
            .flat_map(|k| k.events().map(str::to_string))
            .collect();
        events.sort();
        events.dedup();
        if events.is_empty() {
            return Err(no_match(pattern, &kernels));
        }
        let mut table = Vec::with_capacity(events.len());
        let mut windows = Vec::new();
        for event in &events {
            let size: usize = kernels.iter().map(|k| k.size(event)).sum();
            let divider = (size as f64 * config.split_ratio) as usize;
            let (offset, count) = match config.split {
                Split::Train => (0, divider),
                Split::Val => (divider, size - divider),
            };
            for rel in offset..offset + count {
                let (item, at) = item_of(&kernels, event, rel)?;
                if !episodes.contains_key(&item.episode) {
                    let message = format!(
                        "item {rel} of `{event}` is in episode `{}`, which the dataset's \
                         modalities do not all hold (or hold with different lengths)",
                        item.episode
                    );
                    if config.on_error == ErrorPolicy::SkipEpisode {
                        warn!("{at}: skipping: {message}");
                        continue;
                    }
                    return Err(DataError::Event { at, message });
                }
                let start = (item.frame - config.win_len as i64 + config.bias).max(0) as usize;
                windows.push(EventWindow {
                    event: event.clone(),
                    relative_idx: rel,
                    item,
                    start,
                });
            }
            table.push((windows.len(), event.clone(), offset));
        }
        Ok(Self {
            events,
            table,
            windows,
        })
    }

    /// The matching events, sorted (MineStudio's `event_list`; some may have no item).
    pub fn events(&self) -> &[String] {
        &self.events
    }

    /// MineStudio's `items`: per event, the cumulative item count, the event and the
    /// split's offset into its items.
    pub fn table(&self) -> &[(usize, String, usize)] {
        &self.table
    }

    /// The split's offset into the items of `event` and how many it holds.
    pub fn split_of(&self, event: &str) -> (usize, usize) {
        let mut previous = 0;
        for (cumulative, e, offset) in &self.table {
            if e == event {
                return (*offset, cumulative - previous);
            }
            previous = *cumulative;
        }
        (0, 0)
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether there is no item.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Item `index`.
    pub fn get(&self, index: usize) -> Option<&EventWindow> {
        self.windows.get(index)
    }
}

/// Item `rel` of `event` over the kernels in order (MineStudio's `EventKernelManager`), with
/// the location of the LMDB it came from.
fn item_of(
    kernels: &[EventKernel],
    event: &str,
    mut rel: usize,
) -> DataResult<(EventItem, Location)> {
    for k in kernels {
        if rel < k.size(event) {
            let at = Location::dataset(k.path()).with_modality("event");
            return Ok((k.item(event, rel)?, at));
        }
        rel -= k.size(event);
    }
    Err(DataError::OutOfRange {
        at: Location::default().with_modality("event"),
        message: format!("event `{event}` has no item {rel}"),
    })
}

fn no_match(pattern: &str, kernels: &[EventKernel]) -> DataError {
    let paths: Vec<String> = kernels
        .iter()
        .map(|k| format!("`{}`", k.path().display()))
        .collect();
    let mut stored: Vec<&str> = kernels
        .iter()
        .flat_map(|k| k.stored_events().iter().map(String::as_str))
        .collect();
    stored.sort_unstable();
    stored.dedup();
    let shown: Vec<&str> = stored.iter().take(12).copied().collect();
    let more = stored.len().saturating_sub(shown.len());
    DataError::Event {
        at: Location::dataset(paths.join(", ")).with_modality("event"),
        message: format!(
            "`event_regex` = {pattern:?} matches none of the {} stored events ({}{}); it is \
             matched at the start of the name like Python's `re.match`, e.g. \
             \"minecraft.mine_block:.*\"",
            stored.len(),
            shown.join(", "),
            if more > 0 {
                format!(", and {more} more")
            } else {
                String::new()
            }
        ),
    }
}
