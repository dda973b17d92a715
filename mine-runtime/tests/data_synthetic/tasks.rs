//! What the tasks ask of a policy, and how fast the default size generates.

use super::*;

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
