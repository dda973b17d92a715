//! A batching loader: worker threads read and stack items, a bounded window of batches is
//! prefetched, and batches come out in sampler order (deterministic for a seed).

use std::sync::Arc;

use burn::tensor::Device;
use mine_dsl::batch::Batch;
use tracing::warn;

use super::collate::{HostBatch, collate};
use super::config::ErrorPolicy;
use super::dataset::RawDataset;
use super::error::{DataError, DataResult};
use super::prefetch::{Prefetch, WorkersStopped};
use super::sampler::{ContinuousBatchSampler, ShuffledBatchSampler};

/// Reads batches of a [`RawDataset`] on background threads.
pub struct DataLoader {
    dataset: Arc<RawDataset>,
    /// `(num_replicas, rank)` replacing the configuration's (a data-parallel rank's shard).
    replica: Option<(usize, usize)>,
}

impl DataLoader {
    /// A loader over `dataset`, batching as its configuration says.
    pub fn new(dataset: RawDataset) -> Self {
        Self {
            dataset: Arc::new(dataset),
            replica: None,
        }
    }

    /// The loader of replica `rank` among `num_replicas` over the same dataset (shared, not
    /// reopened): the samplers' split, as `num_replicas` and `rank` in the configuration
    /// would give. The trainer takes one per data-parallel rank; the configuration must
    /// leave `num_replicas` at 1.
    pub fn replica(&self, num_replicas: usize, rank: usize) -> DataResult<Self> {
        let configured = self.dataset.config().num_replicas;
        if configured != 1 {
            return Err(DataError::Config(format!(
                "`num_replicas` = {configured} in the data config, and the trainer splits the \
                 data among its own {num_replicas} ranks (`trainer.devices`): leave \
                 `num_replicas` and `rank` at their defaults"
            )));
        }
        if rank >= num_replicas {
            return Err(DataError::Config(format!(
                "replica {rank} of {num_replicas}: the rank must be below the number of replicas"
            )));
        }
        Ok(Self {
            dataset: self.dataset.clone(),
            replica: Some((num_replicas, rank)),
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &RawDataset {
        &self.dataset
    }

    /// The index batches of `epoch`, from the configured sampler.
    pub fn index_batches(&self, epoch: u64) -> Vec<Vec<usize>> {
        let c = self.dataset.config();
        let (num_replicas, rank) = self.replica.unwrap_or((c.num_replicas, c.rank));
        if c.episode_continuous_batch {
            ContinuousBatchSampler::new(self.dataset.episodes(), c.batch_size, num_replicas, rank)
                .batches()
        } else {
            ShuffledBatchSampler::new(
                self.dataset.len(),
                c.batch_size,
                c.shuffle,
                c.seed,
                num_replicas,
                rank,
            )
            .batches(epoch)
        }
    }

    /// Host batches of `epoch` (no tensors), in order.
    pub fn host_epoch(&self, epoch: u64) -> HostBatches {
        HostBatches::start(self.dataset.clone(), self.index_batches(epoch), epoch)
    }

    /// Batches of `epoch` on `device`, in order.
    pub fn epoch(&self, epoch: u64, device: &Device) -> Batches {
        Batches {
            inner: self.host_epoch(epoch),
            device: device.clone(),
        }
    }

    /// Batches of `epoch` on `device` from batch `start` on (a resumed run's position): the
    /// skipped batches are not read.
    pub fn epoch_from(&self, epoch: u64, start: usize, device: &Device) -> Batches {
        let mut batches = self.index_batches(epoch);
        batches.drain(..start.min(batches.len()));
        Batches {
            inner: HostBatches::start(self.dataset.clone(), batches, epoch),
            device: device.clone(),
        }
    }
}

/// Iterator over host batches; dropping it stops the workers.
pub struct HostBatches {
    inner: Prefetch<DataResult<HostBatch>>,
    policy: ErrorPolicy,
}

impl HostBatches {
    fn start(dataset: Arc<RawDataset>, batches: Vec<Vec<usize>>, epoch: u64) -> Self {
        let cfg = dataset.config();
        let (policy, workers, window) = (cfg.on_error, cfg.num_workers, cfg.prefetch);
        let inner = Prefetch::start(batches.len(), workers, window, move |job| {
            let items = &batches[job];
            // Consecutive batches of the episode-continuous sampler read the same chunks (a
            // 32-frame chunk holds two 16-frame windows), decoded once (`ChunkCache`): each
            // worker starts at another row, so that the workers decode different chunks at the
            // same time rather than one waiting for the other's.
            let start = (job % workers.max(1)) * items.len() / workers.max(1);
            let mut samples: Vec<Option<DataResult<_>>> = items.iter().map(|_| None).collect();
            for k in 0..items.len() {
                let row = (start + k) % items.len();
                samples[row] = Some(dataset.get_in_epoch(items[row], epoch));
            }
            samples
                .into_iter()
                .flatten()
                .collect::<DataResult<Vec<_>>>()
                .and_then(|samples| collate(&samples))
        });
        Self { inner, policy }
    }

    /// Number of batches this epoch yields at most.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the epoch is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Iterator for HostBatches {
    type Item = DataResult<HostBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.inner.next()? {
                Err(WorkersStopped) => {
                    return Some(Err(DataError::Loader(
                        "worker threads stopped early".into(),
                    )));
                }
                Ok(Err(e)) if self.policy == ErrorPolicy::SkipEpisode => {
                    warn!("skipping batch {}: {e}", self.inner.position() - 1)
                }
                Ok(other) => return Some(other),
            }
        }
    }
}

/// Iterator over device batches; dropping it stops the workers.
pub struct Batches {
    inner: HostBatches,
    device: Device,
}

impl Batches {
    /// Number of batches this epoch yields at most.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// Whether the epoch is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }
}

impl Iterator for Batches {
    type Item = DataResult<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner
            .next()
            .map(|r| r.and_then(|host| host.into_batch(&self.device)))
    }
}
