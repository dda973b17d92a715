//! Stacking samples into a host-side batch, and the host batch into `mine_dsl::batch::Batch`.

use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::action::{AgentActionFrame, EnvActionFrame};
use mine_dsl::batch::{AgentAction, Batch, BatchInfo, EnvAction, Segmentation};

use super::error::{DataError, DataResult};
use super::sample::Sample;

/// Row-major host data for one batch; cheap to build on worker threads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostBatch {
    /// Rows `B`.
    pub batch_size: usize,
    /// Time steps `T` of the images.
    pub time: usize,
    /// `[B, T, H, W, 3]` pixel values 0..=255 as floats, with `(H, W)`.
    pub image: Option<(Vec<f32>, usize, usize)>,
    /// `[B][T]` agent actions.
    pub agent_action: Option<Vec<Vec<AgentActionFrame>>>,
    /// `[B][T]` env actions.
    pub env_action: Option<Vec<Vec<EnvActionFrame>>>,
    /// `[B][T]` previous agent actions.
    pub agent_prev_action: Option<Vec<Vec<AgentActionFrame>>>,
    /// `[B][T]` previous env actions.
    pub env_prev_action: Option<Vec<Vec<EnvActionFrame>>>,
    /// `[B, Tm]` mask.
    pub mask: Option<(Vec<f32>, usize)>,
    /// Object masks and interaction types, when the segmentation modality is read.
    pub segmentation: Option<HostSegmentation>,
    /// Episode names, timestamps and progress strings.
    pub info: BatchInfo,
}

/// The segmentation of a host batch: what `Batch::segmentation` holds, row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostSegmentation {
    /// Time steps `T`.
    pub time: usize,
    /// Mask height `H`.
    pub height: usize,
    /// Mask width `W`.
    pub width: usize,
    /// `[B, T, H, W]` mask values 0.0 / 1.0.
    pub obj_mask: Vec<f32>,
    /// `[B, T]` interaction types.
    pub obj_id: Vec<i64>,
}

/// Stacks samples (all of one configuration) into a host batch.
pub fn collate(samples: &[Sample]) -> DataResult<HostBatch> {
    let Some(first) = samples.first() else {
        return Err(DataError::Loader("cannot collate an empty batch".into()));
    };
    let ragged =
        |what: &str| DataError::Loader(format!("samples disagree on {what}; cannot stack"));
    let mut out = HostBatch {
        batch_size: samples.len(),
        time: first.timestamp.len(),
        ..HostBatch::default()
    };
    if let Some(img) = &first.image {
        let mut data = Vec::with_capacity(samples.len() * img.frames.len());
        for s in samples {
            let i = s.image.as_ref().ok_or_else(|| ragged("images"))?;
            if (i.width, i.height, i.len()) != (img.width, img.height, img.len()) {
                return Err(ragged("image shape"));
            }
            data.extend(i.frames.iter().map(|&v| v as f32));
        }
        out.time = img.len();
        out.image = Some((data, img.height, img.width));
    }
    if first.action.is_some() {
        let actions: Vec<_> = samples
            .iter()
            .map(|s| s.action.as_ref())
            .collect::<Option<_>>()
            .ok_or_else(|| ragged("actions"))?;
        out.agent_action = Some(actions.iter().map(|a| a.agent.clone()).collect());
        out.env_action = Some(actions.iter().map(|a| a.env.clone()).collect());
        out.agent_prev_action = actions.iter().map(|a| a.agent_prev.clone()).collect();
        out.env_prev_action = actions.iter().map(|a| a.env_prev.clone()).collect();
    }
    if let Some(seg) = &first.segmentation {
        let mut out_seg = HostSegmentation {
            time: seg.len(),
            height: seg.height,
            width: seg.width,
            obj_mask: Vec::with_capacity(samples.len() * seg.obj_mask.len()),
            obj_id: Vec::with_capacity(samples.len() * seg.len()),
        };
        for s in samples {
            let g = s
                .segmentation
                .as_ref()
                .ok_or_else(|| ragged("segmentation"))?;
            if (g.width, g.height, g.len()) != (seg.width, seg.height, seg.len()) {
                return Err(ragged("segmentation shape"));
            }
            out_seg
                .obj_mask
                .extend(g.obj_mask.iter().map(|&v| f32::from(v)));
            out_seg.obj_id.extend_from_slice(&g.obj_id);
        }
        out.segmentation = Some(out_seg);
    }
    let t = first.mask.len();
    if samples.iter().any(|s| s.mask.len() != t) {
        return Err(ragged("mask length"));
    }
    out.mask = Some((
        samples
            .iter()
            .flat_map(|s| s.mask.iter().map(|&m| m as f32))
            .collect(),
        t,
    ));
    out.info = BatchInfo {
        episode: samples.iter().map(|s| s.episode.clone()).collect(),
        timestamp: samples.iter().map(|s| s.timestamp.clone()).collect(),
        progress: samples.iter().map(|s| s.progress.clone()).collect(),
    };
    Ok(out)
}

impl HostBatch {
    /// Moves the data onto `device` as a [`Batch`].
    pub fn into_batch(self, device: &Device) -> DataResult<Batch> {
        let b = self.batch_size;
        let err = |e: mine_dsl::action::ActionError| DataError::Loader(format!("actions: {e}"));
        let agent = |f: Option<Vec<Vec<AgentActionFrame>>>| {
            f.map(|f| AgentAction::from_frames(&f, device))
                .transpose()
                .map_err(err)
        };
        let env = |f: Option<Vec<Vec<EnvActionFrame>>>| {
            f.map(|f| EnvAction::from_frames(&f, device))
                .transpose()
                .map_err(err)
        };
        Ok(Batch {
            image: self.image.map(|(data, h, w)| {
                Tensor::<5>::from_data(TensorData::new(data, [b, self.time, h, w, 3]), device)
            }),
            agent_action: agent(self.agent_action)?,
            env_action: env(self.env_action)?,
            agent_prev_action: agent(self.agent_prev_action)?,
            env_prev_action: env(self.env_prev_action)?,
            mask: self
                .mask
                .map(|(m, t)| Tensor::<2>::from_data(TensorData::new(m, [b, t]), device)),
            segmentation: self.segmentation.map(|s| Segmentation {
                obj_mask: Tensor::<4>::from_data(
                    TensorData::new(s.obj_mask, [b, s.time, s.height, s.width]),
                    device,
                ),
                obj_id: Tensor::<2, Int>::from_data(TensorData::new(s.obj_id, [b, s.time]), device),
            }),
            info: self.info,
        })
    }
}
