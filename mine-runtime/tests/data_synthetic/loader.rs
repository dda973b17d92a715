//! The loader batches generated episodes continuously and shuffled.

use super::read_back::read_config;
use super::*;

fn agent_values(t: &Tensor<3, Int>) -> Vec<i64> {
    t.clone()
        .into_data()
        .convert::<i64>()
        .try_to_vec::<i64>()
        .unwrap()
}

/// Every batch row's actions are the intended ones of its episode and timestamps.
fn check_loader(data: &GeneratedDataset, cfg: DatasetConfig) -> Vec<(String, i64)> {
    let c = &data.config;
    let names = data.episode_names();
    let scenes: HashMap<&String, Vec<SceneFrame>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n, simulate_episode(c, i)))
        .collect();
    let (b, t) = (cfg.batch_size, cfg.win_len);
    let loader = DataLoader::new(RawDataset::open(cfg).unwrap());
    let space = ActionSpace::vpt();
    let mut seen = Vec::new();
    for batch in loader.epoch(0, &Device::flex()) {
        let batch = batch.unwrap();
        assert_eq!(batch.image().unwrap().dims(), [b, t, c.height, c.width, 3]);
        let agent = batch.agent_action.as_ref().unwrap();
        let prev = batch.agent_prev_action.as_ref().unwrap();
        let (buttons, camera) = (agent_values(&agent.buttons), agent_values(&agent.camera));
        let prev_buttons = agent_values(&prev.buttons);
        for row in 0..b {
            let episode = &batch.info.episode[row];
            seen.push((episode.clone(), batch.info.timestamp[row][0]));
            for (k, &ts) in batch.info.timestamp[row].iter().enumerate() {
                let want: AgentActionFrame =
                    space.env_to_agent(&scenes[episode][ts as usize].action);
                assert_eq!(buttons[row * t + k], i64::from(want.buttons));
                assert_eq!(camera[row * t + k], i64::from(want.camera));
                let want_prev = match ts {
                    0 => space.env_to_agent(&EnvActionFrame::default()),
                    _ => space.env_to_agent(&scenes[episode][ts as usize - 1].action),
                };
                assert_eq!(prev_buttons[row * t + k], i64::from(want_prev.buttons));
            }
        }
    }
    seen
}

fn loader_config(data: &GeneratedDataset) -> DatasetConfig {
    let mut cfg = read_config(data, vec![Modality::Image, Modality::Action], 16);
    cfg.batch_size = 2;
    cfg.enable_prev_action = true;
    cfg.biases.insert(
        Modality::Action,
        mine_runtime::data::Bias {
            read_bias: -1,
            win_bias: 1,
        },
    );
    cfg
}

#[test]
fn loaders_batch_the_intended_actions_continuously_and_shuffled() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small(SyntheticTask::Track);
    config.episodes = 4;
    let data = generate(&config, dir.path().join("track")).unwrap();

    let mut cfg = loader_config(&data);
    cfg.episode_continuous_batch = true;
    let seen = check_loader(&data, cfg);
    assert_eq!(seen.len(), 4 * 96 / 16);
    // Each row walks its episodes window after window.
    let mut by_row: Vec<Vec<(String, i64)>> = vec![Vec::new(); 2];
    for (i, s) in seen.iter().enumerate() {
        by_row[i % 2].push(s.clone());
    }
    for row in by_row {
        for pair in row.windows(2) {
            if pair[0].0 == pair[1].0 {
                assert_eq!(pair[1].1, pair[0].1 + 16, "{pair:?}");
            }
        }
    }

    let mut cfg = loader_config(&data);
    cfg.shuffle = true;
    cfg.seed = 3;
    let seen = check_loader(&data, cfg);
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 4 * 96 / 16, "every window exactly once");
    let in_order: Vec<_> = {
        let mut s = seen.clone();
        s.sort();
        s
    };
    assert_ne!(seen, in_order, "shuffled");
}
