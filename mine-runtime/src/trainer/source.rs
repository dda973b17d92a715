//! Where the trainer's batches come from.

use burn::tensor::Device;
use mine_dsl::batch::Batch;

use crate::data::loader::DataLoader;

/// An error a batch source reports (decoding, I/O, ...), boxed.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// A source of batches, one pass (epoch) at a time, created on the device the trainer asks for
/// (the autodiff device for training, the plain one for validation).
pub trait BatchSource {
    /// The batches of `epoch`, in order, starting after the first `skip` (to resume mid-epoch).
    fn epoch<'a>(
        &'a mut self,
        epoch: u64,
        skip: usize,
        device: &Device,
    ) -> Box<dyn Iterator<Item = Result<Batch, SourceError>> + 'a>;
}

impl BatchSource for DataLoader {
    fn epoch<'a>(
        &'a mut self,
        epoch: u64,
        skip: usize,
        device: &Device,
    ) -> Box<dyn Iterator<Item = Result<Batch, SourceError>> + 'a> {
        Box::new(
            DataLoader::epoch(self, epoch, device)
                .skip(skip)
                .map(|batch| batch.map_err(|e| Box::new(e) as SourceError)),
        )
    }
}

/// Batches built by a function of (epoch, index, device), for generated data and tests.
pub struct GeneratedBatches<F> {
    batches_per_epoch: usize,
    make: F,
}

impl<F: FnMut(u64, usize, &Device) -> Batch> GeneratedBatches<F> {
    /// `batches_per_epoch` batches per epoch, each made by `make(epoch, index, device)`.
    pub fn new(batches_per_epoch: usize, make: F) -> Self {
        Self {
            batches_per_epoch,
            make,
        }
    }
}

impl<F: FnMut(u64, usize, &Device) -> Batch> BatchSource for GeneratedBatches<F> {
    fn epoch<'a>(
        &'a mut self,
        epoch: u64,
        skip: usize,
        device: &Device,
    ) -> Box<dyn Iterator<Item = Result<Batch, SourceError>> + 'a> {
        let device = device.clone();
        let make = &mut self.make;
        Box::new((skip..self.batches_per_epoch).map(move |i| Ok(make(epoch, i, &device))))
    }
}
