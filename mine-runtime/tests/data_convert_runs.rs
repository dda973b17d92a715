//! How a conversion run behaves around its output and inputs: the number of workers does not
//! change a byte; an interrupted run never leaves a dataset behind and its leftovers are
//! cleaned up; an existing output is refused unless overwritten; recordings may be named as
//! files or found in directories.

mod common;

use std::path::{Path, PathBuf};

use mine_runtime::data::convert::{
    ConvertOptions, ConvertReport, convert_contractor, find_segments,
};
use mine_runtime::data::lmdb::LmdbPart;
use mine_runtime::data::{DatasetConfig, ErrorPolicy, Modality, RawDataset};

/// The shortest recording of the fixture (45 frames: one chunk), for quick conversions.
const BRAVE: &str = "brave-olive-otter-fedcba987654-20220602-140001";

fn options(workers: usize) -> ConvertOptions {
    ConvertOptions {
        workers,
        ..ConvertOptions::default()
    }
}

fn open(dir: &Path) -> mine_runtime::data::DataResult<RawDataset> {
    let mut cfg = DatasetConfig::new(vec![dir.to_path_buf()]);
    cfg.split_ratio = 1.0;
    cfg.win_len = 32;
    cfg.modalities = vec![Modality::Image, Modality::Action, Modality::MetaInfo];
    RawDataset::open(cfg)
}

/// The brave recording alone, in `<tmp>/src`.
fn brave_src(tmp: &Path) -> PathBuf {
    let src = tmp.join("src");
    common::copy_recordings(&[BRAVE], &src);
    src
}

/// Every file under `dir` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    out.sort();
    out
}

/// An LMDB part's keys (in LMDB order) with their values.
type Entries = Vec<(String, Vec<u8>)>;

/// Every LMDB part (`modality/part-N`) with its entries.
fn lmdb_contents(dir: &Path) -> Vec<(String, Entries)> {
    let mut out = Vec::new();
    for modality in ["action", "image", "meta_info"] {
        let mut parts: Vec<PathBuf> = std::fs::read_dir(dir.join(modality))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        parts.sort();
        for path in parts {
            let part = LmdbPart::open(&path, modality).unwrap();
            let at = mine_runtime::data::error::Location::dataset(&path);
            let entries = part
                .keys()
                .unwrap()
                .into_iter()
                .map(|k| {
                    let v = part.require(&k, &at).unwrap();
                    (k, v)
                })
                .collect();
            out.push((
                format!("{modality}/{}", path.file_name().unwrap().display()),
                entries,
            ));
        }
    }
    out
}

#[test]
fn one_and_two_workers_write_the_same_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    // The longest recording again as the first episode, so that with two workers later
    // episodes finish before it.
    let src = tmp.path().join("src");
    common::copy_recordings(&[""], &src);
    let zesty = "zesty-maroon-heron-0f0e0d0c0b0a-20220715-083000";
    for ext in ["mp4", "jsonl"] {
        std::fs::copy(
            src.join(format!("{zesty}.{ext}")),
            src.join(format!("aardvark-1.{ext}")),
        )
        .unwrap();
    }
    let src = [src];
    let report_one = convert_contractor(&src, &one, &options(1)).unwrap();
    let report_two = convert_contractor(&src, &two, &options(2)).unwrap();
    assert_eq!(report_one, report_two);
    assert_eq!(report_one.episodes.len(), 5);
    assert_eq!(report_one.episodes[0], ("aardvark-1".to_string(), 128));

    let (lmdb_one, lmdb_two) = (lmdb_contents(&one), lmdb_contents(&two));
    let parts: Vec<&str> = lmdb_one.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(parts, ["action/part-5", "image/part-5", "meta_info/part-5"]);
    // 14 chunks (aardvark 4, brave 1, cheeky 2, squeaky 3, zesty 4) in the image part, plus 4
    // meta keys.
    assert_eq!(lmdb_one[1].1.len(), 18);
    assert_eq!(lmdb_one, lmdb_two, "LMDB keys and values");
    assert!(files(&one) == files(&two), "the files differ byte for byte");

    let (ds_one, ds_two) = (open(&one).unwrap(), open(&two).unwrap());
    assert_eq!(ds_one.len(), 14);
    assert_eq!(ds_one.len(), ds_two.len());
    for i in 0..ds_one.len() {
        assert_eq!(ds_one.get(i).unwrap(), ds_two.get(i).unwrap(), "item {i}");
    }
}

#[test]
fn a_killed_runs_leftover_is_never_a_dataset_and_the_rerun_removes_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = brave_src(tmp.path());
    let out = tmp.path().join("out");
    // What a run killed halfway leaves: the temporary directory, with half an LMDB part.
    let leftover = tmp.path().join(".out.converting");
    std::fs::create_dir_all(leftover.join("image/part-1")).unwrap();
    std::fs::write(leftover.join("image/part-1/data.mdb"), b"half a part").unwrap();
    std::fs::write(leftover.join(".mine-convert.lock"), b"").unwrap();
    let err = open(&out).unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");

    let report = convert_contractor(&[src], &out, &options(2)).unwrap();
    assert_eq!(report.episodes, [(BRAVE.to_string(), 32)]);
    assert!(!leftover.exists(), "the leftover is removed");
    assert_eq!(open(&out).unwrap().len(), 1);
    let entries: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries.len(), 2, "only src and out: {entries:?}");
}

#[test]
fn a_running_conversions_directory_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let src = brave_src(tmp.path());
    let out = tmp.path().join("out");
    let running = tmp.path().join(".out.converting");
    std::fs::create_dir_all(&running).unwrap();
    let lock = std::fs::File::create(running.join(".mine-convert.lock")).unwrap();
    lock.lock().unwrap();
    let err = convert_contractor(&[src], &out, &options(1)).unwrap_err();
    assert!(
        err.to_string().contains("another conversion is writing"),
        "{err}"
    );
    assert!(running.join(".mine-convert.lock").exists());
    assert!(!out.exists());
}

/// A dataset-looking directory with a marker file.
fn fake_dataset(dir: &Path) -> PathBuf {
    let marker = dir.join("image/part-9/data.mdb");
    std::fs::create_dir_all(marker.parent().unwrap()).unwrap();
    std::fs::write(&marker, b"old").unwrap();
    marker
}

#[test]
fn an_existing_output_is_refused_and_overwrite_replaces_it() {
    let tmp = tempfile::tempdir().unwrap();
    let src = brave_src(tmp.path());
    let out = tmp.path().join("out");
    let marker = fake_dataset(&out);

    let err = convert_contractor(std::slice::from_ref(&src), &out, &options(1)).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&out.display().to_string()), "{message}");
    assert!(message.contains("--overwrite"), "{message}");
    assert_eq!(std::fs::read(&marker).unwrap(), b"old", "left untouched");
    assert!(!tmp.path().join(".out.converting").exists());

    let overwrite = ConvertOptions {
        overwrite: true,
        ..options(1)
    };
    std::fs::write(out.join("notes.txt"), b"mine").unwrap();
    let err = convert_contractor(std::slice::from_ref(&src), &out, &overwrite).unwrap_err();
    assert!(err.to_string().contains("holds `notes.txt`"), "{err}");
    assert_eq!(std::fs::read(out.join("notes.txt")).unwrap(), b"mine");

    std::fs::remove_file(out.join("notes.txt")).unwrap();
    let report = convert_contractor(&[src], &out, &overwrite).unwrap();
    assert_eq!(report.episodes.len(), 1);
    assert!(!marker.exists(), "the old dataset is replaced");
    assert!(out.join("image/part-1").is_dir());
    assert_eq!(open(&out).unwrap().len(), 1);
    let hidden: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().starts_with('.'))
        .collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn a_dataset_being_replaced_when_killed_is_put_back() {
    let tmp = tempfile::tempdir().unwrap();
    let src = brave_src(tmp.path());
    let out = tmp.path().join("out");
    // Killed between moving the old dataset aside and moving the new one in.
    let marker = fake_dataset(&tmp.path().join(".out.replaced"));
    let err = convert_contractor(&[src], &out, &options(1)).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read(out.join("image/part-9/data.mdb")).unwrap(),
        b"old"
    );
    assert!(!marker.exists());
}

fn names(found: &mine_runtime::data::convert::Found) -> Vec<&str> {
    found.segments.iter().map(|s| s.name.as_str()).collect()
}

fn with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

#[test]
fn recordings_are_found_from_files_and_directories() {
    let src = common::tiny_src();
    let from_dir = find_segments(std::slice::from_ref(&src)).unwrap();
    assert_eq!(names(&from_dir).len(), 5);
    assert!(from_dir.unpaired.is_empty());
    let mp4s = with_extension(&src, "mp4");
    let jsonls = with_extension(&src, "jsonl");
    for inputs in [mp4s.clone(), jsonls] {
        assert_eq!(find_segments(&inputs).unwrap(), from_dir, "{inputs:?}");
    }
    // A recording named twice (and by another spelling of its path) counts once.
    let mut twice = vec![
        src.clone(),
        src.join(".").join(mp4s[0].file_name().unwrap()),
    ];
    twice.extend(mp4s);
    let found = find_segments(&twice).unwrap();
    assert_eq!(names(&found), names(&from_dir));
    assert!(found.unpaired.is_empty());
}

#[test]
fn videos_in_a_sibling_mp4_folder_pair_with_their_actions() {
    let tmp = tempfile::tempdir().unwrap();
    let all = tmp.path().join("all");
    common::copy_recordings(&[BRAVE], &all);
    let (actions, videos) = (tmp.path().join("actions"), tmp.path().join("mp4"));
    std::fs::create_dir_all(&actions).unwrap();
    std::fs::create_dir_all(&videos).unwrap();
    let (jsonl, mp4) = (format!("{BRAVE}.jsonl"), format!("{BRAVE}.mp4"));
    std::fs::rename(all.join(&jsonl), actions.join(&jsonl)).unwrap();
    std::fs::rename(all.join(&mp4), videos.join(&mp4)).unwrap();
    for input in [
        tmp.path().to_path_buf(),
        videos.join(&mp4),
        actions.join(&jsonl),
    ] {
        let found = find_segments(&[input]).unwrap();
        assert_eq!(names(&found), [BRAVE]);
        assert_eq!(found.segments[0].mp4, videos.join(&mp4));
        assert!(found.unpaired.is_empty());
    }
}

#[test]
fn recordings_missing_a_half_are_skipped_or_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let src = brave_src(tmp.path());
    std::fs::copy(src.join(format!("{BRAVE}.mp4")), src.join("lonely-1.mp4")).unwrap();
    std::fs::copy(
        src.join(format!("{BRAVE}.jsonl")),
        src.join("silent-1.jsonl"),
    )
    .unwrap();
    // Named twice: in its directory and by another spelling of its path.
    let inputs = [src.clone(), src.join(".").join("lonely-1.mp4")];
    let report: ConvertReport =
        convert_contractor(&inputs, &tmp.path().join("out"), &options(2)).unwrap();
    assert_eq!(report.episodes.len(), 1);
    let skipped: Vec<&str> = report.skipped.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(skipped, ["lonely-1", "silent-1"]);
    assert!(
        report.skipped[0].1.contains("no `.jsonl`"),
        "{:?}",
        report.skipped
    );
    assert!(
        report.skipped[1].1.contains("no video"),
        "{:?}",
        report.skipped
    );

    let strict = ConvertOptions {
        on_error: ErrorPolicy::Fail,
        ..options(2)
    };
    let out = tmp.path().join("strict");
    let err = convert_contractor(&[src], &out, &strict).unwrap_err();
    assert!(err.to_string().contains("lonely-1.mp4"), "{err}");
    assert!(err.to_string().contains("--fail-fast"), "{err}");
    assert!(!out.exists());
    assert!(
        !tmp.path().join(".strict.converting").exists(),
        "nothing left behind"
    );
}

#[test]
fn bad_inputs_are_errors_naming_them() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("recordings/nope.mp4");
    let err = find_segments(std::slice::from_ref(&missing)).unwrap_err();
    assert!(
        err.to_string().contains(&missing.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("no such file"), "{err}");

    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, b"").unwrap();
    let err = find_segments(&[notes]).unwrap_err();
    assert!(err.to_string().contains("notes.txt"), "{err}");
    assert!(err.to_string().contains("not a recording"), "{err}");

    let twin = tmp.path().join("twin");
    common::copy_recordings(&[BRAVE], &twin);
    let err = find_segments(&[common::tiny_src(), twin]).unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("recording `{BRAVE}` is also at")),
        "{err}"
    );

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = tmp.path().join("out");
    let err = convert_contractor(&[empty], &out, &options(1)).unwrap_err();
    assert!(err.to_string().contains("no recordings"), "{err}");
    assert!(!out.exists() && !tmp.path().join(".out.converting").exists());
}

#[test]
fn invalid_options_are_refused_naming_the_flag() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    for (options, flag) in [
        (
            ConvertOptions {
                frame_width: 223,
                ..options(1)
            },
            "--width",
        ),
        (
            ConvertOptions {
                chunk_size: 0,
                ..options(1)
            },
            "--chunk-size",
        ),
        (options(0), "--workers"),
    ] {
        let err = convert_contractor(&[common::tiny_src()], &out, &options).unwrap_err();
        assert!(err.to_string().contains(flag), "{err}");
        assert!(!out.exists());
    }
}
