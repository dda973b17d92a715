//! Complete datasets are reused, broken ones regenerated, foreign paths and bad configs refused.

use super::read_back::check_read_back;
use super::*;

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
