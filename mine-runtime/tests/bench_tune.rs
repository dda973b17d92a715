//! `bench --tune` as a user runs it, on the tiny VPT: its 16x16 frames give no convolution the
//! Winograd kernels take (on any CPU), so every flip must be reported as changing nothing
//! (every step server starts from the same weights and batches, and their losses match bit
//! for bit), none can win, and the choice printed is the defaults.

use std::path::PathBuf;
use std::process::Command;

/// The benchmark example cargo built beside this test (`target/<profile>/examples/bench`).
fn bench() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bench = profile_dir.join("examples").join("bench");
    bench.exists().then_some(bench)
}

#[test]
fn tune_reports_flips_that_change_nothing_and_keeps_the_defaults() {
    let Some(bench) = bench() else {
        eprintln!("the bench example was not built beside this test: nothing to run");
        return;
    };
    let out = Command::new(bench)
        .args([
            "--tune", "--model", "tiny", "--rounds", "1", "--steps", "2", "--warmup", "2",
        ])
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("## Kernel choices on this CPU"), "{text}");
    let flips: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("| B=") && !l.contains("the current choice"))
        .collect();
    assert!(!flips.is_empty(), "no flip timed:\n{text}");
    for row in &flips {
        assert!(row.contains("no effect here"), "{row}\n{text}");
    }
    assert!(
        text.contains("The choice here is the default kernels"),
        "{text}"
    );
}
