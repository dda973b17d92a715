//! Episode shuffling (Python's `random.seed` + `random.shuffle`, as MineStudio) and the
//! train/validation split by episode.

mod common;

use mine_runtime::data::{DatasetConfig, Modality, RawDataset, Split};

fn open(shuffle: bool, seed: u64, split: Split, ratio: f64) -> Vec<String> {
    let mut cfg = DatasetConfig::new(vec![common::tiny()]);
    cfg.modalities = vec![Modality::Action];
    cfg.shuffle_episodes = shuffle;
    cfg.seed = seed;
    cfg.split = split;
    cfg.split_ratio = ratio;
    let ds = RawDataset::open(cfg).unwrap();
    ds.episodes()
        .iter()
        .map(|e| e.episode.split('-').next().unwrap().to_string())
        .collect()
}

#[test]
fn shuffle_follows_python_random() {
    // python: random.seed(0); l = [brave, cheeky, squeaky, zesty]; random.shuffle(l)
    assert_eq!(
        open(true, 0, Split::Train, 1.0),
        ["squeaky", "brave", "cheeky", "zesty"]
    );
    assert_eq!(
        open(true, 7, Split::Train, 1.0),
        ["zesty", "cheeky", "brave", "squeaky"]
    );
    assert_eq!(
        open(false, 7, Split::Train, 1.0),
        ["brave", "cheeky", "squeaky", "zesty"]
    );
}

#[test]
fn split_ratio_divides_episodes_between_train_and_val() {
    // int(4 * 0.8) = 3 episodes for training, the rest for validation.
    assert_eq!(
        open(false, 0, Split::Train, 0.8),
        ["brave", "cheeky", "squeaky"]
    );
    assert_eq!(open(false, 0, Split::Val, 0.8), ["zesty"]);
    assert_eq!(open(true, 0, Split::Train, 0.5), ["squeaky", "brave"]);
    assert_eq!(open(true, 0, Split::Val, 0.5), ["cheeky", "zesty"]);
}

#[test]
fn items_are_renumbered_within_a_split() {
    let mut cfg = DatasetConfig::new(vec![common::tiny()]);
    cfg.modalities = vec![Modality::Action];
    cfg.split = Split::Val;
    cfg.split_ratio = 0.5;
    let ds = RawDataset::open(cfg).unwrap();
    assert_eq!(ds.len(), 3 + 4);
    assert_eq!(ds.episodes()[0].first_item, 0);
    assert_eq!(ds.get(3).unwrap().episode, ds.episodes()[1].episode);
}

#[test]
fn config_round_trips_through_toml() {
    let text = r#"
        dataset_dirs = ["/data/a"]
        modalities = ["image", "action", "meta_info"]
        win_len = 128
        enable_prev_action = true
        episode_continuous_batch = true
        batch_size = 4
        on_error = "skip_episode"
        video_backend = "openh264"
        [biases.action]
        read_bias = -1
        win_bias = 1
    "#;
    let cfg: DatasetConfig = toml::from_str(text).unwrap();
    assert_eq!(cfg.win_len, 128);
    assert_eq!(cfg.bias(Modality::Action).read_bias, -1);
    assert_eq!(cfg.bias(Modality::Image).read_bias, 0);
    assert_eq!(cfg.split_ratio, 0.8);
    assert!(cfg.validate().is_ok());
    let back: DatasetConfig = toml::from_str(&toml::to_string(&cfg).unwrap()).unwrap();
    assert_eq!(back, cfg);
}

#[test]
fn skip_frame_takes_every_nth_frame_with_matching_timestamps_and_mask() {
    let open_skip = |skip: usize, win: usize| {
        let mut cfg = DatasetConfig::new(vec![common::tiny()]);
        cfg.split_ratio = 1.0;
        cfg.skip_frame = skip;
        cfg.win_len = win;
        RawDataset::open(cfg).unwrap()
    };
    let dense = open_skip(1, 32);
    let sparse = open_skip(2, 16);
    // brave (32 frames): window 1 of the sparse dataset starts at frame 16: 16, 18, .., 30, pad.
    let s = sparse.get(1).unwrap();
    assert_eq!(s.episode, dense.get(0).unwrap().episode);
    assert_eq!(
        s.timestamp,
        (0..16).map(|k| 16 + 2 * k).collect::<Vec<i64>>()
    );
    let mut want_mask = vec![1u8; 8];
    want_mask.extend([0u8; 8]);
    assert_eq!(s.mask, want_mask);
    let d = dense.get(0).unwrap();
    let (si, di) = (s.image.as_ref().unwrap(), d.image.as_ref().unwrap());
    for k in 0..8 {
        assert_eq!(si.frame(k), di.frame(16 + 2 * k));
        assert_eq!(
            s.action.as_ref().unwrap().env[k],
            d.action.as_ref().unwrap().env[16 + 2 * k]
        );
    }
    assert!(si.frame(8).iter().all(|&v| v == 0));
}
