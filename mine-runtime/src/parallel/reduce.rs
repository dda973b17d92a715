//! The gradient mean over data-parallel ranks: what every replica applies.

use std::collections::HashSet;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::distributed::{ReduceOperation, all_reduce};
use burn::tensor::{Device, Tensor};

use super::RankLayout;

/// Averages the ranks' gradients (`ranks[r]`: rank `r`'s gradients of its own loss) over the
/// ranks, for every float parameter of `module`: the gradients of the ranks sharing a device
/// are summed there in rank order, the sums are added across devices by burn's all-reduce
/// (only when the ranks span several devices), and the total is divided by the number of
/// ranks. Returns one set of mean gradients per device of `layout` (on `devices[i]`, the
/// devices without autodiff), identical on every device.
///
/// A parameter without a gradient on some rank counts as a zero gradient there (PyTorch DDP's
/// `find_unused_parameters`); one without a gradient on any rank gets none.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::LinearConfig;
/// use burn::optim::GradientsParams;
/// use burn::tensor::{Device, Tensor};
/// use mine_runtime::trainer::backend::Backend;
/// use mine_runtime::parallel::{RankLayout, mean_over_ranks};
///
/// let device = Device::flex().autodiff();
/// let model = LinearConfig::new(1, 1).with_bias(false).init(&device);
/// let grads = |x: f32| {
///     let y = model.forward(Tensor::<2>::from_floats([[x]], &device)).sum();
///     GradientsParams::from_grads(y.backward(), &model)
/// };
/// let layout = RankLayout::resolve(Backend::Flex, &[0, 0]).unwrap();
/// let mean = mean_over_ranks(&model, vec![grads(1.0), grads(3.0)], &layout, &[Device::flex()]);
/// let weight = mean[0].get::<2>(model.weight.id).unwrap();
/// assert_eq!(weight.into_data().try_to_vec::<f32>().unwrap(), [2.0]); // (1 + 3) / 2
/// ```
pub fn mean_over_ranks<M: Module>(
    module: &M,
    ranks: Vec<GradientsParams>,
    layout: &RankLayout,
    devices: &[Device],
) -> Vec<GradientsParams> {
    assert_eq!(
        ranks.len(),
        layout.world_size(),
        "one gradient set per rank"
    );
    assert_eq!(
        devices.len(),
        layout.devices.len(),
        "one device per replica"
    );
    let mut visitor = Mean {
        ranks,
        replica_of_rank: &layout.replica_of_rank,
        devices,
        out: (0..devices.len()).map(|_| GradientsParams::new()).collect(),
        seen: HashSet::new(),
    };
    module.visit(&mut visitor);
    visitor.out
}

struct Mean<'a> {
    ranks: Vec<GradientsParams>,
    replica_of_rank: &'a [usize],
    devices: &'a [Device],
    out: Vec<GradientsParams>,
    /// Parameters already reduced (a shared parameter counts once).
    seen: HashSet<ParamId>,
}

impl ModuleVisitor for Mean<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !self.seen.insert(param.id) {
            return;
        }
        let mut sums: Vec<Option<Tensor<D>>> = vec![None; self.devices.len()];
        for (grads, &replica) in self.ranks.iter_mut().zip(self.replica_of_rank) {
            if let Some(grad) = grads.remove::<D>(param.id) {
                let sum = &mut sums[replica];
                *sum = Some(match sum.take() {
                    None => grad,
                    Some(sum) => sum + grad,
                });
            }
        }
        let Some(shape) = sums.iter().flatten().next().map(Tensor::shape) else {
            return;
        };
        let sums: Vec<Tensor<D>> = sums
            .into_iter()
            .zip(self.devices)
            .map(|(sum, device)| sum.unwrap_or_else(|| Tensor::zeros(shape.clone(), device)))
            .collect();
        let world = self.ranks.len();
        for (out, total) in self.out.iter_mut().zip(across_devices(sums, self.devices)) {
            out.register::<D>(param.id, total.div_scalar(world as f32));
        }
    }
}

/// The sum over devices of `sums` (one per device), on every device: burn's all-reduce when
/// there are several devices (CUDA's NCCL; the call is queued on each device, not waited for).
fn across_devices<const D: usize>(sums: Vec<Tensor<D>>, devices: &[Device]) -> Vec<Tensor<D>> {
    if sums.len() == 1 {
        return sums;
    }
    let reduced: Vec<_> = sums
        .into_iter()
        .map(|sum| all_reduce(sum, ReduceOperation::Sum, devices.to_vec()))
        .collect();
    reduced.into_iter().map(|t| t.resolve()).collect()
}
