//! `get_action` on GROOT: deterministic and seeded stochastic actions, agent and environment
//! forms that agree, memory advancing one frame per call, goal-conditioned acting, errors.

use burn::tensor::{Device, Distribution, Tensor};
use mine_dsl::action::{ActionSpace, Sampling};
use mine_dsl::prelude::*;
use mine_runtime::policies::groot::{GrootPolicy, ScratchGrootConfig};
use mine_runtime::policies::inference::{InferenceError, get_action};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn observation(b: usize, config: &ScratchGrootConfig, device: &Device) -> Batch {
    let [h, w, c] = config.img_shape;
    Batch {
        image: Some(Tensor::random(
            [b, 1, h, w, c],
            Distribution::Uniform(0.0, 255.0),
            device,
        )),
        ..Batch::default()
    }
}

fn valid_slots(memory: &mine_runtime::policies::groot::GrootMemory) -> Vec<bool> {
    memory.layers[0]
        .mask
        .clone()
        .into_data()
        .try_into_vec_as::<bool>()
        .unwrap()
}

#[test]
fn get_action_returns_agent_and_env_actions_and_advances_memory() {
    let config = ScratchGrootConfig::tiny();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();
    let obs = observation(2, &config, &device);
    let memory = policy.initial_memory(2, &device);
    let mut rng = StdRng::seed_from_u64(1);

    let greedy = get_action(
        &policy,
        &obs,
        memory.clone(),
        Sampling::Deterministic,
        &mut rng,
    )
    .unwrap();
    assert_eq!(greedy.agent.buttons.dims(), [2, 1, 1]);
    assert_eq!(greedy.agent_frames.len(), 2);
    assert_eq!(greedy.env.len(), 2);
    assert_eq!(greedy.env[0].len(), 1);
    for (agent_row, env_row) in greedy.agent_frames.iter().zip(&greedy.env) {
        for (agent, env) in agent_row.iter().zip(env_row) {
            assert_eq!(ActionSpace::vpt().agent_to_env(*agent).unwrap(), *env);
        }
    }
    // The argmax of the action head, as the latents give it.
    let (latents, _) = policy.forward(&obs, memory.clone()).unwrap();
    let argmax: Vec<i64> = latents
        .pi_logits
        .buttons
        .argmax(3)
        .into_data()
        .try_into_vec_as::<i64>()
        .unwrap();
    let chosen: Vec<i64> = greedy
        .agent_frames
        .iter()
        .map(|row| i64::from(row[0].buttons))
        .collect();
    assert_eq!(argmax, chosen);

    // Deterministic twice from the same memory: the same action.
    let again = get_action(
        &policy,
        &obs,
        memory.clone(),
        Sampling::Deterministic,
        &mut rng,
    )
    .unwrap();
    assert_eq!(again.agent_frames, greedy.agent_frames);

    // Stochastic: the same seed reproduces the draw.
    let stochastic = Sampling::Stochastic { temperature: 1.0 };
    let draw = |seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        get_action(&policy, &obs, memory.clone(), stochastic, &mut rng)
            .unwrap()
            .agent_frames
    };
    assert_eq!(draw(5), draw(5));
    // An untrained head is close to uniform over 8641 classes: different seeds differ.
    assert_ne!(draw(5), draw(6));

    // Memory advances by one slot per single-frame call.
    let m = config.decoder.mem_len;
    let mut memory = memory;
    for step in 1..=3 {
        memory = get_action(&policy, &obs, memory, stochastic, &mut rng)
            .unwrap()
            .memory;
        let slots = valid_slots(&memory);
        let valid_row0 = slots[..m].iter().filter(|v| **v).count();
        assert_eq!(valid_row0, step.min(m));
    }
}

#[test]
fn get_action_follows_a_goal_in_memory() {
    let config = ScratchGrootConfig::tiny();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();
    let [h, w, c] = config.img_shape;
    let reference = Tensor::random([1, 4, h, w, c], Distribution::Uniform(0.0, 255.0), &device);
    let goal = policy.encode_goal(reference).unwrap();
    let memory = policy.initial_memory(1, &device).with_goal(goal);
    let mut rng = StdRng::seed_from_u64(0);
    let obs = observation(1, &config, &device);
    let step = get_action(&policy, &obs, memory, Sampling::Deterministic, &mut rng).unwrap();
    assert!(step.memory.goal.is_some());
    let step = get_action(
        &policy,
        &obs,
        step.memory,
        Sampling::Deterministic,
        &mut rng,
    )
    .unwrap();
    assert_eq!(step.env.len(), 1);
}

#[test]
fn inference_errors_name_the_cause() {
    let config = ScratchGrootConfig::tiny();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();
    let mut rng = StdRng::seed_from_u64(0);

    let err = get_action(
        &policy,
        &Batch::default(),
        policy.initial_memory(1, &device),
        Sampling::Deterministic,
        &mut rng,
    )
    .unwrap_err();
    assert!(matches!(err, InferenceError::Policy { .. }));
    assert!(err.to_string().contains("GrootPolicy"), "{err}");
    assert!(err.to_string().contains("image"), "{err}");

    let err = get_action(
        &policy,
        &observation(1, &config, &device),
        policy.initial_memory(1, &device),
        Sampling::Stochastic { temperature: 0.0 },
        &mut rng,
    )
    .unwrap_err();
    assert!(matches!(err, InferenceError::Action(_)), "{err}");
}
