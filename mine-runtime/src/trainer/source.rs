//! Where batches come from: any source that can replay an epoch from a position.

use burn::tensor::Device;
use mine_dsl::batch::Batch;

use super::shard::shard_rows;
use crate::data::DataLoader;

/// An error of a batch source, boxed so that any data pipeline fits.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// The batches of one epoch.
pub type Batches<'a> = Box<dyn Iterator<Item = Result<Batch, SourceError>> + 'a>;

/// A source of batches, epoch by epoch: the training data or the validation data.
///
/// `epoch(e, skip)` yields epoch `e` without its first `skip` batches: a resumed run continues
/// at the batch after the last one its checkpoint had consumed. Epochs must be reproducible
/// (the same `e` yields the same batches) for a resumed run to see the data the interrupted
/// run would have seen.
///
/// Implemented for [`DataLoader`] (on a device of your choice, see [`LoaderSource`]), for
/// closures through [`from_fn`], and for a fixed list of batches through [`InMemory`].
pub trait BatchSource {
    /// The batches of epoch `epoch` (0-based), starting after the first `skip`.
    fn epoch(&mut self, epoch: usize, skip: usize) -> Result<Batches<'_>, SourceError>;

    /// The number of batches of epoch `epoch`, if known (sizes a learning-rate decay and the
    /// progress bar).
    fn len_hint(&self, _epoch: usize) -> Option<usize> {
        None
    }

    /// The shard of data-parallel rank `rank` among `world` ranks (`trainer.devices`): the
    /// batches that rank trains on, none of them another rank's, as many per epoch as every
    /// other shard's. The trainer asks for the shards only when there are several ranks, at
    /// the start of `fit`. The default refuses: a source that cannot be split.
    fn shard(&self, rank: usize, world: usize) -> Result<Box<dyn BatchSource>, SourceError> {
        let _ = rank;
        Err(format!(
            "this batch source cannot be split among {world} data-parallel ranks \
             (`trainer.devices`): train from a `LoaderSource` or `InMemory`, implement \
             `BatchSource::shard` for it, or train on one device"
        )
        .into())
    }
}

/// A source built from a closure returning each epoch's batches. Skipped batches are drawn
/// and dropped; implement [`BatchSource`] directly for a source that can seek.
///
/// ```
/// use mine_dsl::batch::Batch;
/// use mine_runtime::trainer::{BatchSource, SourceError, from_fn};
///
/// let mut source = from_fn(|epoch| {
///     (0..3).map(move |_| Ok::<_, SourceError>(Batch::default())).take(epoch + 1)
/// });
/// assert_eq!(source.epoch(1, 1).unwrap().count(), 1);
/// ```
pub fn from_fn<F, I, E>(make: F) -> FnSource<F>
where
    F: FnMut(usize) -> I,
    I: IntoIterator<Item = Result<Batch, E>>,
    E: Into<SourceError>,
{
    FnSource(make)
}

/// See [`from_fn`].
pub struct FnSource<F>(F);

impl<F, I, E> BatchSource for FnSource<F>
where
    F: FnMut(usize) -> I,
    I: IntoIterator<Item = Result<Batch, E>>,
    I::IntoIter: 'static,
    E: Into<SourceError>,
{
    fn epoch(&mut self, epoch: usize, skip: usize) -> Result<Batches<'_>, SourceError> {
        let iter = (self.0)(epoch)
            .into_iter()
            .skip(skip)
            .map(|r| r.map_err(Into::into));
        Ok(Box::new(iter))
    }
}

/// The same list of batches every epoch.
#[derive(Debug, Clone, Default)]
pub struct InMemory(pub Vec<Batch>);

impl BatchSource for InMemory {
    fn epoch(&mut self, _epoch: usize, skip: usize) -> Result<Batches<'_>, SourceError> {
        Ok(Box::new(self.0.iter().skip(skip).cloned().map(Ok)))
    }

    fn len_hint(&self, _epoch: usize) -> Option<usize> {
        Some(self.0.len())
    }

    /// Rows `rank * B / world ..` of every batch: `world` ranks of `B / world` rows train on
    /// what one device trains on with batches of `B` rows.
    fn shard(&self, rank: usize, world: usize) -> Result<Box<dyn BatchSource>, SourceError> {
        let batches = self
            .0
            .iter()
            .map(|batch| shard_rows(batch, rank, world))
            .collect::<Result<_, _>>()?;
        Ok(Box::new(InMemory(batches)))
    }
}

/// A [`DataLoader`] producing batches on `device`; skipping starts the loader's workers at
/// the right batch instead of reading the skipped ones.
pub struct LoaderSource {
    /// The loader.
    pub loader: DataLoader,
    /// Where batches are created.
    pub device: Device,
}

impl LoaderSource {
    /// Batches of `loader` on `device`.
    pub fn new(loader: DataLoader, device: Device) -> Self {
        Self { loader, device }
    }
}

impl BatchSource for LoaderSource {
    fn epoch(&mut self, epoch: usize, skip: usize) -> Result<Batches<'_>, SourceError> {
        let batches = self.loader.epoch_from(epoch as u64, skip, &self.device);
        Ok(Box::new(batches.map(|r| r.map_err(Into::into))))
    }

    fn len_hint(&self, epoch: usize) -> Option<usize> {
        Some(self.loader.index_batches(epoch as u64).len())
    }

    /// The loader's replica `rank` of `world` ([`DataLoader::replica`]): the
    /// episode-continuous sampler's ranks, as MineStudio's `MineDistributedBatchSampler`
    /// splits them. Batches are created on this source's device.
    fn shard(&self, rank: usize, world: usize) -> Result<Box<dyn BatchSource>, SourceError> {
        let loader = self.loader.replica(world, rank)?;
        Ok(Box::new(LoaderSource::new(loader, self.device.clone())))
    }
}
