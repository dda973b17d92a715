//! Batch samplers: shuffled batches, and MineStudio's episode-continuous batches.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::dataset::EpisodeItems;

/// An episode's share of one replica: `(episode, start, end, first_item)` with items
/// `first_item + start .. first_item + end`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaEpisode {
    /// Episode name.
    pub episode: String,
    /// First window (inclusive) this replica reads.
    pub start: usize,
    /// Last window (exclusive) this replica reads.
    pub end: usize,
    /// Dataset index of the episode's window 0.
    pub first_item: usize,
}

/// MineStudio's `MineDistributedBatchSampler`: each batch row follows one episode window after
/// window, so a recurrent policy's memory carries over between consecutive batches.
///
/// The dataset's items are split into `num_replicas` equal contiguous ranges (the remainder is
/// dropped); within a replica, rows take episodes in order, and a row whose episode runs out
/// continues with the next unread episode. Incomplete final batches are dropped.
#[derive(Clone, Debug)]
pub struct ContinuousBatchSampler {
    batch_size: usize,
    per_replica: usize,
    episodes: Vec<ReplicaEpisode>,
}

impl ContinuousBatchSampler {
    /// Builds the sampler for one replica.
    pub fn new(
        episodes: &[EpisodeItems],
        batch_size: usize,
        num_replicas: usize,
        rank: usize,
    ) -> Self {
        let total: usize = episodes.iter().map(|e| e.num_items).sum();
        let per_replica = total / num_replicas.max(1);
        let (lo, hi) = (per_replica * rank, per_replica * (rank + 1));
        let mut past = 0;
        let mut within = Vec::new();
        for e in episodes {
            if past + e.num_items > lo && past < hi {
                within.push(ReplicaEpisode {
                    episode: e.episode.clone(),
                    start: lo.saturating_sub(past),
                    end: e.num_items.min(hi - past),
                    first_item: e.first_item,
                });
            }
            past += e.num_items;
        }
        Self {
            batch_size: batch_size.max(1),
            per_replica,
            episodes: within,
        }
    }

    /// The episodes (and window ranges) this replica reads.
    pub fn episodes_within_replica(&self) -> &[ReplicaEpisode] {
        &self.episodes
    }

    /// Number of batches MineStudio reports (`items_per_replica / batch_size`).
    pub fn len(&self) -> usize {
        self.per_replica / self.batch_size
    }

    /// Whether the sampler yields no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All batches of one pass, as dataset indices.
    pub fn batches(&self) -> Vec<Vec<usize>> {
        let b = self.batch_size;
        let mut next = 0;
        let mut reading: Vec<Option<(usize, usize, usize)>> = vec![None; b];
        let mut out = Vec::new();
        loop {
            // Refill free rows in order; stop refilling at the first row that finds no episode.
            for row in reading.iter_mut() {
                if row.is_none() {
                    let Some(e) = self.episodes.get(next) else {
                        break;
                    };
                    *row = Some((e.start, e.end, e.first_item));
                    next += 1;
                }
            }
            let mut batch: Vec<Option<usize>> = vec![None; b];
            while let Some(cur) = batch.iter().position(Option::is_none) {
                // Prefer the row's own episode, else the first row that still has one.
                let src = if reading[cur].is_some() {
                    cur
                } else {
                    match reading.iter().position(Option::is_some) {
                        Some(i) => i,
                        None => return out,
                    }
                };
                let Some((start, end, bias)) = reading[src] else {
                    return out;
                };
                batch[cur] = Some(bias + start);
                reading[src] = (start + 1 < end).then_some((start + 1, end, bias));
            }
            out.push(batch.into_iter().flatten().collect());
        }
    }
}

/// Shuffled (or sequential) batches over all items, dropping the incomplete last batch.
///
/// With several replicas every replica takes every `num_replicas`-th index of the shuffled
/// order (torch's `DistributedSampler`, padding dropped), so replicas never share items.
#[derive(Clone, Debug)]
pub struct ShuffledBatchSampler {
    len: usize,
    batch_size: usize,
    shuffle: bool,
    seed: u64,
    num_replicas: usize,
    rank: usize,
}

impl ShuffledBatchSampler {
    /// A sampler over `len` items.
    pub fn new(
        len: usize,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        num_replicas: usize,
        rank: usize,
    ) -> Self {
        Self {
            len,
            batch_size: batch_size.max(1),
            shuffle,
            seed,
            num_replicas: num_replicas.max(1),
            rank,
        }
    }

    /// Number of full batches per epoch.
    pub fn len(&self) -> usize {
        (self.len / self.num_replicas) / self.batch_size
    }

    /// Whether an epoch yields no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The batches of `epoch` (the order depends only on `seed` and `epoch`).
    pub fn batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len).collect();
        if self.shuffle {
            let mut rng =
                StdRng::seed_from_u64(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ epoch);
            order.shuffle(&mut rng);
        }
        let per_replica = self.len / self.num_replicas;
        let mine: Vec<usize> = order
            .into_iter()
            .skip(self.rank)
            .step_by(self.num_replicas)
            .take(per_replica)
            .collect();
        mine.chunks_exact(self.batch_size)
            .map(<[usize]>::to_vec)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffled_batches_cover_each_item_once_and_drop_the_tail() {
        let s = ShuffledBatchSampler::new(10, 3, true, 7, 1, 0);
        let batches = s.batches(0);
        assert_eq!(batches.len(), 3);
        let mut all: Vec<usize> = batches.concat();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 9);
        assert_eq!(batches, s.batches(0), "deterministic for a seed");
        assert_ne!(batches, s.batches(1), "another epoch, another order");
    }

    #[test]
    fn replicas_get_disjoint_items() {
        let a = ShuffledBatchSampler::new(11, 2, true, 1, 2, 0)
            .batches(0)
            .concat();
        let b = ShuffledBatchSampler::new(11, 2, true, 1, 2, 1)
            .batches(0)
            .concat();
        assert_eq!(a.len(), 4);
        assert!(a.iter().all(|i| !b.contains(i)));
    }

    #[test]
    fn unshuffled_batches_are_in_order() {
        let s = ShuffledBatchSampler::new(5, 2, false, 0, 1, 0);
        assert_eq!(s.batches(3), vec![vec![0, 1], vec![2, 3]]);
    }
}
