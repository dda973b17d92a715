//! The small VPT's training step on a server's thread counts: forward, behaviour-cloning loss
//! and every parameter's gradient on 16 and 64 threads against the same step on one thread,
//! in f32 and in bf16-mixed. The convolutions split the batch's images among the threads (64
//! threads: more than the 32 images of a B=2 T=16 batch), the linear layers their columns,
//! and the weight gradients sum one partial gradient per thread, so the thread count changes
//! only the order of the weight gradients' sums.
#![cfg(feature = "flex")]

use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, FloatDType, Tensor};
use mine_dsl::objectives::BehaviorClone;
use mine_dsl::prelude::*;
use mine_runtime::kernels::autocast;
use mine_runtime::policies::vpt::{VptConfig, VptPolicy, torch_parameters};

#[path = "common/mod.rs"]
mod common;

#[path = "parity/mod.rs"]
mod parity;

use common::on_threads;
use parity::{Report, grad_norm, values};

/// A B=2 batch of random frames and actions for `config`.
fn random_batch(config: &VptConfig, device: &Device) -> Batch {
    let [h, w, c] = config.img_shape;
    let (b, t) = (2, config.timesteps);
    let classes =
        |n: f64| Tensor::<3>::random([b, t, 1], Distribution::Uniform(0.0, n), device).int();
    Batch {
        image: Some(
            Tensor::<5>::random([b, t, h, w, c], Distribution::Uniform(0.0, 255.0), device).floor(),
        ),
        agent_action: Some(AgentAction {
            buttons: classes(8641.0),
            camera: classes(121.0),
        }),
        mask: Some(Tensor::ones([b, t], device)),
        info: BatchInfo {
            episode: vec!["a".into(), "b".into()],
            timestamp: vec![(0..t as i64).collect(); b],
            progress: vec![String::new(); b],
        },
        ..Batch::default()
    }
}

/// The total loss and each parameter's gradient norm (PyTorch's names, in order) of one step
/// from the initial memory, the forward under `precision`'s autocast.
fn step(
    policy: &VptPolicy,
    batch: &Batch,
    precision: Option<FloatDType>,
) -> (f64, Vec<(String, f64)>) {
    let (policy, objectives) = Experiment::new(policy.clone())
        .objective(BehaviorClone { weight: 1.0 })
        .into_parts();
    let device = batch.image.as_ref().expect("frames").device();
    let losses = {
        let _autocast = autocast::scope(precision);
        let memory = policy.initial_memory(2, &device);
        let (out, _) = policy.forward(batch, memory).expect("forward");
        objectives
            .evaluate(&out, batch, &StepContext::train(0, 0))
            .expect("losses")
    };
    let loss = values(losses.total.clone())[0];
    let grads = GradientsParams::from_grads(losses.total.backward(), &policy);
    let norms = torch_parameters(&policy)
        .iter()
        .filter_map(|p| grad_norm(&grads, p).map(|n| (p.name.clone(), n)))
        .collect();
    (loss, norms)
}

#[test]
fn small_vpt_step_is_the_same_on_1_16_and_64_threads() {
    let config = VptConfig::small_cpu();
    let device = Device::flex().autodiff();
    let policy = VptPolicy::new(&config, &device).expect("the small config");
    let batch = random_batch(&config, &device);
    // Measured (AMD EPYC, 2026-12-07): the loss equal bit for bit; the gradient norms within
    // 1.2e-7 in f32 (the sums' order alone) and 5.8e-6 in bf16-mixed (a weight gradient is
    // rounded to bf16 after its sums, so another order can move a value by one bf16 unit).
    for (precision, tol) in [(None, 1e-5), (Some(FloatDType::BF16), 1e-3)] {
        let mut one = None;
        on_threads(1, || one = Some(step(&policy, &batch, precision)));
        let (loss, norms) = one.expect("the one-thread step");
        for threads in [16, 64] {
            let mut many = None;
            on_threads(threads, || many = Some(step(&policy, &batch, precision)));
            let (loss_n, norms_n) = many.expect("the step");
            let mut report = Report::new(tol);
            report.check("loss", &[loss_n], &[loss]);
            assert_eq!(norms_n.len(), norms.len(), "gradients on {threads} threads");
            for ((name, got), (_, want)) in norms_n.iter().zip(&norms) {
                report.check(&format!("{name} grad norm"), &[*got], &[*want]);
            }
            println!(
                "{precision:?} on {threads} threads: loss {:.2e}, gradient norms {:.2e}",
                report.worst("loss"),
                report.worst("grad norm")
            );
            report.finish(&format!("{precision:?} on {threads} threads against 1"));
        }
    }
}
