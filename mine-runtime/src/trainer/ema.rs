//! Exponential moving average of a module's weights.

use std::collections::HashMap;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use crate::trainer::config::EmaConfig;

/// A copy of a module whose float parameters follow `ema = decay * ema + (1 - decay) * w`.
///
/// The average lives without autodiff (it is never trained) on the module's device. Integer
/// and boolean parameters are not averaged: they keep the values they had when the average
/// started.
///
/// ```
/// use burn::module::Module;
/// use burn::nn::LinearConfig;
/// use burn::tensor::Device;
/// use mine_runtime::trainer::config::EmaConfig;
/// use mine_runtime::trainer::ema::Ema;
///
/// let device = Device::flex();
/// let model = LinearConfig::new(2, 1).init(&device);
/// let config = EmaConfig { decay: 0.5, every_n_steps: 1, use_for_validation: false };
/// let mut ema = Ema::new(&model, &config);
/// let moved = model.clone().map(&mut Shift);
/// ema.update(&moved, 1); // halfway between the old and the new weights
/// let w = |m: &burn::nn::Linear| m.weight.val().into_data().try_to_vec::<f32>().unwrap();
/// let (old, new, avg) = (w(&model), w(&moved), w(ema.module()));
/// assert!((avg[0] - (old[0] + new[0]) / 2.0).abs() < 1e-6);
/// # struct Shift;
/// # impl burn::module::ModuleMapper for Shift {
/// #     fn map_float<const D: usize>(&mut self, p: burn::module::Param<burn::tensor::Tensor<D>>)
/// #         -> burn::module::Param<burn::tensor::Tensor<D>> { p.map(|t| t.add_scalar(1.0)) }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Ema<M: Module> {
    module: M,
    decay: f64,
    every_n_steps: usize,
}

impl<M: Module> Ema<M> {
    /// Starts the average at the current weights of `module`.
    pub fn new(module: &M, config: &EmaConfig) -> Self {
        Self {
            module: module.valid(),
            decay: config.decay,
            every_n_steps: config.every_n_steps.max(1),
        }
    }

    /// The averaged module (without autodiff).
    pub fn module(&self) -> &M {
        &self.module
    }

    /// Replaces the average by `module`'s weights (when resuming from a checkpoint).
    pub fn set_module(&mut self, module: M) {
        self.module = module.valid();
    }

    /// Folds the weights of `trained` into the average if optimizer step `step` (1-based count
    /// of steps taken) is a multiple of `every_n_steps`. Returns whether it did.
    pub fn update(&mut self, trained: &M, step: usize) -> bool {
        if !step.is_multiple_of(self.every_n_steps) {
            return false;
        }
        let mut collect = Collect::default();
        trained.visit(&mut collect);
        let mut blend = Blend {
            live: collect.floats,
            decay: self.decay,
        };
        self.module = self.module.clone().map(&mut blend);
        true
    }
}

/// The trained module's float weights, flattened and without autodiff, by parameter id.
#[derive(Default)]
struct Collect {
    floats: HashMap<ParamId, Tensor<1>>,
}

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let value = param
            .val()
            .detach()
            .without_autodiff()
            .flatten::<1>(0, D - 1);
        self.floats.insert(param.id, value);
    }
}

/// Moves each averaged parameter towards the trained one.
struct Blend {
    live: HashMap<ParamId, Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(live) = self.live.remove(&param.id) else {
            return param;
        };
        let decay = self.decay;
        param.map(|avg| {
            let live = live.reshape(avg.dims()).to_device(&avg.device());
            avg.mul_scalar(decay) + live.mul_scalar(1.0 - decay)
        })
    }
}
