//! Data parallel training: `trainer.devices = [0, 1, ..]` runs one rank per entry.
//!
//! Each rank has a replica of the policy on its device, its own memory (carried between its
//! batches) and its own shard of the training data (the episode-continuous sampler's
//! `num_replicas`/`rank` split, see [`BatchSource::shard`]). Every optimizer step, each rank
//! runs its batch forward and backward; [`mean_over_ranks`] averages the gradients (the mean,
//! not the sum, so that `n` ranks of batch `B` take the step one device takes with the combined
//! batch of `n * B` rows, for losses that are means over rows); each replica applies the mean
//! with its own optimizer (clipping included), so the replicas stay identical. Rank 0
//! validates, logs and writes the checkpoints, which record the number of ranks: a resume with
//! another number is refused.
//!
//! **Where it runs.** burn 0.22's collectives (`burn::tensor::distributed`) exist on CUDA
//! (NCCL) only: flex has one device and no collectives, and wgpu's collectives are not
//! implemented (cubecl refuses them). So ranks spread over several devices need
//! `backend = "cuda"`, and get their gradient sums across devices from burn's `all_reduce`
//! — the operation burn-train's DDP strategy runs during backward. Ranks sharing a device
//! (`devices = [0, 0]`) run one after the other on it, through the same reduction with nothing
//! to exchange between devices: the same results as separate devices up to float rounding,
//! which is how the equivalence with one device and the combined batch is tested on the CPU.
//! All ranks are driven from the trainer's thread: on a GPU the work is queued, so ranks on
//! separate devices run at the same time.
//!
//! [`BatchSource::shard`]: crate::trainer::BatchSource::shard

mod layout;
mod reduce;

pub use layout::{RankLayout, available_devices};
pub use reduce::mean_over_ranks;
