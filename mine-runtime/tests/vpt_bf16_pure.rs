//! `trainer.precision = "bf16-pure"` on burn's CPU backend: bf16 as the device's float type,
//! the weights included, and the tiny VPT still learns. A test binary of its own: the setting
//! changes the flex device's default float type, which every test of a process shares.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{DType, Tensor};
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::backend::Precision;
use mine_runtime::trainer::{InMemory, Trainer};

mod common;

use common::vpt_task::{batch, train_losses, trainer_config};

/// Counts the float parameters, and those stored as bf16.
#[derive(Default)]
struct Bf16Count {
    params: usize,
    bf16: usize,
}

impl ModuleVisitor for Bf16Count {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.params += 1;
        self.bf16 += usize::from(param.val().dtype() == DType::BF16);
    }
}

#[test]
fn bf16_pure_trains_with_bf16_weights() {
    let vpt = VptConfig::tiny();
    let dir = tempfile::tempdir().unwrap();
    let mut config = trainer_config(dir.path(), 20);
    config.precision = Precision::Bf16Pure;
    config.tensorboard = false;
    config.plots = false;
    let device = config.device().unwrap();
    let policy = VptPolicy::new(&vpt, &device).unwrap();
    let experiment = Experiment::new(policy).objective(BehaviorClone { weight: 1.0 });
    let mut trainer = Trainer::new(config, experiment).unwrap();
    let mut data = InMemory((0..10).map(|i| batch(i, &vpt, &device)).collect());
    trainer.fit(&mut data, None).unwrap();

    let losses = train_losses(dir.path());
    println!("bf16-pure losses: {losses:.3?}");
    assert_eq!(losses.len(), 20);
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[19] < 0.5 * losses[0], "{losses:?}");
    let mut count = Bf16Count::default();
    trainer.policy().visit(&mut count);
    assert!(count.params > 20);
    assert_eq!(count.bf16, count.params, "every weight is bf16");
}
