//! What the affine normalizations ([`group_norm`](super::group_norm),
//! [`layer_norm`](super::layer_norm)) share on flex: the forward's result, the backward
//! step's inputs and gradients' registration, and the autodiff form's recording.

use std::fmt::Debug;
use std::sync::Arc;

use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Flex};
use burn_flex::FlexTensor;

use super::tensor::{contiguous, register_weight_and_bias, tensor, values};

/// A normalization forward's output and the statistics its backward reads.
pub struct Normalized {
    /// The normalized tensor.
    pub out: FlexTensor,
    /// Per-unit mean (a row, or a sample's group).
    pub mean: Arc<[f32]>,
    /// Per-unit reciprocal standard deviation.
    pub rstd: Arc<[f32]>,
}

impl Normalized {
    /// The output and the statistics the kernel wrote.
    pub fn new(out: FlexTensor, mean: Vec<f32>, rstd: Vec<f32>) -> Self {
        Self {
            out,
            mean: mean.into(),
            rstd: rstd.into(),
        }
    }
}

/// The backward state every normalization keeps: the checkpointed `x` and `gamma`, and the
/// forward's statistics.
#[derive(Clone, Debug)]
pub struct Stats {
    /// The checkpointed input.
    pub x: NodeId,
    /// The checkpointed scale.
    pub gamma: NodeId,
    /// Per-unit mean.
    pub mean: Arc<[f32]>,
    /// Per-unit reciprocal standard deviation.
    pub rstd: Arc<[f32]>,
}

impl Stats {
    /// The state of the checkpointed `[x, gamma]` and `n`'s statistics.
    pub fn new([x, gamma]: [NodeId; 2], n: &Normalized) -> Self {
        Self {
            x,
            gamma,
            mean: n.mean.clone(),
            rstd: n.rstd.clone(),
        }
    }

    /// `x` and `gamma` back from the checkpointer, contiguous.
    pub fn inputs(&self, checkpointer: &mut Checkpointer) -> [FlexTensor; 2] {
        [self.x, self.gamma].map(|id| contiguous(checkpointer.retrieve_node_output(id)))
    }
}

/// What a normalization's backward step starts from: the output gradient and the
/// checkpointed inputs, and the affine parameters' gradients for its kernel to fill. The
/// step ends with [`finish`](Self::finish).
pub struct BackwardStep {
    /// The tracked parents' ids: `x`, `gamma`, `beta`.
    nodes: [Option<NodeId>; 3],
    /// The output gradient, contiguous.
    pub grad: FlexTensor,
    /// The checkpointed input, contiguous.
    pub x: FlexTensor,
    /// The checkpointed scale, contiguous.
    pub gamma: FlexTensor,
    /// The scale's gradient, zeroed (`gamma`'s length).
    pub dgamma: Vec<f32>,
    /// The shift's gradient, zeroed (`gamma`'s length).
    pub dbeta: Vec<f32>,
}

impl BackwardStep {
    /// Takes the output gradient of `ops` out of `grads` and `stats`' inputs back from the
    /// checkpointer.
    pub fn start<S>(
        ops: &Ops<S, 3>,
        stats: &Stats,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) -> Self {
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let [x, gamma] = stats.inputs(checkpointer);
        let c = values(&gamma).len();
        Self {
            nodes: ops.parents.each_ref().map(|n| n.as_ref().map(|n| n.id)),
            grad,
            x,
            gamma,
            dgamma: vec![0.0; c],
            dbeta: vec![0.0; c],
        }
    }

    /// Registers the gradients for the tracked parents: `dx` for `x`, the filled `dgamma`
    /// and `dbeta` for the affine parameters.
    pub fn finish(self, grads: &mut Gradients, dx: FlexTensor) {
        let [x, gamma, beta] = self.nodes;
        if let Some(id) = x {
            grads.register::<Flex>(id, dx);
        }
        let c = self.dgamma.len();
        register_weight_and_bias(
            grads,
            [gamma, beta],
            tensor(self.dgamma, [c]),
            tensor(self.dbeta, [c]),
        );
    }
}

/// The autodiff form of a normalization `op` of `x` with affine `gamma`, `beta`: `run`
/// computes the forward on the three primitives; when an input is tracked, `x` and `gamma`
/// are checkpointed and `saved` builds the backward's state from their ids and the forward's
/// statistics.
pub fn autodiff<C, Op>(
    op: Op,
    [x, gamma, beta]: [FloatTensor<Autodiff<Flex, C>>; 3],
    run: impl FnOnce(FlexTensor, FlexTensor, FlexTensor) -> Normalized,
    saved: impl FnOnce([NodeId; 2], &Normalized) -> Op::State,
) -> FloatTensor<Autodiff<Flex, C>>
where
    C: CheckpointStrategy,
    Op: Backward<Flex, 3>,
    Op::State: Clone + Send + Debug + 'static,
{
    let primitives = || [x.primitive(), gamma.primitive(), beta.primitive()].map(Clone::clone);
    match op
        .prepare::<C>([x.node(), gamma.node(), beta.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(mut prep) => {
            let ids = [prep.checkpoint(&x), prep.checkpoint(&gamma)];
            let [xp, gp, bp] = primitives();
            let normalized = run(xp, gp, bp);
            let state = saved(ids, &normalized);
            prep.finish(state, normalized.out)
        }
        OpsKind::UnTracked(prep) => {
            let [xp, gp, bp] = primitives();
            prep.finish(run(xp, gp, bp).out)
        }
    }
}
