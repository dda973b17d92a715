//! The small CPU-sized VPT builds and runs: shapes, finiteness and memory carried over calls.

use mine_dsl::memory::Memory;
use mine_dsl::policy::Policy;
use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};

fn assert_finite<const D: usize>(name: &str, t: &Tensor<D>) {
    let values = t
        .clone()
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("float data");
    assert!(
        values.iter().all(|v| v.is_finite()),
        "{name} has non-finite values"
    );
}

#[test]
fn small_cpu_policy_runs_with_memory_carried() {
    let config = VptConfig::small_cpu();
    let device = Device::flex();
    let policy = VptPolicy::new(&config, &device).expect("small config is valid");
    let (b, t) = (2, config.timesteps);
    let [h, w, c] = config.img_shape;
    let m = config.memory_len();

    let mut memory = policy.initial_memory(b, &device);
    for call in 0..2 {
        let image =
            Tensor::<5>::random([b, t, h, w, c], Distribution::Uniform(0.0, 255.0), &device)
                .floor();
        let start = Instant::now();
        let (out, next) = policy.forward_frames(image, memory);
        let buttons = out.pi_logits.buttons.clone();
        println!(
            "small VPT forward B={b} T={t} call {call}: {:?}",
            start.elapsed()
        );

        assert_eq!(out.pi_logits.buttons.dims(), [b, t, 1, 8641]);
        assert_eq!(out.pi_logits.camera.dims(), [b, t, 1, 121]);
        assert_eq!(out.vpred.dims(), [b, t, 1]);
        assert_finite("buttons", &out.pi_logits.buttons);
        assert_finite("camera", &out.pi_logits.camera);
        assert_finite("vpred", &out.vpred);
        // Log-probabilities are normalized.
        let total = buttons
            .exp()
            .sum_dim(3)
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        assert!(
            total.iter().all(|s| (s - 1.0).abs() < 1e-4),
            "softmax sums {total:?}"
        );

        assert_eq!(next.blocks.len(), config.n_recurrence_layers);
        for block in &next.blocks {
            assert_eq!(block.mask.dims(), [b, 1, m]);
            assert_eq!(block.keys.dims(), [b, m, config.hidsize]);
            assert_eq!(block.values.dims(), [b, m, config.hidsize]);
            assert_finite("keys", &block.keys);
            assert_finite("values", &block.values);
            // T = memory_len here, so every slot now holds a position of this call.
            let valid = block
                .mask
                .clone()
                .into_data()
                .try_into_vec_as::<bool>()
                .unwrap();
            assert!(valid.iter().all(|v| *v));
        }
        memory = Memory::detach(next);
    }

    // Resetting a row empties its memory and leaves the other row alone.
    let initial = policy.initial_memory(b, &device);
    let reset = memory.clone().reset_rows(&[true, false], &initial);
    for (before, after) in memory.blocks.iter().zip(&reset.blocks) {
        let mask = after
            .mask
            .clone()
            .into_data()
            .try_into_vec_as::<bool>()
            .unwrap();
        assert!(mask[..m].iter().all(|v| !v) && mask[m..].iter().all(|v| *v));
        let keys = after
            .keys
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        let kept = before
            .keys
            .clone()
            .into_data()
            .try_into_vec_as::<f32>()
            .unwrap();
        let row = m * config.hidsize;
        assert!(keys[..row].iter().all(|v| *v == 0.0));
        assert_eq!(keys[row..], kept[row..]);
    }
}

#[test]
fn vpt_acts_one_frame_at_a_time_with_get_action() {
    use mine_dsl::action::Sampling;
    use mine_dsl::batch::Batch;
    use mine_runtime::policies::inference::get_action;
    use rand::SeedableRng;

    let config = VptConfig::tiny();
    let device = Device::flex();
    let policy = VptPolicy::new(&config, &device).unwrap();
    let [h, w, c] = config.img_shape;
    let mut memory = policy.initial_memory(1, &device);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    for _ in 0..3 {
        let frame =
            Tensor::<5>::random([1, 1, h, w, c], Distribution::Uniform(0.0, 255.0), &device);
        let obs = Batch {
            image: Some(frame),
            ..Batch::default()
        };
        let greedy = get_action(
            &policy,
            &obs,
            memory.clone(),
            Sampling::Deterministic,
            &mut rng,
        )
        .unwrap();
        let again = get_action(&policy, &obs, memory, Sampling::Deterministic, &mut rng).unwrap();
        assert_eq!(
            greedy.agent_frames, again.agent_frames,
            "deterministic actions repeat"
        );
        assert_eq!(greedy.env[0].len(), 1);
        memory = greedy.memory;
    }
}
