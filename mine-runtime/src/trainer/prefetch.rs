//! The next round of batches drawn, and moved to the ranks' devices, while the current step
//! runs.

use burn::tensor::Device;
use mine_dsl::batch::Batch;

use super::{Batches, SourceError, batch_to_device};

/// The rounds of one epoch (a round: one batch per rank), one round ahead: the trainer calls
/// [`fetch`](Self::fetch) once a step's work is queued, so the next round is read and its
/// tensors copied to the devices while the device still runs the step (on a GPU the copies
/// are queued, the host does not wait for them; on the CPU the work is done in turn).
pub(super) struct Rounds<'a> {
    shards: Vec<Batches<'a>>,
    devices: Vec<Device>,
    /// The round drawn ahead: `Some(None)` when the epoch has ended.
    ahead: Option<Option<Result<Vec<Batch>, SourceError>>>,
}

impl<'a> Rounds<'a> {
    /// Rounds of `shards` (one per rank), rank `r`'s batches moved to `devices[r]`.
    pub fn new(shards: Vec<Batches<'a>>, devices: Vec<Device>) -> Self {
        Self {
            shards,
            devices,
            ahead: None,
        }
    }

    /// Draws the next round and starts moving it to the devices, unless it is drawn already.
    pub fn fetch(&mut self) {
        if self.ahead.is_none() {
            self.ahead = Some(self.draw());
        }
    }

    /// The next round (the one drawn ahead, or drawn now); `None` once any shard has ended,
    /// and an error as soon as a shard fails.
    pub fn next_round(&mut self) -> Option<Result<Vec<Batch>, SourceError>> {
        self.fetch();
        self.ahead.take().flatten()
    }

    fn draw(&mut self) -> Option<Result<Vec<Batch>, SourceError>> {
        let mut round = Vec::with_capacity(self.shards.len());
        for (shard, device) in self.shards.iter_mut().zip(&self.devices) {
            match shard.next()? {
                Ok(batch) => round.push(batch_to_device(batch, device)),
                Err(error) => return Some(Err(error)),
            }
        }
        Some(Ok(round))
    }
}
