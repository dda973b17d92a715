//! `TrainerConfig::device` seeds the device. Alone in its test binary: burn's random
//! generator is shared by the whole process, so a test running beside it would draw from
//! the same sequence.

use burn::tensor::Tensor;
use mine_dsl::prelude::*;
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use mine_runtime::trainer::config::TrainerConfig;

/// `TrainerConfig::device` seeds the device with `seed`: a policy built on it has the same
/// weights on every run (and different ones for another seed).
#[test]
fn the_trainer_device_is_seeded_so_initial_weights_repeat() {
    let vpt = VptConfig::tiny();
    let weights = |seed: u64| {
        let device = TrainerConfig {
            seed,
            max_steps: Some(1),
            ..TrainerConfig::default()
        }
        .device()
        .unwrap();
        let policy = VptPolicy::new(&vpt, &device).unwrap();
        let [h, w, c] = vpt.img_shape;
        let image = Tensor::<5>::ones([1, vpt.timesteps, h, w, c], &device).mul_scalar(100.0);
        let memory = policy.initial_memory(image.dims()[0], &device);
        let (latent, _) = policy.forward_latent(image, memory);
        latent.into_data().try_to_vec::<f32>().expect("f32 latent")
    };
    assert_eq!(weights(7), weights(7));
    assert_ne!(weights(7), weights(8));
}
