//! The synthetic dataset generator: what it writes reads back through `RawDataset` and
//! `DataLoader` with the intended scenes and actions; complete datasets are reused, broken
//! ones regenerated, foreign directories and bad configs refused.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use burn::tensor::{Device, Int, Tensor};
use mine_dsl::action::{ActionSpace, AgentActionFrame, EnvActionFrame};
use mine_runtime::data::pickle::PyValue;
use mine_runtime::data::synthetic::{
    GeneratedDataset, MANIFEST_FILE, SceneFrame, SyntheticConfig, SyntheticTask, far_turn,
    generate, near_turn, simulate_episode, track,
};
use mine_runtime::data::{DataError, DataLoader, DatasetConfig, Modality, RawDataset};

fn small(task: SyntheticTask) -> SyntheticConfig {
    SyntheticConfig {
        episodes: 3,
        frames_per_episode: 96,
        width: 96,
        height: 64,
        chunk_size: 32,
        seed: 7,
        task,
        ..SyntheticConfig::default()
    }
}

/// Mean absolute difference per channel between `want` and the pixels of `rect` in `frame`.
fn region_error(
    frame: &[u8],
    width: usize,
    rect: (usize, usize, usize, usize),
    want: [u8; 3],
) -> f64 {
    let (x0, y0, x1, y1) = rect;
    assert!(x1 > x0 && y1 > y0, "empty region {rect:?}");
    let mut sum = 0.0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = &frame[(y * width + x) * 3..(y * width + x) * 3 + 3];
            sum += (0..3)
                .map(|c| (f64::from(p[c]) - f64::from(want[c])).abs())
                .sum::<f64>();
        }
    }
    sum / ((x1 - x0) * (y1 - y0) * 3) as f64
}

/// Checks a decoded frame against its scene: background away from the square, square inside.
fn check_frame(frame: &[u8], w: usize, h: usize, scene: &SceneFrame, worst: &mut f64) {
    let m = 4; // margin from edges (chroma subsampling and block edges blur them)
    let patch = 6;
    let corners = [
        (m, m),
        (w - m - patch, m),
        (m, h - m - patch),
        (w - m - patch, h - m - patch),
    ];
    let target = scene.target.map(|t| t.rect(w, h));
    let clear = corners.iter().find(|(x, y)| match target {
        None => true,
        Some((x0, y0, x1, y1)) => {
            x + patch + m <= x0 || *x >= x1 + m || y + patch + m <= y0 || *y >= y1 + m
        }
    });
    if let Some(&(x, y)) = clear {
        let e = region_error(frame, w, (x, y, x + patch, y + patch), scene.background);
        *worst = worst.max(e);
        assert!(e < 10.0, "background off by {e} in {scene:?}");
    }
    if let (Some(t), Some((x0, y0, x1, y1))) = (scene.target, target)
        && x1 - x0 > 2 * m
        && y1 - y0 > 2 * m
    {
        let e = region_error(frame, w, (x0 + m, y0 + m, x1 - m, y1 - m), t.kind.color());
        *worst = worst.max(e);
        assert!(e < 10.0, "square off by {e} in {scene:?}");
    }
}

fn read_config(
    data: &GeneratedDataset,
    modalities: Vec<Modality>,
    win_len: usize,
) -> DatasetConfig {
    let mut cfg = data.dataset_config();
    cfg.modalities = modalities;
    cfg.win_len = win_len;
    cfg.split_ratio = 1.0;
    cfg
}

/// Every item's frames, env and agent actions and meta info match the simulated episodes.
fn check_read_back(data: &GeneratedDataset) {
    let c = &data.config;
    let cfg = read_config(
        data,
        vec![Modality::Image, Modality::Action, Modality::MetaInfo],
        32,
    );
    let ds = RawDataset::open(cfg).unwrap();
    let names = data.episode_names();
    assert_eq!(
        ds.episodes().iter().map(|e| &e.episode).collect::<Vec<_>>(),
        names.iter().collect::<Vec<_>>()
    );
    assert!(
        ds.episodes()
            .iter()
            .all(|e| e.num_frames == c.frames_per_episode)
    );
    assert_eq!(ds.len(), c.total_frames() / 32);
    let scenes: Vec<Vec<SceneFrame>> = (0..c.episodes).map(|i| simulate_episode(c, i)).collect();
    let space = ActionSpace::vpt();
    let mut worst = 0.0f64;
    for index in 0..ds.len() {
        let s = ds.get(index).unwrap();
        let e = names.iter().position(|n| *n == s.episode).unwrap();
        let image = s.image.as_ref().unwrap();
        let action = s.action.as_ref().unwrap();
        let meta = s.meta_info.as_ref().unwrap();
        assert_eq!(
            (image.width, image.height, image.len()),
            (c.width, c.height, 32)
        );
        assert_eq!(s.mask, vec![1; 32]);
        for (k, &t) in s.timestamp.iter().enumerate() {
            let scene = &scenes[e][t as usize];
            check_frame(image.frame(k), c.width, c.height, scene, &mut worst);
            assert_eq!(action.env[k], scene.action, "episode {e} frame {t}");
            assert_eq!(action.agent[k], space.env_to_agent(&scene.action));
            let hotbar = meta.field("hotbar")[k];
            if c.task == SyntheticTask::Track {
                let bg = track::BACKGROUNDS
                    .iter()
                    .position(|b| *b == scene.background);
                assert_eq!(hotbar, Some(&PyValue::Int(bg.unwrap() as i64)));
            }
        }
    }
    println!("largest mean colour error of a checked region: {worst:.2}");
}

#[test]
fn track_dataset_reads_back_with_the_intended_scenes_and_actions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("track");
    let data = generate(&small(SyntheticTask::Track), &out).unwrap();
    assert_eq!((data.episodes, data.frames, data.reused), (3, 288, false));
    assert!(out.join(MANIFEST_FILE).is_file());
    check_read_back(&data);
    // Nothing but the dataset is left beside it.
    let siblings: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(siblings.len(), 1);
}

#[test]
fn colors_dataset_reads_back_with_the_intended_scenes_and_actions() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(&small(SyntheticTask::Colors), dir.path().join("colors")).unwrap();
    check_read_back(&data);
}

#[test]
fn recall_dataset_reads_back_with_the_intended_scenes_and_actions() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(&small(SyntheticTask::Recall), dir.path().join("recall")).unwrap();
    check_read_back(&data);
}

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

#[test]
fn complete_datasets_are_reused_and_other_configs_regenerated() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    let config = small(SyntheticTask::Colors);
    let first = generate(&config, &out).unwrap();
    assert!(!first.reused);
    let manifest = out.join(MANIFEST_FILE);
    let stamp = std::fs::metadata(&manifest).unwrap().modified().unwrap();
    let again = generate(&config, &out).unwrap();
    assert!(again.reused);
    assert_eq!(
        (again.episodes, again.frames),
        (first.episodes, first.frames)
    );
    assert_eq!(
        std::fs::metadata(&manifest).unwrap().modified().unwrap(),
        stamp
    );

    let mut other = config.clone();
    other.episodes = 2;
    other.seed = 8;
    let replaced = generate(&other, &out).unwrap();
    assert!(!replaced.reused);
    assert_eq!(replaced.episodes, 2);
    check_read_back(&replaced);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn incomplete_datasets_are_regenerated() {
    let config = small(SyntheticTask::Colors);
    let part = format!("part-{}", config.episodes);
    type Damage = Box<dyn Fn(&Path)>;
    let damages: Vec<(&str, Damage)> = vec![
        (
            "truncated part",
            Box::new(move |p: &Path| {
                let f = p.join("action").join(&part).join("data.mdb");
                let len = std::fs::metadata(&f).unwrap().len();
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&f)
                    .unwrap()
                    .set_len(len / 2)
                    .unwrap();
            }),
        ),
        (
            "missing modality",
            Box::new(|p: &Path| std::fs::remove_dir_all(p.join("image")).unwrap()),
        ),
        (
            "broken manifest",
            Box::new(|p: &Path| std::fs::write(p.join(MANIFEST_FILE), "{\"generator\": ").unwrap()),
        ),
    ];
    for (what, damage) in damages {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("data");
        generate(&config, &out).unwrap();
        damage(&out);
        let again = generate(&config, &out).unwrap();
        assert!(!again.reused, "{what}: regenerated");
        check_read_back(&again);
        assert!(
            generate(&config, &out).unwrap().reused,
            "{what}: complete again"
        );
    }
    // An empty directory is filled.
    let dir = tempfile::tempdir().unwrap();
    let data = generate(&config, dir.path()).unwrap();
    assert!(!data.reused);
    check_read_back(&data);
}

#[test]
fn concurrent_generation_and_interrupted_runs_leave_one_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("data");
    // A working directory of a killed run (no process has this pid).
    let stale = dir.path().join(".data.tmp-999999999-0");
    std::fs::create_dir_all(stale.join("image")).unwrap();
    let config = small(SyntheticTask::Colors);
    let results: Vec<GeneratedDataset> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| s.spawn(|| generate(&config, &out)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    assert!(results.iter().all(|r| r.frames == config.total_frames()));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["data"]);
    check_read_back(&results[0]);
}

#[test]
fn foreign_paths_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let config = small(SyntheticTask::Colors);
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = generate(&config, dir.path()).unwrap_err();
    assert!(matches!(err, DataError::Config(_)));
    assert!(err.to_string().contains(MANIFEST_FILE), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "mine"
    );
    let file = dir.path().join("notes.txt");
    let err = generate(&config, &file).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn bad_configs_are_refused_with_the_field_named() {
    let ok = SyntheticConfig::default();
    ok.validate().unwrap();
    let cases: Vec<(SyntheticConfig, &str)> = vec![
        (
            SyntheticConfig {
                episodes: 0,
                ..ok.clone()
            },
            "episodes",
        ),
        (
            SyntheticConfig {
                chunk_size: 0,
                ..ok.clone()
            },
            "chunk_size",
        ),
        (
            SyntheticConfig {
                frames_per_episode: 100,
                ..ok.clone()
            },
            "frames_per_episode",
        ),
        (
            SyntheticConfig {
                frames_per_episode: 0,
                ..ok.clone()
            },
            "frames_per_episode",
        ),
        (
            SyntheticConfig {
                width: 127,
                ..ok.clone()
            },
            "width",
        ),
        (
            SyntheticConfig {
                height: 16,
                ..ok.clone()
            },
            "height",
        ),
        (
            SyntheticConfig {
                width: 4096,
                ..ok.clone()
            },
            "width",
        ),
        (
            SyntheticConfig {
                fps: 0,
                ..ok.clone()
            },
            "fps",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (config, field) in cases {
        let err = generate(&config, dir.path().join("x")).unwrap_err();
        assert!(matches!(err, DataError::Config(_)), "{err}");
        assert!(
            err.to_string().contains(&format!("`{field}`")),
            "{field}: {err}"
        );
        assert!(!dir.path().join("x").exists());
    }
    assert!(toml::from_str::<SyntheticConfig>("episods = 3").is_err());
    assert!(toml::from_str::<SyntheticConfig>("task = \"dance\"").is_err());
    let parsed: SyntheticConfig = toml::from_str("seed = 5\ntask = \"track\"").unwrap();
    assert_eq!(parsed, SyntheticConfig { seed: 5, ..ok });
}

#[test]
fn track_task_uses_several_action_classes_and_needs_memory_for_hotbar() {
    let config = SyntheticConfig::default();
    let space = ActionSpace::vpt();
    let mut classes: HashMap<AgentActionFrame, usize> = HashMap::new();
    let (mut hotbar, mut total) = (0, 0);
    for e in 0..config.episodes {
        let frames = simulate_episode(&config, e);
        assert_eq!(frames, simulate_episode(&config, e), "deterministic");
        for (i, f) in frames.iter().enumerate() {
            *classes.entry(space.env_to_agent(&f.action)).or_default() += 1;
            total += 1;
            let pressed = (1..=9).any(|n| f.action.pressed(&format!("hotbar.{n}")) == Some(true));
            // hotbar.N is pressed exactly on frames whose background differs from the previous.
            let changed = i > 0 && frames[i - 1].background != f.background;
            assert_eq!(pressed, changed, "episode {e} frame {i}");
            hotbar += usize::from(pressed);
            // Camera moves are exact bin centres.
            for c in f.action.camera {
                assert!([0.0, near_turn(), -near_turn(), far_turn(), -far_turn()].contains(&c));
            }
        }
    }
    let other = SyntheticConfig {
        seed: 1,
        ..config.clone()
    };
    assert_ne!(simulate_episode(&config, 0), simulate_episode(&other, 0));
    let mut counts: Vec<_> = classes.values().copied().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    println!(
        "track task: {} agent classes over {total} frames (largest shares {:?}), {hotbar} hotbar presses",
        classes.len(),
        &counts[..counts.len().min(6)]
    );
    assert!(classes.len() >= 10, "{} classes", classes.len());
    assert!(counts[0] * 2 < total, "no class dominates");
    assert!(
        hotbar * 40 > total && hotbar * 10 < total,
        "{hotbar} of {total}"
    );
}

#[test]
fn default_size_generates_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let config = SyntheticConfig::default();
    let start = Instant::now();
    let data = generate(&config, dir.path().join("default")).unwrap();
    let secs = start.elapsed().as_secs_f64();
    let bytes: u64 = ["image", "action", "meta_info"]
        .iter()
        .map(|m| {
            std::fs::metadata(dir.path().join("default").join(m).join("part-8/data.mdb"))
                .unwrap()
                .len()
        })
        .sum();
    println!(
        "generated {} frames ({}x{}) in {secs:.2}s: {:.0} frames/s, {:.1} MiB on disk",
        data.frames,
        config.width,
        config.height,
        data.frames as f64 / secs,
        bytes as f64 / (1 << 20) as f64
    );
    assert_eq!(data.frames, 8 * 256);
    let start = Instant::now();
    assert!(
        generate(&config, dir.path().join("default"))
            .unwrap()
            .reused
    );
    println!("reuse check: {:.1} ms", start.elapsed().as_secs_f64() * 1e3);
}
