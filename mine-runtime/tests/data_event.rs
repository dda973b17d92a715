//! Event datasets return what MineStudio 1.1.6's `EventDataset` returned for the fixture its
//! own event converter wrote (`tests/fixtures/minestudio-seg/event`, `expected.json` →
//! `event_datasets`): the matching events, the filter (`min_nearby`, `max_within`, frames
//! before 128), the per-event split, every item's episode, event frame, value and window
//! start (`bias`, clamping at 0, padding past the episode end), and each window's actions,
//! masks and segmentation. A regex that matches nothing and a missing events LMDB are errors
//! naming the LMDB.

mod common;

use std::path::Path;

use burn::tensor::Device;
use common::seg::{self, ints};
use mine_runtime::data::modality::ModalStore;
use mine_runtime::data::pickle::PyValue;
use mine_runtime::data::segmentation::{SegmentationWindow, read_segmentation};
use mine_runtime::data::window::Window;
use mine_runtime::data::{DataError, DataLoader, DatasetConfig, Modality, RawDataset, Split};
use serde_json::Value;

/// The reader configuration of an `event_datasets` entry (`EventDataset` with
/// `[ActionKernelCallback(), SegmentationKernelCallback(224, 224)]`).
fn config_for(params: &Value, root: &Path) -> DatasetConfig {
    let mut cfg = DatasetConfig::new(vec![root.to_path_buf()]);
    cfg.modalities = vec![Modality::Action, Modality::Segmentation];
    cfg.frame_width = 224;
    cfg.frame_height = 224;
    cfg.win_len = params["win_len"].as_u64().unwrap() as usize;
    cfg.skip_frame = params["skip_frame"].as_u64().unwrap() as usize;
    cfg.split = match params["split"].as_str().unwrap() {
        "train" => Split::Train,
        _ => Split::Val,
    };
    cfg.split_ratio = params["split_ratio"].as_f64().unwrap();
    cfg.event_regex = Some(params["event_regex"].as_str().unwrap().to_string());
    cfg.bias = params["bias"].as_i64().unwrap();
    cfg.min_nearby = params["min_nearby"].as_i64();
    cfg.max_within = params["max_within"].as_u64().map(|v| v as usize);
    cfg
}

fn py_json(v: &PyValue) -> Value {
    match v {
        PyValue::Int(i) => Value::from(*i),
        PyValue::Float(f) => Value::from(*f),
        other => Value::from(other.repr()),
    }
}

/// The first `n` frames of a window.
fn prefix(w: &SegmentationWindow, n: usize) -> SegmentationWindow {
    SegmentationWindow {
        obj_mask: w.obj_mask[..n * w.width * w.height].to_vec(),
        obj_id: w.obj_id[..n].to_vec(),
        event: w.event[..n].to_vec(),
        point: w.point[..n].to_vec(),
        frame_id: w.frame_id[..n].to_vec(),
        frame_range: w.frame_range[..n].to_vec(),
        mask: w.mask[..n].to_vec(),
        ..w.clone()
    }
}

fn check_event_dataset(name: &str) {
    let want = &common::seg_expected()["event_datasets"][name];
    let cfg = config_for(&want["params"], &common::seg_fixture());
    let ds = RawDataset::open(cfg.clone()).unwrap();
    let events = ds.events().expect("an event dataset");
    assert_eq!(
        Value::from(events.events().to_vec()),
        want["event_list"],
        "{name}"
    );
    let table: Vec<Value> = events
        .table()
        .iter()
        .map(|(n, e, bias)| serde_json::json!([n, e, bias]))
        .collect();
    assert_eq!(Value::Array(table), want["items_table"], "{name} items");
    assert_eq!(ds.len() as u64, want["len"].as_u64().unwrap(), "{name}");
    assert!(ds.episodes().is_empty());
    let store = ModalStore::open(&cfg.dataset_dirs, Modality::Segmentation).unwrap();
    let mut random = 0;
    for (i, (item, sample)) in want["items"]
        .as_array()
        .unwrap()
        .iter()
        .zip(want["samples"].as_array().unwrap())
        .enumerate()
    {
        let label = format!("{name}[{i}]");
        let w = events.get(i).unwrap();
        assert_eq!(Value::from(w.event.clone()), item["event"], "{label}");
        assert_eq!(
            w.relative_idx as u64,
            item["relative_idx_with_split_bias"].as_u64().unwrap(),
            "{label}"
        );
        assert_eq!(
            Value::from(w.item.episode.clone()),
            item["episode"],
            "{label}"
        );
        assert_eq!(
            w.item.frame,
            item["event_time"].as_i64().unwrap(),
            "{label}"
        );
        assert_eq!(py_json(&w.item.value), item["value"], "{label}");
        assert_eq!(w.start as u64, item["start"].as_u64().unwrap(), "{label}");

        let got = ds.get(i).unwrap();
        assert_eq!(Value::from(got.text.clone()), sample["text"], "{label}");
        let rows = want["items_table"].as_array().unwrap();
        let row = rows.iter().position(|r| r[1] == item["event"]).unwrap();
        let before = if row == 0 {
            0
        } else {
            rows[row - 1][0].as_u64().unwrap()
        };
        let (offset, count) = (
            rows[row][2].as_u64().unwrap(),
            rows[row][0].as_u64().unwrap() - before,
        );
        let position = w.relative_idx as u64 - offset;
        assert_eq!(got.progress, format!("{position}/{count}"), "{label}");
        assert_eq!(
            Value::from(got.episode.clone()),
            sample["episode"],
            "{label}"
        );
        // MineStudio 1.1.6 returns `win_len` frames `skip_frame` apart, cut short at the
        // episode end without padding, with a mask and timestamps of other lengths; ours
        // pads to `win_len` frames and keeps mask and timestamps frame for frame.
        let n = sample["segmentation"]["obj_id"]["data"]
            .as_array()
            .unwrap()
            .len();
        let skip = cfg.skip_frame;
        let ts: Vec<i64> = (0..cfg.win_len)
            .map(|k| (w.start + k * skip) as i64)
            .collect();
        assert_eq!(got.timestamp, ts, "{label}");
        let mask: Vec<i64> = got.mask.iter().map(|&m| i64::from(m)).collect();
        if skip == 1 {
            assert_eq!(got.timestamp, ints(&sample["timestamp"]["data"]), "{label}");
            assert_eq!(mask, ints(&sample["mask"]["data"]), "{label} mask");
        } else {
            assert!(mask[..n].iter().all(|&m| m == 1) && mask[n..].iter().all(|&m| m == 0));
        }
        assert_eq!(
            seg::buttons(&got)[..n],
            ints(&sample["agent_action"]["buttons"]["data"])[..n],
            "{label}"
        );

        let segmentation = got.segmentation.as_ref().unwrap();
        let num_frames = store.entry(&got.episode).unwrap().num_frames;
        let win = Window::new(w.start, cfg.win_len, skip, 0, 0, num_frames);
        random += usize::from(seg::check(
            &label,
            &prefix(segmentation, n),
            sample,
            |pick| {
                let forced = read_segmentation(&store, &got.episode, &win, (224, 224), &pick);
                prefix(&forced.unwrap(), n)
            },
        ));
        assert!(
            segmentation.obj_id[n..].iter().all(|&id| id == 0),
            "{label} padding"
        );
    }
    eprintln!(
        "{name}: {} items, {random} with MineStudio's random pick",
        ds.len()
    );
}

#[test]
fn mine_block_windows_end_before_their_events() {
    check_event_dataset("mine_w32");
}

#[test]
fn the_val_split_takes_the_rest_of_every_event() {
    check_event_dataset("mine_w32_val");
}

#[test]
fn min_nearby_and_max_within_filter_like_minestudio() {
    check_event_dataset("mine_nearby_within");
    check_event_dataset("custom_nearby");
}

#[test]
fn every_event_with_a_negative_bias() {
    check_event_dataset("all_bias_neg");
}

#[test]
fn windows_past_the_episode_end_are_padded() {
    check_event_dataset("oak_past_end");
}

#[test]
fn windows_before_the_episode_start_are_clamped() {
    check_event_dataset("stone_clamped");
}

#[test]
fn skip_frame_reads_the_same_frames() {
    check_event_dataset("craft_skip2");
}

#[test]
fn event_batches_come_through_the_loader() {
    let want = &common::seg_expected()["event_datasets"]["all_bias_neg"];
    let mut cfg = config_for(&want["params"], &common::seg_fixture());
    cfg.batch_size = 4;
    cfg.shuffle = true;
    cfg.seed = 3;
    let loader = DataLoader::new(RawDataset::open(cfg).unwrap());
    let batches: Vec<_> = loader
        .epoch(0, &Device::flex())
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 3);
    let mut episodes: Vec<(String, i64)> = batches
        .iter()
        .flat_map(|b| {
            b.info
                .episode
                .iter()
                .cloned()
                .zip(b.info.timestamp.iter().map(|t| t[0]))
        })
        .collect();
    episodes.sort();
    let mut expected: Vec<(String, i64)> = want["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let episode = i["episode"].as_str().unwrap().to_string();
            (episode, i["start"].as_i64().unwrap())
        })
        .collect();
    expected.sort();
    assert_eq!(episodes, expected);
    assert_eq!(batches[0].segmentation().unwrap().obj_id.dims(), [4, 24]);
}

#[test]
fn a_regex_that_matches_nothing_names_the_lmdb_and_the_events() {
    let mut cfg = config_for(
        &common::seg_expected()["event_datasets"]["mine_w32"]["params"],
        &common::seg_fixture(),
    );
    // `re.match` is anchored at the start: the name does not begin with `oak_log`.
    cfg.event_regex = Some("oak_log".into());
    let err = RawDataset::open(cfg.clone()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DataError::Event { .. }), "{err:?}");
    for part in [
        "\"oak_log\"",
        "minestudio-seg/event",
        "none of the 6 stored events",
        "minecraft.mine_block:minecraft.oak_log",
        "re.match",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
    cfg.event_regex = Some("minecraft.(mine".into());
    let text = RawDataset::open(cfg).unwrap_err().to_string();
    assert!(
        text.contains("`event_regex`") && text.contains("minecraft.(mine"),
        "{text}"
    );
}

#[test]
fn a_missing_events_lmdb_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("seg");
    common::copy_dir(&common::seg_fixture(), &root);
    std::fs::remove_dir_all(root.join("event")).unwrap();
    let params = &common::seg_expected()["event_datasets"]["mine_w32"]["params"];
    let text = RawDataset::open(config_for(params, &root))
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(&root.join("event").display().to_string()) && text.contains("event_paths"),
        "{text}"
    );
    // `event_paths` points elsewhere: the fixture's LMDB serves the copy.
    let mut cfg = config_for(params, &root);
    cfg.event_paths = Some(vec![common::seg_fixture().join("event")]);
    assert_eq!(RawDataset::open(cfg).unwrap().len(), 6);
}

#[test]
fn event_settings_without_event_regex_are_refused() {
    let mut cfg = DatasetConfig::new(vec![common::seg_fixture()]);
    cfg.bias = 16;
    let text = RawDataset::open(cfg).unwrap_err().to_string();
    assert!(
        text.contains("`bias`") && text.contains("`event_regex`"),
        "{text}"
    );
    let mut cfg = DatasetConfig::new(vec![common::seg_fixture()]);
    cfg.event_regex = Some(".*".into());
    cfg.episode_continuous_batch = true;
    let text = RawDataset::open(cfg).unwrap_err().to_string();
    assert!(text.contains("episode_continuous_batch"), "{text}");
    let toml = "dataset_dirs = [\"d\"]\nevent_regex = \"minecraft.kill_entity:.*\"\nbias = 16\nmin_nearby = 64\n";
    let cfg: DatasetConfig = toml::from_str(toml).unwrap();
    assert_eq!(
        (cfg.bias, cfg.min_nearby, cfg.max_within),
        (16, Some(64), None)
    );
}
