//! A batching loader: worker threads read and stack items, a bounded window of batches is
//! prefetched, and batches come out in sampler order (deterministic for a seed).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use burn::tensor::Device;
use mine_dsl::batch::Batch;
use tracing::warn;

use super::collate::{HostBatch, collate};
use super::config::ErrorPolicy;
use super::dataset::RawDataset;
use super::error::{DataError, DataResult};
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

struct Shared {
    /// Batches handed to the consumer so far.
    consumed: Mutex<usize>,
    wake: Condvar,
    stop: AtomicBool,
}

/// Iterator over host batches; dropping it stops the workers.
pub struct HostBatches {
    rx: Receiver<(usize, DataResult<HostBatch>)>,
    pending: BTreeMap<usize, DataResult<HostBatch>>,
    next: usize,
    total: usize,
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    policy: ErrorPolicy,
}

impl HostBatches {
    fn start(dataset: Arc<RawDataset>, batches: Vec<Vec<usize>>, epoch: u64) -> Self {
        let cfg = dataset.config();
        let policy = cfg.on_error;
        let workers_n = cfg.num_workers.max(1);
        let window = cfg.prefetch.max(1);
        let total = batches.len();
        let (tx, rx) = sync_channel(window + workers_n);
        let shared = Arc::new(Shared {
            consumed: Mutex::new(0),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let batches = Arc::new(batches);
        let next_job = Arc::new(AtomicUsize::new(0));
        let workers = (0..workers_n)
            .map(|_| {
                let (dataset, batches, next_job, shared, tx) = (
                    dataset.clone(),
                    batches.clone(),
                    next_job.clone(),
                    shared.clone(),
                    tx.clone(),
                );
                std::thread::spawn(move || {
                    loop {
                        let job = next_job.fetch_add(1, Ordering::SeqCst);
                        if job >= batches.len() {
                            return;
                        }
                        // Stay within `window` batches of the consumer.
                        {
                            let mut consumed =
                                shared.consumed.lock().unwrap_or_else(|p| p.into_inner());
                            while job >= *consumed + window && !shared.stop.load(Ordering::SeqCst) {
                                consumed = shared
                                    .wake
                                    .wait(consumed)
                                    .unwrap_or_else(|p| p.into_inner());
                            }
                        }
                        if shared.stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let result = batches[job]
                            .iter()
                            .map(|&i| dataset.get_in_epoch(i, epoch))
                            .collect::<DataResult<Vec<_>>>()
                            .and_then(|samples| collate(&samples));
                        if tx.send((job, result)).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        Self {
            rx,
            pending: BTreeMap::new(),
            next: 0,
            total,
            shared,
            workers,
            policy,
        }
    }

    /// Number of batches this epoch yields at most.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether the epoch is empty.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }
}

impl Iterator for HostBatches {
    type Item = DataResult<HostBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.next >= self.total {
                return None;
            }
            while !self.pending.contains_key(&self.next) {
                match self.rx.recv() {
                    Ok((job, result)) => {
                        self.pending.insert(job, result);
                    }
                    Err(_) => {
                        self.next = self.total;
                        return Some(Err(DataError::Loader(
                            "worker threads stopped early".into(),
                        )));
                    }
                }
            }
            let result = self
                .pending
                .remove(&self.next)
                .unwrap_or_else(|| Err(DataError::Loader("batch went missing".into())));
            self.next += 1;
            {
                let mut consumed = self
                    .shared
                    .consumed
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                *consumed = self.next;
                self.shared.wake.notify_all();
            }
            match result {
                Err(e) if self.policy == ErrorPolicy::SkipEpisode => {
                    warn!("skipping batch {}: {e}", self.next - 1)
                }
                other => return Some(other),
            }
        }
    }
}

impl Drop for HostBatches {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.wake.notify_all();
        // Unblock workers waiting to send, then wait for them.
        while self.rx.try_recv().is_ok() {}
        for w in self.workers.drain(..) {
            while !w.is_finished() {
                while self.rx.try_recv().is_ok() {}
                std::thread::yield_now();
            }
            if w.join().is_err() {
                warn!("a data loader worker panicked");
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
