//! The segmentation modality reads back what MineStudio 1.1.6's readers returned for the
//! fixture it wrote (`tests/fixtures/minestudio-seg/expected.json`): the stored chunks
//! (every interaction, RLE masks decoded), OpenCV's nearest-neighbour tables, `RawDataset`
//! items with `SegmentationKernelCallback` at 224x224 and 56x40 (masks by hash and, at 56x40,
//! pixel by pixel), `event_constrain` reads, the loader's `Batch::segmentation`; and bad
//! segmentation data gives errors naming the dataset, episode, chunk and interaction.

mod common;

use common::seg::{self, compare, ints, sha};

use std::path::{Path, PathBuf};

use burn::tensor::Device;
use mine_runtime::data::lmdb::LmdbPart;
use mine_runtime::data::modality::ModalStore;
use mine_runtime::data::pickle::{PyValue, dumps, loads};
use mine_runtime::data::segmentation::{
    Pick, RLE_SHAPE, decode_segmentation_chunk, nearest_index, read_segmentation, rle_decode,
};
use mine_runtime::data::window::Window;
use mine_runtime::data::writer::LmdbWriter;
use mine_runtime::data::{DataError, DataLoader, DatasetConfig, Location, Modality, RawDataset};
use serde_json::Value;

const ALPHA: &str = "alpha-otter-0123456789ab-20230105-100000";
const BETA: &str = "beta-heron-ba9876543210-20230210-200000";

/// The reader configuration of an `expected.json` dataset entry (`RawDataset` with
/// `[ActionKernelCallback(), SegmentationKernelCallback(W, H)]`).
fn config_for(entry: &Value, root: &Path) -> DatasetConfig {
    let params = &entry["params"];
    let seg = params["callbacks"][1].as_str().unwrap();
    let size = |key: &str| -> usize {
        let rest = &seg[seg.find(key).unwrap() + key.len()..];
        rest[..rest.find([',', ')']).unwrap()].parse().unwrap()
    };
    let mut cfg = DatasetConfig::new(vec![root.to_path_buf()]);
    cfg.modalities = vec![Modality::Action, Modality::Segmentation];
    cfg.frame_width = size("frame_width=");
    cfg.frame_height = size("frame_height=");
    cfg.win_len = params["win_len"].as_u64().unwrap() as usize;
    cfg.skip_frame = params["skip_frame"].as_u64().unwrap() as usize;
    cfg.split_ratio = params["split_ratio"].as_f64().unwrap();
    cfg
}

fn check_dataset(name: &str) {
    let entry = &common::seg_expected()["datasets"][name];
    let cfg = config_for(entry, &common::seg_fixture());
    let (width, height) = (cfg.frame_width, cfg.frame_height);
    let ds = RawDataset::open(cfg.clone()).unwrap();
    assert_eq!(
        ds.len() as u64,
        entry["len"].as_u64().unwrap(),
        "{name} len"
    );
    let episodes: Vec<Value> = ds
        .episodes()
        .iter()
        .map(|e| serde_json::json!([e.episode, e.num_frames]))
        .collect();
    assert_eq!(
        Value::Array(episodes),
        entry["episodes_with_length"],
        "{name}"
    );
    let store = ModalStore::open(&cfg.dataset_dirs, Modality::Segmentation).unwrap();
    let (mut random, mut checked) = (0, 0);
    for sample in entry["samples"].as_array().unwrap() {
        let index = sample["index"].as_u64().unwrap() as usize;
        let label = format!("{name}[{index}]");
        let got = ds.get(index).unwrap();
        assert_eq!(
            Value::from(got.episode.clone()),
            sample["episode"],
            "{label}"
        );
        assert_eq!(
            Value::from(got.progress.clone()),
            sample["progress"],
            "{label}"
        );
        assert_eq!(got.timestamp, ints(&sample["timestamp"]["data"]), "{label}");
        let seg = got.segmentation.as_ref().unwrap();
        let as_i64 = |m: &[u8]| m.iter().map(|&v| i64::from(v)).collect::<Vec<_>>();
        assert_eq!(
            as_i64(&seg.mask),
            ints(&sample["segmentation_mask"]["data"]),
            "{label}"
        );
        assert_eq!(
            as_i64(&got.mask),
            ints(&sample["mask"]["data"]),
            "{label} mask"
        );
        let buttons = seg::buttons(&got);
        assert_eq!(
            buttons,
            ints(&sample["agent_action"]["buttons"]["data"]),
            "{label}"
        );

        let num_frames = ds
            .episodes()
            .iter()
            .find(|e| e.episode == got.episode)
            .unwrap()
            .num_frames;
        let win = Window::new(
            got.timestamp[0] as usize,
            ds.config().win_len,
            1,
            0,
            0,
            num_frames,
        );
        random += usize::from(seg::check(&label, seg, sample, |pick| {
            read_segmentation(&store, &got.episode, &win, (width, height), &pick).unwrap()
        }));
        checked += 1;
    }
    eprintln!("{name}: {checked} samples, {random} with MineStudio's random pick");
}

#[test]
fn raw_w32_224_matches_minestudio() {
    check_dataset("raw_w32_224");
}

#[test]
fn raw_w20_224_right_padding_and_chunk_crossings_match_minestudio() {
    check_dataset("raw_w20_224");
}

#[test]
fn raw_w32_56x40_matches_minestudio_pixel_by_pixel() {
    check_dataset("raw_w32_small");
}

#[test]
fn stored_chunks_decode_to_minestudios_interactions_and_masks() {
    let lmdb = &common::seg_expected()["lmdb"];
    let mut interactions = 0;
    for part in ["part-1", "part-2"] {
        let want = &lmdb[format!("segmentation/{part}")];
        let path = common::seg_fixture().join("segmentation").join(part);
        let lmdb_part = LmdbPart::open(&path, "segmentation").unwrap();
        for (key, chunk) in want["chunks"].as_object().unwrap() {
            let at = Location::dataset(&path).with_chunk(key);
            let bytes = lmdb_part.require(key, &at).unwrap();
            assert_eq!(sha(&bytes), chunk["sha256"].as_str().unwrap());
            let frames = decode_segmentation_chunk(&bytes, &at).unwrap();
            let want_frames = chunk["frames"].as_array().unwrap();
            assert_eq!(frames.len(), want_frames.len(), "{part} {key}");
            for (f, (got, want)) in frames.iter().zip(want_frames).enumerate() {
                let want = want.as_array().unwrap();
                assert_eq!(got.len(), want.len(), "{part} {key} frame {f}");
                for (g, w) in got.iter().zip(want) {
                    let label = format!("{part} {key} frame {f}");
                    assert_eq!(
                        g.key.repr(),
                        format!("({}, '{}')", w["key"][0], w["key"][1].as_str().unwrap()),
                        "{label}"
                    );
                    assert_eq!(g.obj_id, w["obj_id"].as_i64().unwrap(), "{label}");
                    assert_eq!(Value::from(g.event.clone()), w["event"], "{label}");
                    let point = g
                        .point
                        .map(|p| serde_json::json!([p[0] as i64, p[1] as i64]));
                    assert_eq!(point.unwrap_or(Value::Null), w["point"], "{label}");
                    assert_eq!(g.frame_id, w["frame_id"].as_i64().unwrap(), "{label}");
                    assert_eq!(g.frame_range.to_vec(), ints(&w["frame_range"]), "{label}");
                    assert_eq!(
                        sha(g.rle_mask.as_bytes()),
                        w["rle_mask_sha256"].as_str().unwrap(),
                        "{label}"
                    );
                    let mask = rle_decode(&g.rle_mask, RLE_SHAPE).unwrap();
                    let sum: u64 = mask.iter().map(|&v| u64::from(v)).sum();
                    assert_eq!(sum, w["decoded_360x640_sum"].as_u64().unwrap(), "{label}");
                    assert_eq!(
                        sha(&mask),
                        w["decoded_360x640_sha256"].as_str().unwrap(),
                        "{label}"
                    );
                    interactions += 1;
                }
            }
        }
    }
    assert_eq!(interactions, 253);
}

#[test]
fn nearest_neighbour_tables_are_opencvs() {
    for (size, table) in common::seg_expected()["resize_nearest_index"]
        .as_object()
        .unwrap()
    {
        let (w, h) = size.split_once('x').unwrap();
        let (w, h): (usize, usize) = (w.parse().unwrap(), h.parse().unwrap());
        let cols: Vec<i64> = nearest_index(RLE_SHAPE.1, w)
            .iter()
            .map(|&v| v as i64)
            .collect();
        let rows: Vec<i64> = nearest_index(RLE_SHAPE.0, h)
            .iter()
            .map(|&v| v as i64)
            .collect();
        assert_eq!(cols, ints(&table["src_col_for_dst_col"]), "{size}");
        assert_eq!(rows, ints(&table["src_row_for_dst_row"]), "{size}");
    }
}

#[test]
fn event_constrained_reads_match_minestudio() {
    let fixture = vec![common::seg_fixture()];
    let store = ModalStore::open(&fixture, Modality::Segmentation).unwrap();
    for read in common::seg_expected()["direct_reads"].as_array().unwrap() {
        let p = &read["params"];
        let episode = p["episode"].as_str().unwrap();
        let num_frames = store.entry(episode).unwrap().num_frames;
        let win = Window::new(
            p["start"].as_u64().unwrap() as usize,
            p["win_len"].as_u64().unwrap() as usize,
            p["skip_frame"].as_u64().unwrap() as usize,
            0,
            0,
            num_frames,
        );
        let pick = Pick::Event(p["event_constrain"].as_str().unwrap().into());
        let got = read_segmentation(&store, episode, &win, (224, 224), &pick).unwrap();
        compare(&got, &read["segmentation"]).unwrap_or_else(|f| panic!("{p}: {f} differs"));
        let mask: Vec<i64> = got.mask.iter().map(|&m| i64::from(m)).collect();
        assert_eq!(mask, ints(&read["segmentation_mask"]));
    }
}

#[test]
fn the_loader_fills_batch_segmentation() {
    let mut cfg = config_for(
        &common::seg_expected()["datasets"]["raw_w20_224"],
        &common::seg_fixture(),
    );
    cfg.modalities.insert(0, Modality::Image);
    cfg.batch_size = 3;
    let ds = RawDataset::open(cfg).unwrap();
    let samples: Vec<_> = (0..3).map(|i| ds.get(i).unwrap()).collect();
    let batch = DataLoader::new(ds)
        .epoch(0, &Device::flex())
        .next()
        .unwrap()
        .unwrap();
    let seg = batch.segmentation().unwrap();
    assert_eq!(seg.obj_mask.dims(), [3, 20, 224, 224]);
    assert_eq!(batch.image().unwrap().dims(), [3, 20, 224, 224, 3]);
    let mask: Vec<f32> = seg.obj_mask.clone().into_data().try_to_vec().unwrap();
    let ids: Vec<i64> = seg
        .obj_id
        .clone()
        .into_data()
        .try_into_vec_as::<i64>()
        .unwrap();
    let want_mask: Vec<f32> = samples
        .iter()
        .flat_map(|s| {
            s.segmentation
                .as_ref()
                .unwrap()
                .obj_mask
                .iter()
                .map(|&v| f32::from(v))
        })
        .collect();
    let want_ids: Vec<i64> = samples
        .iter()
        .flat_map(|s| s.segmentation.as_ref().unwrap().obj_id.clone())
        .collect();
    assert!(want_mask.contains(&1.0));
    assert_eq!(mask, want_mask);
    assert_eq!(ids, want_ids);
}

/// A writable copy of the fixture.
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("seg");
    common::copy_dir(&common::seg_fixture(), &root);
    (tmp, root)
}

/// Rewrites chunk `key` of `part` with `edit` applied to its decoded pickle.
fn edit_chunk(part: &Path, key: &str, edit: impl FnOnce(&mut PyValue)) {
    let bytes = {
        let tmp = tempfile::tempdir().unwrap();
        common::copy_dir(part, tmp.path());
        LmdbPart::open(tmp.path(), "segmentation")
            .unwrap()
            .require(key, &Location::default())
            .unwrap()
    };
    let mut value = loads(&bytes).unwrap();
    edit(&mut value);
    let w = LmdbWriter::open(part).unwrap();
    w.put(key, &dumps(&value)).unwrap();
    w.finish().unwrap();
}

/// The first interaction value of frame `frame` of a decoded chunk.
fn interaction(chunk: &mut PyValue, frame: usize) -> &mut Vec<(PyValue, PyValue)> {
    let PyValue::List(frames) = chunk else {
        panic!("a list")
    };
    let PyValue::Dict(entries) = &mut frames[frame] else {
        panic!("a dict")
    };
    let PyValue::Dict(value) = &mut entries[0].1 else {
        panic!("a dict")
    };
    value
}

fn set(value: &mut [(PyValue, PyValue)], key: &str, to: PyValue) {
    value
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some(key))
        .unwrap()
        .1 = to;
}

fn read_alpha_window(root: &Path, start: usize) -> DataError {
    let mut cfg = config_for(&common::seg_expected()["datasets"]["raw_w32_224"], root);
    cfg.modalities = vec![Modality::Segmentation];
    let ds = RawDataset::open(cfg).unwrap();
    let first = ds
        .episodes()
        .iter()
        .find(|e| e.episode == ALPHA)
        .unwrap()
        .first_item;
    ds.get(first + start / 32).unwrap_err()
}

/// The error reading alpha's first window when frame 25 (chunk `(0, 0)`, interaction
/// `(0, 'minecraft.mine_block:minecraft.oak_log')`) holds the RLE string `rle`.
fn bad_rle(rle: &str) -> DataError {
    let (_tmp, root) = fixture_copy();
    let part = root.join("segmentation/part-2");
    edit_chunk(&part, "(0, 0)", |c| {
        set(interaction(c, 25), "rle_mask", PyValue::Str(rle.into()))
    });
    read_alpha_window(&root, 0)
}

#[test]
fn a_mask_that_does_not_decode_names_the_chunk_frame_and_interaction() {
    let err = bad_rle("41027 44 9x 3");
    let text = err.to_string();
    assert!(matches!(err, DataError::Segmentation { .. }), "{err:?}");
    for part in [
        "segmentation/part-2",
        ALPHA,
        "chunk `(0, 0)`",
        "frame 25",
        "(0, 'minecraft.mine_block:minecraft.oak_log')",
        "`9x`",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
    let text = bad_rle("230399 5").to_string();
    assert!(
        text.contains("ends past the 360x640 mask") && text.contains("frame 25"),
        "{text}"
    );
}

#[test]
fn malformed_interactions_name_the_field() {
    let (_tmp, root) = fixture_copy();
    let part = root.join("segmentation/part-2");
    edit_chunk(&part, "(0, 32)", |c| {
        set(interaction(c, 3), "obj_id", PyValue::Str("mine".into()))
    });
    let text = read_alpha_window(&root, 32).to_string();
    assert!(
        text.contains("chunk `(0, 32)`")
            && text.contains("frame 3")
            && text.contains("`obj_id` is a str"),
        "{text}"
    );

    let (_tmp, root) = fixture_copy();
    let part = root.join("segmentation/part-2");
    edit_chunk(&part, "(0, 32)", |c| {
        set(interaction(c, 3), "obj_id", PyValue::Int(9))
    });
    let text = read_alpha_window(&root, 32).to_string();
    assert!(text.contains("`obj_id` is 9"), "{text}");

    let (_tmp, root) = fixture_copy();
    let part = root.join("segmentation/part-2");
    edit_chunk(&part, "(0, 32)", |c| {
        interaction(c, 3).retain(|(k, _)| k.as_str() != Some("frame_range"));
    });
    let text = read_alpha_window(&root, 32).to_string();
    assert!(text.contains("no `frame_range`"), "{text}");

    let (_tmp, root) = fixture_copy();
    edit_chunk(&root.join("segmentation/part-2"), "(0, 32)", |c| {
        *c = PyValue::Dict(Vec::new())
    });
    let text = read_alpha_window(&root, 32).to_string();
    assert!(
        text.contains("list of per-frame dicts") && text.contains(ALPHA),
        "{text}"
    );
}

#[test]
fn a_missing_segmentation_lmdb_is_named_when_asked_for() {
    let (_tmp, root) = fixture_copy();
    std::fs::remove_dir_all(root.join("segmentation")).unwrap();
    let mut cfg = config_for(&common::seg_expected()["datasets"]["raw_w32_224"], &root);
    let err = RawDataset::open(cfg.clone()).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DataError::MissingModality { .. }), "{err:?}");
    assert!(text.contains(&root.display().to_string()), "{text}");
    assert!(
        text.contains("`segmentation`") && text.contains("segmentation or segment"),
        "{text}"
    );
    // Not asked for: the dataset opens without it.
    cfg.modalities = vec![Modality::Action];
    RawDataset::open(cfg).unwrap();

    // A part whose chunk is missing names the key.
    let (_tmp, root) = fixture_copy();
    let w = LmdbWriter::open(&root.join("segmentation/part-1")).unwrap();
    w.delete("(0, 64)").unwrap();
    w.finish().unwrap();
    let err = RawDataset::open(config_for(
        &common::seg_expected()["datasets"]["raw_w32_224"],
        &root,
    ))
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("(0, 64)") && text.contains(BETA) && text.contains("segmentation"),
        "{text}"
    );
}
