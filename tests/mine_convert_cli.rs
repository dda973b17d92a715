//! `mine-convert` as a user runs it: its help, recordings named as files or directories, its
//! warnings and progress on stderr, its exit codes, and a run killed halfway.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The contractor recordings fixture (`../shared` beside the workspace, or `$MINE_SHARED_DIR`).
fn recordings() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared")))
        .join("fixtures/minestudio-tiny-src")
}

/// The shortest recording of the fixture (one chunk).
const BRAVE: &str = "brave-olive-otter-fedcba987654-20220602-140001";

fn mine_convert(args: &[&str], rust_log: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mine-convert"));
    cmd.args(args).env_remove("RUST_LOG");
    if let Some(filter) = rust_log {
        cmd.env("RUST_LOG", filter);
    }
    cmd
}

fn run(args: &[&str], rust_log: Option<&str>) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = mine_convert(args, rust_log).output().unwrap();
    let text = |b: Vec<u8>| String::from_utf8(b).unwrap();
    (status.code().unwrap(), text(stdout), text(stderr))
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The brave recording (plus `extra` files copied from it under other names) in `dir`.
fn brave_in(dir: &Path, extra: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for ext in ["mp4", "jsonl"] {
        std::fs::copy(
            recordings().join(format!("{BRAVE}.{ext}")),
            dir.join(format!("{BRAVE}.{ext}")),
        )
        .unwrap();
    }
    for name in extra {
        let ext = Path::new(name).extension().unwrap().to_str().unwrap();
        std::fs::copy(recordings().join(format!("{BRAVE}.{ext}")), dir.join(name)).unwrap();
    }
    dir.to_path_buf()
}

/// Every LMDB part's `data.mdb` (relative path, bytes), sorted.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for modality in ["action", "image", "meta_info"] {
        for part in std::fs::read_dir(dir.join(modality)).unwrap() {
            let part = part.unwrap().path();
            let path = part.join("data.mdb");
            out.push((
                path.strip_prefix(dir).unwrap().into(),
                std::fs::read(&path).unwrap(),
            ));
        }
    }
    out.sort();
    out
}

#[test]
fn help_documents_every_option() {
    let (code, help, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    for option in [
        "<INPUT>...",
        "--output <DIR>",
        "--chunk-size <N>",
        "--width <PX>",
        "--height <PX>",
        "--fps <FPS>",
        "--fail-fast",
        "--workers <N>",
        "--overwrite",
        "RUST_LOG",
    ] {
        assert!(help.contains(option), "`{option}` in\n{help}");
    }
}

#[test]
fn video_files_and_their_directory_give_the_same_dataset() {
    let tmp = tempfile::tempdir().unwrap();
    let (from_files, from_dir) = (tmp.path().join("files"), tmp.path().join("dir"));
    let mut mp4s: Vec<String> = std::fs::read_dir(recordings())
        .unwrap()
        .map(|e| e.unwrap().path().display().to_string())
        .filter(|p| p.ends_with(".mp4"))
        .collect();
    mp4s.sort();
    let mut args = vec!["--output", arg(&from_files), "--workers", "2"];
    args.extend(mp4s.iter().map(String::as_str));
    let (code, stdout, stderr) = run(&args, None);
    assert_eq!(code, 0, "{stderr}");
    let episodes: Vec<&str> = stdout.lines().collect();
    assert_eq!(episodes.len(), 4, "{stdout}");
    assert!(
        episodes[0].starts_with(&format!("{BRAVE}\t32 frames")),
        "{stdout}"
    );
    // stderr is not a terminal: plain progress lines, and the log.
    assert!(stderr.contains("episode 4/4 | zesty-"), "{stderr}");
    assert!(stderr.contains("INFO"), "{stderr}");

    let dir = recordings();
    let args = ["--output", arg(&from_dir), "--workers", "1", arg(&dir)];
    let (code, stdout_dir, stderr) = run(&args, None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout_dir, stdout);
    assert!(files(&from_files) == files(&from_dir), "LMDB files differ");
}

#[test]
fn skipped_recordings_are_warned_on_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let src = brave_in(&tmp.path().join("src"), &["lonely-1.mp4"]);
    let out = tmp.path().join("out");
    let (code, stdout, stderr) = run(&["-o", arg(&out), arg(&src)], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().count(), 1);
    assert!(stderr.contains("WARN"), "{stderr}");
    assert!(stderr.contains("skipping `lonely-1`"), "{stderr}");

    let quiet = tmp.path().join("quiet");
    let (code, _, stderr) = run(&["-o", arg(&quiet), arg(&src)], Some("error"));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        !stderr.contains("skipping"),
        "RUST_LOG=error hides warnings:\n{stderr}"
    );

    let strict = tmp.path().join("strict");
    let (code, _, stderr) = run(&["-o", arg(&strict), "--fail-fast", arg(&src)], None);
    assert_eq!(code, 1);
    assert!(stderr.contains("lonely-1.mp4"), "{stderr}");
    assert!(!strict.exists());
}

#[test]
fn an_existing_output_is_refused_unless_overwrite() {
    let tmp = tempfile::tempdir().unwrap();
    let src = brave_in(&tmp.path().join("src"), &[]);
    let out = tmp.path().join("out");
    let args = ["--output", arg(&out), arg(&src)];
    assert_eq!(run(&args, None).0, 0);
    let (code, _, stderr) = run(&args, None);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("output `{}`", out.display())),
        "{stderr}"
    );
    assert!(stderr.contains("--overwrite"), "{stderr}");
    let (code, _, stderr) = run(&["--overwrite", "--output", arg(&out), arg(&src)], None);
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn malformed_command_lines_exit_2_naming_the_argument() {
    for (args, named) in [
        (&["--output", "x"][..], "<INPUT>"),
        (&["recordings/"], "--output"),
        (
            &["--output", "x", "--workers", "0", "recordings/"],
            "--workers",
        ),
        (
            &["--output", "x", "--widht", "200", "recordings/"],
            "--widht",
        ),
    ] {
        let (code, _, stderr) = run(args, None);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains("--help"), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
    }
    let (code, _, stderr) = run(&["--output", "x", "--width", "223", "recordings/"], None);
    assert_eq!(code, 1);
    assert!(stderr.contains("--width"), "{stderr}");
}

#[test]
fn a_killed_run_leaves_no_dataset_and_the_rerun_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let temp = tmp.path().join(".out.converting");
    let dir = recordings();
    let args = ["--output", arg(&out), "--workers", "1", arg(&dir)];
    let mut child = mine_convert(&args, None)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once it has started writing its LMDB parts.
    let started = Instant::now();
    while !temp.join("image").exists() {
        assert!(started.elapsed() < Duration::from_secs(60), "never started");
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before it was killed"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!out.exists(), "no dataset after a killed run");
    assert!(temp.exists());

    let (code, stdout, stderr) = run(&args, None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("left by an interrupted conversion"),
        "{stderr}"
    );
    assert_eq!(stdout.lines().count(), 4);
    assert!(!temp.exists());
}
