//! Stacking samples into a host-side batch, and the host batch into `mine_dsl::batch::Batch`.

use burn::tensor::{Device, Int, Tensor, TensorData};
use mine_dsl::batch::{AgentAction as AgentTensors, Batch, BatchInfo, EnvAction as EnvTensors};

use super::action::EnvAction;
use super::error::{DataError, DataResult};
use super::sample::{AgentAction, Sample};

/// Row-major host arrays for one batch; cheap to build on worker threads.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostBatch {
    /// Rows `B`.
    pub batch_size: usize,
    /// Time steps `T` of images (and of the mask).
    pub time: usize,
    /// `[B, T, H, W, 3]` pixel values 0..=255 as floats, with `(H, W)`.
    pub image: Option<(Vec<f32>, usize, usize)>,
    /// `[B, Ta, 1]` agent buttons and cameras.
    pub agent_action: Option<(Vec<i64>, Vec<i64>, usize)>,
    /// `[B, Ta, 20]` env buttons and `[B, Ta, 2]` cameras.
    pub env_action: Option<(Vec<i64>, Vec<f32>, usize)>,
    /// Previous agent actions, like `agent_action`.
    pub agent_prev_action: Option<(Vec<i64>, Vec<i64>, usize)>,
    /// Previous env actions, like `env_action`.
    pub env_prev_action: Option<(Vec<i64>, Vec<f32>, usize)>,
    /// `[B, Tm]` mask.
    pub mask: Option<(Vec<f32>, usize)>,
    /// Episode names, timestamps and progress strings.
    pub info: BatchInfo,
}

fn agent(rows: &[&[AgentAction]]) -> (Vec<i64>, Vec<i64>, usize) {
    let t = rows.first().map_or(0, |r| r.len());
    let b = rows
        .iter()
        .flat_map(|r| r.iter().map(|a| a.buttons))
        .collect();
    let c = rows
        .iter()
        .flat_map(|r| r.iter().map(|a| a.camera))
        .collect();
    (b, c, t)
}

fn env(rows: &[&[EnvAction]]) -> (Vec<i64>, Vec<f32>, usize) {
    let t = rows.first().map_or(0, |r| r.len());
    let b = rows
        .iter()
        .flat_map(|r| r.iter().flat_map(|a| a.buttons))
        .collect();
    let c = rows
        .iter()
        .flat_map(|r| r.iter().flat_map(|a| a.camera.map(|v| v as f32)))
        .collect();
    (b, c, t)
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
    if let Some(a) = &first.action {
        let actions: Vec<_> = samples
            .iter()
            .map(|s| s.action.as_ref().filter(|x| x.env.len() == a.env.len()))
            .collect::<Option<_>>()
            .ok_or_else(|| ragged("actions"))?;
        let ag: Vec<&[AgentAction]> = actions.iter().map(|x| x.agent.as_slice()).collect();
        let en: Vec<&[EnvAction]> = actions.iter().map(|x| x.env.as_slice()).collect();
        out.agent_action = Some(agent(&ag));
        out.env_action = Some(env(&en));
        if a.env_prev.is_some() {
            let ag: Vec<&[AgentAction]> = actions
                .iter()
                .map(|x| x.agent_prev.as_deref().unwrap_or(&[]))
                .collect();
            let en: Vec<&[EnvAction]> = actions
                .iter()
                .map(|x| x.env_prev.as_deref().unwrap_or(&[]))
                .collect();
            out.agent_prev_action = Some(agent(&ag));
            out.env_prev_action = Some(env(&en));
        }
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
    /// Moves the arrays onto `device` as a [`Batch`].
    pub fn into_batch(self, device: &Device) -> Batch {
        let b = self.batch_size;
        let ints3 = |v: Vec<i64>, t: usize, c: usize| {
            Tensor::<3, Int>::from_data(TensorData::new(v, [b, t, c]), device)
        };
        let agent = |(buttons, camera, t): (Vec<i64>, Vec<i64>, usize)| AgentTensors {
            buttons: ints3(buttons, t, 1),
            camera: ints3(camera, t, 1),
        };
        let env = |(buttons, camera, t): (Vec<i64>, Vec<f32>, usize)| EnvTensors {
            camera: Tensor::<3>::from_data(TensorData::new(camera, [b, t, 2]), device),
            buttons: ints3(buttons, t, 20),
        };
        Batch {
            image: self.image.map(|(data, h, w)| {
                Tensor::<5>::from_data(TensorData::new(data, [b, self.time, h, w, 3]), device)
            }),
            agent_action: self.agent_action.map(agent),
            env_action: self.env_action.map(env),
            agent_prev_action: self.agent_prev_action.map(agent),
            env_prev_action: self.env_prev_action.map(env),
            mask: self
                .mask
                .map(|(m, t)| Tensor::<2>::from_data(TensorData::new(m, [b, t]), device)),
            info: self.info,
        }
    }
}
