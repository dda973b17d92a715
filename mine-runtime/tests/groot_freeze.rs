//! `freeze_backbone` (MineStudio's GROOT argument): the backbone's parameters require no
//! gradient, so autodiff records none of the backbone's operations and computes no gradient
//! for them, and the optimizer leaves them (and their moments) as they are; without it the
//! backbone trains.

use std::collections::BTreeMap;

use burn::optim::GradientsParams;
use burn::tensor::{Device, Distribution, Tensor};
use mine_dsl::objectives::{BehaviorClone, KlDivergence};
use mine_dsl::prelude::*;
use mine_runtime::optim::{OptimStep, OptimizerConfig};
use mine_runtime::policies::freeze::frozen_parameters;
use mine_runtime::policies::groot::{GrootPolicy, MineStudioGrootConfig};
use mine_runtime::policies::torch_names::{torch_parameters, torch_state_dict};

fn batch(device: &Device) -> Batch {
    let (b, t) = (2, 4);
    let image =
        Tensor::random([b, t, 16, 16, 3], Distribution::Uniform(0.0, 255.0), device).floor();
    let labels = |classes: f64| {
        Tensor::<3>::random([b, t, 1], Distribution::Uniform(0.0, classes), device)
            .floor()
            .int()
    };
    Batch {
        image: Some(image),
        agent_action: Some(AgentAction {
            buttons: labels(8641.0),
            camera: labels(121.0),
        }),
        mask: Some(Tensor::ones([b, t], device)),
        ..Batch::default()
    }
}

fn weights(policy: &GrootPolicy) -> BTreeMap<String, Vec<u8>> {
    torch_state_dict(policy, &[])
        .into_iter()
        .map(|t| (t.name, t.bytes))
        .collect()
}

/// One optimizer step of BC + KL; returns the policy after it and the names of the parameters
/// that got a gradient.
fn train_step(policy: GrootPolicy, device: &Device) -> (GrootPolicy, Vec<String>) {
    let (policy, objectives) = Experiment::new(policy)
        .objective(BehaviorClone { weight: 1.0 })
        .objective(KlDivergence::default().with_weight(0.5))
        .into_parts();
    let batch = batch(device);
    let (latents, _) = policy
        .forward(&batch, policy.initial_memory(2, device))
        .unwrap();
    let losses = objectives
        .evaluate(&latents, &batch, &StepContext::train(0, 0))
        .unwrap();
    let grads = GradientsParams::from_grads(losses.total.backward(), &policy);
    let with_grad = torch_parameters(&policy)
        .into_iter()
        .filter(|p| match p.shape.len() {
            0 | 1 => grads.get::<1>(p.id).is_some(),
            2 => grads.get::<2>(p.id).is_some(),
            3 => grads.get::<3>(p.id).is_some(),
            _ => grads.get::<4>(p.id).is_some(),
        })
        .map(|p| p.name)
        .collect();
    let mut optim = OptimStep::new(
        OptimizerConfig {
            learning_rate: 1e-2,
            ..OptimizerConfig::default()
        },
        None,
    )
    .unwrap();
    let (policy, _) = optim.step_params(policy, grads);
    (policy, with_grad)
}

fn policy(freeze_backbone: bool, device: &Device) -> GrootPolicy {
    let config = MineStudioGrootConfig {
        freeze_backbone,
        ..MineStudioGrootConfig::tiny()
    };
    GrootPolicy::new(&config, device).unwrap()
}

#[test]
fn a_frozen_backbone_is_out_of_the_gradient_computation_and_the_optimizer() {
    let device = Device::flex().autodiff();
    let frozen = policy(true, &device);
    let backbone: Vec<String> = torch_parameters(&frozen)
        .into_iter()
        .map(|p| p.name)
        .filter(|name| name.starts_with("backbone."))
        .collect();
    assert_eq!(
        backbone.len(),
        5 + 12 * 3,
        "cls_token, pos_embed, patch_embed, norm_pre; 3 blocks"
    );
    let requires_none = frozen_parameters(&frozen);
    assert!(backbone.iter().all(|name| requires_none.contains(name)));
    // No operation of the backbone is recorded: its output is not part of any graph.
    let image = batch(&device).image.unwrap();
    assert!(!frozen.backbone_features(image.clone()).is_tracked());

    let before = weights(&frozen);
    let (after, with_grad) = train_step(frozen, &device);
    let after = weights(&after);
    assert!(
        !with_grad.iter().any(|name| name.starts_with("backbone.")),
        "{with_grad:?}"
    );
    for name in &backbone {
        assert_eq!(after[name], before[name], "{name} is frozen");
    }
    assert_ne!(
        after["updim.weight"], before["updim.weight"],
        "the rest trains"
    );
    assert!(
        with_grad
            .iter()
            .any(|name| name == "fuser.layers.0.linear1.weight")
    );
}

#[test]
fn an_unfrozen_backbone_trains() {
    let device = Device::flex().autodiff();
    let trained = policy(false, &device);
    let image = batch(&device).image.unwrap();
    assert!(trained.backbone_features(image).is_tracked());
    assert!(
        frozen_parameters(&trained)
            .iter()
            .all(|n| !n.starts_with("backbone."))
    );
    let before = weights(&trained);
    let (after, with_grad) = train_step(trained, &device);
    let after = weights(&after);
    for name in [
        "backbone.model.patch_embed.proj.weight",
        "backbone.model.blocks.2.mlp.fc2.weight",
    ] {
        assert!(
            with_grad.iter().any(|n| n == name),
            "{name} gets a gradient"
        );
        assert_ne!(after[name], before[name], "{name} trains");
    }
}
