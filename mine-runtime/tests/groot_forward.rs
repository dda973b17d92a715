//! GROOT forward: shapes of the four latents (both backbones), the goal latent's sampling
//! modes, the posterior/prior KL, memory carried across batches and reset per row, goals from
//! a reference video, and input errors.

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use mine_dsl::memory::Memory;
use mine_dsl::objectives::diag_gaussian_kl;
use mine_dsl::prelude::*;
use mine_runtime::policies::groot::{
    BackboneConfig, GrootPolicy, GrootPolicyLatents, ImpalaBackboneConfig, LatentMode,
    ScratchGrootConfig,
};

fn frames(b: usize, t: usize, config: &ScratchGrootConfig, device: &Device) -> Tensor<5> {
    let [h, w, c] = config.img_shape;
    Tensor::random([b, t, h, w, c], Distribution::Uniform(0.0, 255.0), device).floor()
}

fn batch(image: Tensor<5>) -> Batch {
    Batch {
        image: Some(image),
        ..Batch::default()
    }
}

fn values<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    t.clone().into_data().try_into_vec_as::<f32>().unwrap()
}

fn max_abs_diff<const D: usize>(a: &Tensor<D>, b: &Tensor<D>) -> f32 {
    values(a)
        .iter()
        .zip(values(b))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Row `r` of a `[B, ..]` tensor, flattened.
fn row<const D: usize>(t: &Tensor<D>, r: usize) -> Vec<f32> {
    let all = values(t);
    let n = all.len() / t.dims()[0];
    all[r * n..(r + 1) * n].to_vec()
}

fn assert_rows_close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(diff <= tol, "{what}: max diff {diff} > {tol}");
}

fn check_shapes(config: &ScratchGrootConfig) {
    let device = Device::flex();
    let policy = GrootPolicy::new(config, &device).unwrap();
    let (b, t, e) = (2, config.decoder.timesteps, config.hiddim);
    let memory = policy.initial_memory(b, &device);
    let (latents, memory) = policy
        .forward(&batch(frames(b, t, config, &device)), memory)
        .unwrap();

    assert_eq!(latents.pi_logits.buttons.dims(), [b, t, 1, 8641]);
    assert_eq!(latents.pi_logits.camera.dims(), [b, t, 1, 121]);
    assert_eq!(latents.vpred.dims(), [b, t, 1]);
    for dist in [&latents.posterior_dist, &latents.prior_dist] {
        assert_eq!(dist.mu.dims(), [b, e]);
        assert_eq!(dist.log_var.dims(), [b, e]);
        assert_eq!(dist.z.dims(), [b, e]);
        assert!(values(&dist.mu).iter().all(|v| v.is_finite()));
    }
    // Log-probabilities are normalized.
    let sums = values(&latents.pi_logits.camera.clone().exp().sum_dim(3));
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4), "{sums:?}");

    let m = config.decoder.mem_len;
    assert_eq!(memory.layers.len(), config.decoder.layers);
    for layer in &memory.layers {
        assert_eq!(layer.mask.dims(), [b, 1, m]);
        assert_eq!(layer.keys.dims(), [b, m, e]);
        assert_eq!(layer.values.dims(), [b, m, e]);
    }
    assert!(memory.goal.is_none());
}

#[test]
fn latents_have_the_documented_shapes_with_a_vit_backbone() {
    check_shapes(&ScratchGrootConfig::tiny());
}

#[test]
fn latents_have_the_documented_shapes_with_an_impala_backbone() {
    let config = ScratchGrootConfig {
        backbone: BackboneConfig::Impala(ImpalaBackboneConfig {
            chans: vec![8, 16],
            group_norm_groups: Some(1),
        }),
        ..ScratchGrootConfig::tiny()
    };
    assert_eq!(config.token_grid(), [4, 4]);
    check_shapes(&config);
}

#[test]
fn goal_latent_is_sampled_in_training_and_the_mean_in_evaluation() {
    let config = ScratchGrootConfig::tiny();
    let plain = Device::flex();
    let image = frames(2, 4, &config, &plain);
    let run = |policy: &GrootPolicy, image: Tensor<5>| {
        let device = image.device();
        let memory = policy.initial_memory(2, &device);
        policy.forward(&batch(image), memory).unwrap().0
    };

    // Auto on a plain device: z = mu.
    let policy = GrootPolicy::new(&config, &plain).unwrap();
    let latents = run(&policy, image.clone());
    for dist in [&latents.posterior_dist, &latents.prior_dist] {
        assert_eq!(values(&dist.z), values(&dist.mu));
    }

    // Forced sampling: z differs from mu, with eps ~ N(0, 1) scaled by exp(log_var / 2).
    let sampling = policy.clone().with_latent_mode(LatentMode::Sample);
    sampling.reseed(11);
    let first = run(&sampling, image.clone());
    let post = &first.posterior_dist;
    assert!(max_abs_diff(&post.z, &post.mu) > 1e-3);
    let eps = (post.z.clone() - post.mu.clone()) / post.log_var.clone().mul_scalar(0.5).exp();
    let eps = values(&eps);
    let mean = eps.iter().sum::<f32>() / eps.len() as f32;
    let var = eps.iter().map(|e| (e - mean).powi(2)).sum::<f32>() / eps.len() as f32;
    assert!(
        mean.abs() < 0.5 && (var - 1.0).abs() < 0.6,
        "eps mean {mean} var {var}"
    );
    // The same seed reproduces the draw; the stream moves on otherwise.
    let second = run(&sampling, image.clone());
    assert!(max_abs_diff(&second.posterior_dist.z, &post.z) > 1e-3);
    sampling.reseed(11);
    let again = run(&sampling, image.clone());
    assert_eq!(values(&again.posterior_dist.z), values(&post.z));
    assert_eq!(values(&again.prior_dist.z), values(&first.prior_dist.z));

    // Auto on an autodiff device samples; its `valid()` form takes the mean.
    let autodiff = plain.clone().autodiff();
    let training = GrootPolicy::new(&config, &autodiff).unwrap();
    let latents = run(&training, image.clone().to_device(&autodiff));
    let post = &latents.posterior_dist;
    assert!(max_abs_diff(&post.z, &post.mu) > 1e-3);
    let latents = run(&training.valid(), image);
    let post = &latents.posterior_dist;
    assert_eq!(values(&post.z), values(&post.mu));
}

#[test]
fn kl_between_posterior_and_prior_is_finite_and_non_negative() {
    let config = ScratchGrootConfig::tiny();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();
    for _ in 0..3 {
        let memory = policy.initial_memory(3, &device);
        let (latents, _) = policy
            .forward(&batch(frames(3, 4, &config, &device)), memory)
            .unwrap();
        let kl = values(&diag_gaussian_kl(
            &latents.posterior_dist,
            &latents.prior_dist,
        ));
        assert_eq!(kl.len(), 3);
        assert!(kl.iter().all(|k| k.is_finite() && *k >= 0.0), "{kl:?}");
        assert!(
            kl.iter().any(|k| *k > 0.0),
            "distinct encoders give a positive KL"
        );
        // KL(q || q) = 0.
        let zero = values(&diag_gaussian_kl(
            &latents.posterior_dist,
            &latents.posterior_dist,
        ));
        assert!(zero.iter().all(|k| k.abs() < 1e-5), "{zero:?}");
    }
}

#[test]
fn memory_carries_across_batches_and_resets_per_row() {
    let config = ScratchGrootConfig::tiny();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();
    let (first, second) = (
        frames(2, 4, &config, &device),
        frames(2, 4, &config, &device),
    );
    let initial = policy.initial_memory(2, &device);

    let (_, carried) = policy.forward(&batch(first), initial.clone()).unwrap();
    for layer in &carried.layers {
        let mask = layer
            .mask
            .clone()
            .into_data()
            .try_into_vec_as::<bool>()
            .unwrap();
        assert!(
            mask.iter().all(|v| *v),
            "the window filled every memory slot"
        );
    }
    let (with_memory, _) = policy
        .forward(&batch(second.clone()), carried.clone())
        .unwrap();
    let (fresh, _) = policy
        .forward(&batch(second.clone()), initial.clone())
        .unwrap();
    let logits = |l: &GrootPolicyLatents| l.pi_logits.buttons.clone();
    for r in 0..2 {
        let diff = row(&logits(&with_memory), r)
            .iter()
            .zip(row(&logits(&fresh), r))
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            diff > 1e-4,
            "row {r}: carried memory must change the output"
        );
    }

    // Row 0 starts a new episode: its output is the fresh one, row 1 keeps its memory.
    let reset = carried.reset_rows(&[true, false], &initial).detach();
    let (after_reset, _) = policy.forward(&batch(second), reset).unwrap();
    for (a, b) in [
        (&after_reset.pi_logits.buttons, &fresh.pi_logits.buttons),
        (&after_reset.pi_logits.camera, &fresh.pi_logits.camera),
    ] {
        assert_rows_close(&row(a, 0), &row(b, 0), 1e-5, "reset row 0");
    }
    assert_rows_close(
        &row(&after_reset.vpred, 0),
        &row(&fresh.vpred, 0),
        1e-5,
        "reset row 0 value",
    );
    assert_rows_close(
        &row(&after_reset.pi_logits.buttons, 1),
        &row(&with_memory.pi_logits.buttons, 1),
        1e-5,
        "kept row 1",
    );
}

#[test]
fn a_goal_from_a_reference_video_conditions_the_decoder() {
    let config = ScratchGrootConfig::tiny();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();
    let reference = frames(2, 6, &config, &device);
    let goal = policy.encode_goal(reference.clone()).unwrap();
    assert_eq!(goal.posterior.z.dims(), [2, config.hiddim]);

    // Encoding the reference as a training window gives the same distributions.
    let (own, _) = policy
        .forward(&batch(reference), policy.initial_memory(2, &device))
        .unwrap();
    assert!(max_abs_diff(&own.posterior_dist.mu, &goal.posterior.mu) < 1e-5);
    assert!(max_abs_diff(&own.prior_dist.log_var, &goal.prior.log_var) < 1e-5);

    // Observations with the goal in memory: the latents are the goal's, and the actions
    // differ from the self-supervised ones.
    let obs = frames(2, 1, &config, &device);
    let memory = policy.initial_memory(2, &device).with_goal(goal.clone());
    let (conditioned, next) = policy.forward(&batch(obs.clone()), memory).unwrap();
    assert_eq!(
        values(&conditioned.posterior_dist.z),
        values(&goal.posterior.z)
    );
    assert!(next.goal.is_some(), "the goal stays in memory");
    let (unconditioned, _) = policy
        .forward(&batch(obs), policy.initial_memory(2, &device))
        .unwrap();
    assert!(
        max_abs_diff(
            &conditioned.pi_logits.buttons,
            &unconditioned.pi_logits.buttons
        ) > 1e-5
    );
    // Resetting against a goal-carrying initial memory keeps the goal.
    let initial = policy.initial_memory(2, &device).with_goal(goal);
    let reset = next.reset_rows(&[true, false], &initial);
    assert!(reset.goal.is_some());
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let config = ScratchGrootConfig::tiny();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();

    let err = policy
        .forward(&Batch::default(), policy.initial_memory(2, &device))
        .unwrap_err();
    assert!(err.to_string().contains("no `image`"), "{err}");

    let wrong = Tensor::zeros([2, 4, 8, 8, 3], &device);
    let err = policy
        .forward(&batch(wrong), policy.initial_memory(2, &device))
        .unwrap_err();
    assert!(err.to_string().contains("img_shape"), "{err}");

    let err = policy
        .forward(
            &batch(frames(2, 4, &config, &device)),
            policy.initial_memory(3, &device),
        )
        .unwrap_err();
    assert!(err.to_string().contains("initial_memory(2"), "{err}");

    let goal = policy.encode_goal(frames(1, 2, &config, &device)).unwrap();
    let memory = policy.initial_memory(2, &device).with_goal(goal);
    let err = policy
        .forward(&batch(frames(2, 1, &config, &device)), memory)
        .unwrap_err();
    assert!(err.to_string().contains("goal"), "{err}");

    let err = policy
        .encode_goal(Tensor::zeros([1, 0, 16, 16, 3], &device))
        .unwrap_err();
    assert!(err.to_string().contains("reference"), "{err}");
}
