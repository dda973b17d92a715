//! MineStudio's `RawDataset`: episodes joined across modalities, cut into windows.

use std::collections::HashMap;
use std::sync::Arc;

use tracing::warn;

use mine_dsl::action::{ActionSpace, AgentActionFrame, EnvActionFrame};

use super::action::decode_action_chunk;
use super::chunk_cache::ChunkCache;
use super::config::{DatasetConfig, ErrorPolicy, Split};
use super::error::{DataError, DataResult, Location};
use super::event::EventItems;
use super::meta::decode_meta_chunk;
use super::modality::{ModalStore, Modality};
use super::pickle::PyValue;
use super::pyrandom::PyRandom;
use super::read::read_frames;
use super::sample::{ActionWindow, ImageWindow, MetaWindow, Sample};
use super::segmentation::{Pick, read_segmentation};
use super::video::decode_chunk_sized;
use super::window::Window;

/// An episode's share of the dataset's items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EpisodeItems {
    /// Episode name.
    pub episode: String,
    /// Stored frames.
    pub num_frames: usize,
    /// Windows (`ceil(num_frames / win_len)`).
    pub num_items: usize,
    /// Dataset index of the first window.
    pub first_item: usize,
}

/// A windowed view over the episodes of one split: MineStudio's `RawDataset`, or its
/// `EventDataset` when the configuration sets `event_regex` (items are then the windows
/// ending at events, see [`crate::data::event`]).
#[derive(Debug)]
pub struct RawDataset {
    config: DatasetConfig,
    stores: Vec<ModalStore>,
    /// Decoded image chunks shared by the loader's workers.
    decoded: ChunkCache,
    episodes: Vec<EpisodeItems>,
    /// Event datasets: the items, and every joined episode's frame count.
    events: Option<(EventItems, HashMap<String, usize>)>,
    len: usize,
}

/// Chunks the image cache keeps: about two batches' worth (each window of up to `win_len`
/// frames touches `win_len / 32 + 1` chunks of MineStudio's 32 frames at most).
fn cache_capacity(config: &DatasetConfig) -> usize {
    2 * config.batch_size.max(1) * (config.win_len.div_ceil(32) + 1)
}

/// Where an item's window lies.
struct Place<'a> {
    episode: &'a str,
    num_frames: usize,
    start: usize,
    relative_idx: usize,
    progress: String,
    text: String,
}

impl RawDataset {
    /// Opens the dataset directories and builds the item list.
    pub fn open(config: DatasetConfig) -> DataResult<Self> {
        config.validate()?;
        let mut stores = Vec::new();
        for &m in &config.modalities {
            if stores.iter().any(|s: &ModalStore| s.modality == m) {
                return Err(DataError::Config(format!(
                    "modality `{}` listed twice",
                    m.name()
                )));
            }
            stores.push(ModalStore::open(&config.dataset_dirs, m)?);
        }
        let mut lengths = joined_episodes(&stores, config.on_error)?;
        if config.event_regex.is_some() {
            // MineStudio's event items come from the whole dataset; the split is per event.
            let frames: HashMap<String, usize> = lengths.into_iter().collect();
            let items = EventItems::open(&config, &frames)?;
            return Ok(Self {
                len: items.len(),
                decoded: ChunkCache::new(cache_capacity(&config)),
                config,
                stores,
                episodes: Vec::new(),
                events: Some((items, frames)),
            });
        }
        if config.shuffle_episodes {
            PyRandom::new(config.seed).shuffle(&mut lengths);
        }
        let divider = (lengths.len() as f64 * config.split_ratio) as usize;
        let lengths = match config.split {
            Split::Train => lengths[..divider].to_vec(),
            Split::Val => lengths[divider..].to_vec(),
        };
        let mut episodes = Vec::with_capacity(lengths.len());
        let mut len = 0;
        for (episode, num_frames) in lengths {
            let num_items = num_frames.div_ceil(config.win_len);
            episodes.push(EpisodeItems {
                episode,
                num_frames,
                num_items,
                first_item: len,
            });
            len += num_items;
        }
        Ok(Self {
            decoded: ChunkCache::new(cache_capacity(&config)),
            config,
            stores,
            episodes,
            events: None,
            len,
        })
    }

    /// The configuration the dataset was opened with.
    pub fn config(&self) -> &DatasetConfig {
        &self.config
    }

    /// The items of an event dataset (`None` for windows over whole episodes).
    pub fn events(&self) -> Option<&EventItems> {
        self.events.as_ref().map(|(items, _)| items)
    }

    /// Number of items (windows).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the split holds no items.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Episodes of this split with their item ranges, in item order (empty for an event
    /// dataset, whose items are not consecutive windows).
    pub fn episodes(&self) -> &[EpisodeItems] {
        &self.episodes
    }

    /// The episode index and window number of dataset item `index` (for an event dataset:
    /// the item's index and its index among its event's items).
    pub fn locate(&self, index: usize) -> DataResult<(usize, usize)> {
        if index >= self.len {
            return Err(DataError::OutOfRange {
                at: Location::dataset(self.dataset_label()),
                message: format!("item {index} is past the end ({} items)", self.len),
            });
        }
        if let Some((items, _)) = &self.events {
            let rel = items.get(index).map_or(0, |w| w.relative_idx);
            return Ok((index, rel));
        }
        let e = self
            .episodes
            .partition_point(|e| e.first_item + e.num_items <= index);
        Ok((e, index - self.episodes[e].first_item))
    }

    /// The episode, window start and bookkeeping of item `index`.
    fn place(&self, index: usize) -> DataResult<Place<'_>> {
        let (e, rel) = self.locate(index)?;
        if let Some((items, frames)) = &self.events {
            let w = items.get(e).ok_or_else(|| DataError::OutOfRange {
                at: Location::dataset(self.dataset_label()),
                message: format!("event item {index} is missing"),
            })?;
            return Ok(Place {
                episode: &w.item.episode,
                num_frames: frames.get(&w.item.episode).copied().unwrap_or(0),
                start: w.start,
                relative_idx: rel,
                progress: {
                    let (offset, count) = items.split_of(&w.event);
                    format!("{}/{count}", rel - offset)
                },
                text: w.text(),
            });
        }
        let ep = &self.episodes[e];
        Ok(Place {
            episode: &ep.episode,
            num_frames: ep.num_frames,
            start: rel * self.config.win_len,
            relative_idx: rel,
            progress: format!("{rel}/{}", ep.num_items),
            text: "raw".into(),
        })
    }

    fn dataset_label(&self) -> String {
        self.config
            .dataset_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Reads item `index` (as in epoch 0: see [`get_in_epoch`](Self::get_in_epoch)).
    pub fn get(&self, index: usize) -> DataResult<Sample> {
        self.get_in_epoch(index, 0)
    }

    /// Reads item `index` for `epoch`: with `enable_video_aug`, the window's augmentation is
    /// drawn from the seed, the epoch and the index (the loader passes its epoch).
    pub fn get_in_epoch(&self, index: usize, epoch: u64) -> DataResult<Sample> {
        let mut sample = self.read(index)?;
        if self.config.enable_video_aug {
            let draw = self.config.video_aug.draw(self.config.seed, epoch, index);
            draw.apply(&mut sample);
        }
        Ok(sample)
    }

    fn read(&self, index: usize) -> DataResult<Sample> {
        let place = self.place(index)?;
        let cfg = &self.config;
        let start = place.start;
        let mut sample = Sample {
            index,
            episode: place.episode.to_string(),
            relative_idx: place.relative_idx,
            progress: place.progress,
            text: place.text,
            // Frame index of every step: `start + k * skip_frame` (with `skip_frame == 1`
            // MineStudio's `arange(start, start + win_len, skip_frame)`; for larger skips
            // MineStudio's timestamps and masks disagree with its frames, these do not).
            timestamp: (0..cfg.win_len)
                .map(|k| (start + k * cfg.skip_frame) as i64)
                .collect(),
            image: None,
            action: None,
            meta_info: None,
            segmentation: None,
            mask: Vec::new(),
        };
        for store in &self.stores {
            let bias = cfg.bias(store.modality);
            let win = Window::new(
                start,
                cfg.win_len,
                cfg.skip_frame,
                bias.read_bias,
                bias.win_bias,
                place.num_frames,
            );
            match store.modality {
                Modality::Image => {
                    sample.image = Some(self.read_image(store, place.episode, &win)?)
                }
                Modality::Action => {
                    sample.action = Some(self.read_action(store, place.episode, &win)?)
                }
                Modality::MetaInfo => {
                    sample.meta_info = Some(read_meta(store, place.episode, &win)?)
                }
                Modality::Segmentation => {
                    sample.segmentation = Some(read_segmentation(
                        store,
                        place.episode,
                        &win,
                        (cfg.frame_width, cfg.frame_height),
                        &Pick::Seeded(cfg.seed),
                    )?)
                }
            }
        }
        let masks = [
            sample.action.as_ref().map(|a| &a.mask),
            sample.image.as_ref().map(|i| &i.mask),
            sample.meta_info.as_ref().map(|m| &m.mask),
            sample.segmentation.as_ref().map(|s| &s.mask),
        ];
        sample.mask = masks
            .into_iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default();
        Ok(sample)
    }

    fn read_image(
        &self,
        store: &ModalStore,
        episode: &str,
        win: &Window,
    ) -> DataResult<ImageWindow> {
        let (w, h) = (self.config.frame_width, self.config.frame_height);
        let backend = self.config.video_backend;
        let frames = read_frames(store, episode, win, |bytes, at| {
            let frames = self.decoded.get_or_decode(at, || {
                let frames = decode_chunk_sized(bytes, backend, (w, h)).map_err(|message| {
                    DataError::Video {
                        at: at.clone(),
                        message,
                    }
                })?;
                Ok(frames.into_iter().map(Arc::from).collect())
            })?;
            Ok(frames.as_ref().clone())
        })?;
        let mut out = ImageWindow {
            width: w,
            height: h,
            frames: Vec::with_capacity(frames.len() * w * h * 3),
            mask: Vec::with_capacity(frames.len()),
        };
        for f in frames {
            match f {
                Some(data) => {
                    out.frames.extend_from_slice(&data);
                    out.mask.push(1);
                }
                None => {
                    out.frames.resize(out.frames.len() + w * h * 3, 0);
                    out.mask.push(0);
                }
            }
        }
        Ok(out)
    }

    fn read_action(
        &self,
        store: &ModalStore,
        episode: &str,
        win: &Window,
    ) -> DataResult<ActionWindow> {
        let frames = read_frames(store, episode, win, decode_action_chunk)?;
        let mask: Vec<u8> = frames.iter().map(|f| f.is_some() as u8).collect();
        let env: Vec<EnvActionFrame> = frames.into_iter().map(Option::unwrap_or_default).collect();
        let space = ActionSpace::vpt();
        let agent = |a: &[EnvActionFrame]| -> Vec<AgentActionFrame> {
            a.iter().map(|f| space.env_to_agent(f)).collect()
        };
        if self.config.enable_prev_action {
            let cur = env[1..].to_vec();
            let prev = env[..env.len() - 1].to_vec();
            Ok(ActionWindow {
                agent: agent(&cur),
                agent_prev: Some(agent(&prev)),
                mask: vec![1; cur.len()],
                env: cur,
                env_prev: Some(prev),
            })
        } else {
            Ok(ActionWindow {
                agent: agent(&env),
                env,
                env_prev: None,
                agent_prev: None,
                mask,
            })
        }
    }
}

fn read_meta(store: &ModalStore, episode: &str, win: &Window) -> DataResult<MetaWindow> {
    let frames: Vec<Option<PyValue>> = read_frames(store, episode, win, decode_meta_chunk)?;
    let mask = frames.iter().map(|f| f.is_some() as u8).collect();
    Ok(MetaWindow { frames, mask })
}

/// Episodes present in every modality with equal frame counts and complete chunks, by name.
fn joined_episodes(stores: &[ModalStore], policy: ErrorPolicy) -> DataResult<Vec<(String, usize)>> {
    let Some(first) = stores.first() else {
        return Ok(Vec::new());
    };
    let mut names: Vec<&String> = first
        .episodes
        .keys()
        .filter(|n| stores.iter().all(|s| s.episodes.contains_key(*n)))
        .collect();
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match check_episode(stores, name) {
            Ok(frames) => out.push((name.clone(), frames)),
            Err(e) if policy == ErrorPolicy::SkipEpisode => {
                warn!("skipping episode `{name}`: {e}");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn check_episode(stores: &[ModalStore], name: &str) -> DataResult<usize> {
    let counts: Vec<(Modality, usize)> = stores
        .iter()
        .map(|s| (s.modality, s.episodes[name].num_frames))
        .collect();
    if counts.windows(2).any(|w| w[0].1 != w[1].1) {
        let detail = counts
            .iter()
            .map(|(m, n)| format!("{}: {n}", m.name()))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(DataError::FrameCount {
            at: stores[0].location(name),
            message: format!("modalities disagree ({detail}); re-convert the episode"),
        });
    }
    for s in stores {
        s.check_chunks(name)?;
    }
    Ok(counts[0].1)
}
