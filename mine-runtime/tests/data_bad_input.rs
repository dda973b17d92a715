//! Bad datasets give errors naming dataset, episode and chunk (or, configured, skipped
//! episodes) — never a panic, never a silently wrong frame.

mod common;

use std::path::{Path, PathBuf};

use mine_runtime::data::lmdb::LmdbPart;
use mine_runtime::data::pickle::{PyValue, dumps};
use mine_runtime::data::writer::LmdbWriter;
use mine_runtime::data::{
    DataError, DataLoader, DatasetConfig, ErrorPolicy, Location, Modality, RawDataset,
};

const CHEEKY: &str = "cheeky-cornflower-setter-0a1b2c3d4e5f-20220421-092639";
const ZESTY: &str = "zesty-maroon-heron-0f0e0d0c0b0a-20220715-083000";

/// A writable copy of the fixture.
fn fixture_copy() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tiny");
    common::copy_dir(&common::tiny(), &root);
    (tmp, root)
}

fn config(root: &Path) -> DatasetConfig {
    let mut cfg = DatasetConfig::new(vec![root.to_path_buf()]);
    cfg.split_ratio = 1.0;
    cfg
}

/// Overwrites one value of a copied part.
fn put(part: &Path, key: &str, value: &[u8]) {
    let w = LmdbWriter::open(part).unwrap();
    w.put(key, value).unwrap();
    w.finish().unwrap();
}

fn read_value(part: &Path, key: &str) -> Vec<u8> {
    // Read through a private copy so the part itself is not held open by the reader cache.
    let tmp = tempfile::tempdir().unwrap();
    common::copy_dir(part, tmp.path());
    LmdbPart::open(tmp.path(), "any")
        .unwrap()
        .require(key, &Location::default())
        .unwrap()
}

/// The dataset index of `episode`'s first window with `win_len` 32.
fn first_item(ds: &RawDataset, episode: &str) -> usize {
    ds.episodes()
        .iter()
        .find(|e| e.episode == episode)
        .unwrap()
        .first_item
}

#[test]
fn missing_modality_folder_is_named() {
    let (_tmp, root) = fixture_copy();
    std::fs::remove_dir_all(root.join("meta_info")).unwrap();
    let mut cfg = config(&root);
    cfg.modalities = vec![Modality::Image, Modality::MetaInfo];
    let err = RawDataset::open(cfg).unwrap_err();
    assert!(
        matches!(err, DataError::MissingModality { ref modality, .. } if modality == "meta_info"),
        "{err}"
    );
    assert!(err.to_string().contains("tiny"), "{err}");
}

#[test]
fn missing_lmdb_file_is_named() {
    let (_tmp, root) = fixture_copy();
    std::fs::remove_file(root.join("action/part-2/data.mdb")).unwrap();
    let err = RawDataset::open(config(&root)).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err}");
    assert!(err.to_string().contains("action/part-2/data.mdb"), "{err}");
}

#[test]
fn corrupt_lmdb_file_is_an_error() {
    let (_tmp, root) = fixture_copy();
    let path = root.join("image/part-4/data.mdb");
    let len = std::fs::metadata(&path).unwrap().len() as usize;
    std::fs::write(&path, vec![0x5au8; len]).unwrap();
    let err = RawDataset::open(config(&root)).unwrap_err();
    assert!(matches!(err, DataError::Lmdb { .. }), "{err}");
    assert!(err.to_string().contains("image/part-4"), "{err}");
}

#[test]
fn unexpected_pickle_global_names_the_chunk() {
    let (_tmp, root) = fixture_copy();
    // A pickle calling os.system: the reader must refuse the global, not execute or skip it.
    let evil =
        b"\x80\x04\x95\x1a\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";
    put(&root.join("action/part-2"), "(0, 32)", evil);
    let ds = RawDataset::open(config(&root)).unwrap();
    let err = ds.get(first_item(&ds, CHEEKY) + 1).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Pickle { .. }), "{msg}");
    assert!(
        msg.contains(CHEEKY) && msg.contains("(0, 32)") && msg.contains("os.system"),
        "{msg}"
    );
}

#[test]
fn action_chunk_of_the_wrong_shape_is_an_error() {
    let (_tmp, root) = fixture_copy();
    let value = PyValue::Dict(vec![(PyValue::Str("camera".into()), PyValue::Int(3))]);
    put(&root.join("action/part-2"), "(0, 0)", &dumps(&value));
    let ds = RawDataset::open(config(&root)).unwrap();
    let err = ds.get(first_item(&ds, CHEEKY)).unwrap_err();
    assert!(err.to_string().contains("`camera` is a int"), "{err}");
}

#[test]
fn truncated_video_chunk_names_episode_and_chunk() {
    let (_tmp, root) = fixture_copy();
    let part = root.join("image/part-2");
    let chunk = read_value(&part, "(1, 32)");
    put(&part, "(1, 32)", &chunk[..chunk.len() / 2]);
    let ds = RawDataset::open(config(&root)).unwrap();
    let err = ds.get(first_item(&ds, ZESTY) + 1).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Video { .. }), "{msg}");
    assert!(
        msg.contains(ZESTY) && msg.contains("(1, 32)") && msg.contains("image/part-2"),
        "{msg}"
    );
    // Other windows of the episode still read.
    assert!(ds.get(first_item(&ds, ZESTY)).is_ok());
}

#[test]
fn undecodable_h264_payload_is_an_error_not_a_wrong_frame() {
    let (_tmp, root) = fixture_copy();
    let part = root.join("image/part-4");
    let mut chunk = read_value(&part, "(0, 0)");
    // Scramble the middle of the file (inside `mdat`): the container still parses.
    let mid = chunk.len() / 2;
    for b in &mut chunk[mid..mid + 4000] {
        *b = b.wrapping_mul(31).wrapping_add(7);
    }
    put(&part, "(0, 0)", &chunk);
    let ds = RawDataset::open(config(&root)).unwrap();
    let err = ds.get(first_item(&ds, CHEEKY)).unwrap_err();
    assert!(matches!(err, DataError::Video { .. }), "{err}");
    assert!(
        err.to_string().contains(CHEEKY) && err.to_string().contains("(0, 0)"),
        "{err}"
    );
}

#[test]
fn garbage_video_chunk_is_an_error() {
    let (_tmp, root) = fixture_copy();
    put(
        &root.join("image/part-4"),
        "(0, 32)",
        b"not an mp4 file at all",
    );
    let ds = RawDataset::open(config(&root)).unwrap();
    let err = ds.get(first_item(&ds, CHEEKY) + 1).unwrap_err();
    assert!(matches!(err, DataError::Video { .. }), "{err}");
}

fn lie_about_frames(root: &Path) {
    // Claim cheeky has 32 frames in action/part-2 (it has 64 in image/ and meta_info/).
    let infos = PyValue::List(vec![
        PyValue::Dict(vec![
            (PyValue::Str("episode".into()), PyValue::Str(CHEEKY.into())),
            (PyValue::Str("episode_idx".into()), PyValue::Int(0)),
            (PyValue::Str("num_frames".into()), PyValue::Int(32)),
        ]),
        PyValue::Dict(vec![
            (PyValue::Str("episode".into()), PyValue::Str(ZESTY.into())),
            (PyValue::Str("episode_idx".into()), PyValue::Int(1)),
            (PyValue::Str("num_frames".into()), PyValue::Int(128)),
        ]),
    ]);
    put(
        &root.join("action/part-2"),
        "__chunk_infos__",
        &dumps(&infos),
    );
}

#[test]
fn mismatched_frame_counts_are_an_error() {
    let (_tmp, root) = fixture_copy();
    lie_about_frames(&root);
    let err = RawDataset::open(config(&root)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::FrameCount { .. }), "{msg}");
    assert!(
        msg.contains(CHEEKY) && msg.contains("image: 64") && msg.contains("action: 32"),
        "{msg}"
    );
}

#[test]
fn mismatched_frame_counts_skip_the_episode_when_configured() {
    let (_tmp, root) = fixture_copy();
    lie_about_frames(&root);
    let mut cfg = config(&root);
    cfg.on_error = ErrorPolicy::SkipEpisode;
    let ds = RawDataset::open(cfg).unwrap();
    let names: Vec<&str> = ds.episodes().iter().map(|e| e.episode.as_str()).collect();
    assert_eq!(names.len(), 3);
    assert!(!names.contains(&CHEEKY));
}

#[test]
fn missing_chunk_fails_or_skips_at_open() {
    let (_tmp, root) = fixture_copy();
    let w = LmdbWriter::open(&root.join("image/part-2")).unwrap();
    w.delete("(1, 64)").unwrap();
    w.finish().unwrap();
    let err = RawDataset::open(config(&root)).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::MissingKey { .. }), "{msg}");
    assert!(msg.contains(ZESTY) && msg.contains("(1, 64)"), "{msg}");
    let mut cfg = config(&root);
    cfg.on_error = ErrorPolicy::SkipEpisode;
    assert_eq!(RawDataset::open(cfg).unwrap().episodes().len(), 3);
}

#[test]
fn unexpected_meta_pickle_is_an_error() {
    let (_tmp, root) = fixture_copy();
    put(
        &root.join("action/part-4"),
        "__chunk_size__",
        &dumps(&PyValue::Str("32".into())),
    );
    let err = RawDataset::open(config(&root)).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("__chunk_size__") && msg.contains("action/part-4"),
        "{msg}"
    );
}

#[test]
fn item_past_the_end_is_an_error() {
    let ds = RawDataset::open(config(&common::tiny())).unwrap();
    let err = ds.get(ds.len()).unwrap_err();
    assert!(matches!(err, DataError::OutOfRange { .. }), "{err}");
}

#[test]
fn invalid_configuration_is_rejected() {
    let mut cfg = config(&common::tiny());
    cfg.win_len = 0;
    assert!(matches!(
        RawDataset::open(cfg).unwrap_err(),
        DataError::Config(_)
    ));
    let mut cfg = config(&common::tiny());
    cfg.rank = 2;
    cfg.num_replicas = 2;
    assert!(matches!(
        RawDataset::open(cfg).unwrap_err(),
        DataError::Config(_)
    ));
}

#[test]
fn loader_reports_or_skips_bad_batches() {
    let (_tmp, root) = fixture_copy();
    put(&root.join("image/part-4"), "(0, 32)", b"garbage");
    let mut cfg = config(&root);
    cfg.batch_size = 1;
    let loader = DataLoader::new(RawDataset::open(cfg.clone()).unwrap());
    let results: Vec<_> = loader.host_epoch(0).collect();
    assert_eq!(results.len(), 10);
    assert_eq!(results.iter().filter(|r| r.is_err()).count(), 1);
    cfg.on_error = ErrorPolicy::SkipEpisode;
    let loader = DataLoader::new(RawDataset::open(cfg).unwrap());
    let results: Vec<_> = loader.host_epoch(0).collect();
    assert_eq!(results.len(), 9);
    assert!(results.iter().all(Result::is_ok));
}

#[test]
fn lock_files_are_not_needed_for_reading() {
    let (_tmp, root) = fixture_copy();
    for m in ["image", "action"] {
        for p in ["part-2", "part-4"] {
            std::fs::remove_file(root.join(m).join(p).join("lock.mdb")).unwrap();
        }
    }
    let ds = RawDataset::open(config(&root)).unwrap();
    assert_eq!(ds.len(), 10);
    assert!(ds.get(9).is_ok());
}
