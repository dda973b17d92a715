//! MineStudio's event datasets (`EventDataset`): instead of cutting episodes into windows,
//! every item is the window that ends at one occurrence of an event, read from the events
//! LMDB (`<dataset>/event/`, written by MineStudio's `event_convertion`).
//!
//! Configured by the data config's `event_regex` (the events whose name matches, with
//! Python's `re.match`: anchored at the start only), `bias`, `min_nearby`, `max_within` and
//! optionally `event_paths`, under MineStudio's names. As in MineStudio:
//!
//! * only items at frame 128 or later are kept; with `min_nearby`, an item closer than that
//!   (`<=`) to the last kept item of the same event and episode is dropped; with
//!   `max_within`, an event keeps its first `max_within` items ([`kernel`]);
//! * the split is per event: `train` takes the first `split_ratio` of its items ([`items`]);
//! * an item at frame `t` reads the window starting at `max(t - win_len + bias, 0)`: with
//!   `bias = 0` it ends on frame `t - 1`, with `bias = 1` on the event frame itself.
//!
//! A regex that matches no stored event is an error listing the events there are.

pub mod items;
pub mod kernel;

pub use items::{EventItems, EventWindow};
pub use kernel::{EventFilter, EventItem, EventKernel, MIN_EVENT_FRAME};
