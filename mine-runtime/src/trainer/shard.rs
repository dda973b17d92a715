//! The training source split among data-parallel ranks, and a batch's rows split for them.

use std::ops::Range;

use mine_dsl::batch::{AgentAction, Batch, BatchInfo, EnvAction, Segmentation};

use super::{BatchSource, SourceError, TrainError};

/// The shard of every rank of `world` ([`BatchSource::shard`]); none for one rank, which
/// trains on `train` itself.
pub(super) fn shards_of(
    train: &dyn BatchSource,
    world: usize,
) -> Result<Vec<Box<dyn BatchSource>>, TrainError> {
    if world == 1 {
        return Ok(Vec::new());
    }
    (0..world)
        .map(|rank| train.shard(rank, world))
        .collect::<Result<_, _>>()
        .map_err(|cause| TrainError::Shard { world, cause })
}

/// Rows `rank * B / world .. (rank + 1) * B / world` of `batch` (`B` rows), tensors and
/// bookkeeping alike; an error when `world` ranks cannot share the rows equally.
pub(super) fn shard_rows(batch: &Batch, rank: usize, world: usize) -> Result<Batch, SourceError> {
    let rows = batch.batch_size().unwrap_or(0);
    if world == 0 || !rows.is_multiple_of(world) || rank >= world {
        return Err(format!(
            "a batch of {rows} rows cannot be shared equally by {world} data-parallel ranks \\
             (`trainer.devices`): make the batch size a multiple of the number of ranks"
        )
        .into());
    }
    let per = rows / world;
    let (start, end) = (rank * per, (rank + 1) * per);
    let agent = |a: &AgentAction| AgentAction {
        buttons: a.buttons.clone().slice(start..end),
        camera: a.camera.clone().slice(start..end),
    };
    let env = |a: &EnvAction| EnvAction {
        camera: a.camera.clone().slice(start..end),
        buttons: a.buttons.clone().slice(start..end),
    };
    Ok(Batch {
        image: batch.image.as_ref().map(|t| t.clone().slice(start..end)),
        agent_action: batch.agent_action.as_ref().map(agent),
        env_action: batch.env_action.as_ref().map(env),
        agent_prev_action: batch.agent_prev_action.as_ref().map(agent),
        env_prev_action: batch.env_prev_action.as_ref().map(env),
        mask: batch.mask.as_ref().map(|t| t.clone().slice(start..end)),
        segmentation: batch.segmentation.as_ref().map(|s| Segmentation {
            obj_mask: s.obj_mask.clone().slice(start..end),
            obj_id: s.obj_id.clone().slice(start..end),
        }),
        info: BatchInfo {
            episode: part(&batch.info.episode, start..end),
            timestamp: part(&batch.info.timestamp, start..end),
            progress: part(&batch.info.progress, start..end),
        },
    })
}

/// `values[range]`, or nothing when the batch does not record them.
fn part<T: Clone>(values: &[T], range: Range<usize>) -> Vec<T> {
    values.get(range).map(<[T]>::to_vec).unwrap_or_default()
}
