//! Generated datasets read back through `RawDataset` with the intended scenes and actions.

use super::*;

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

pub(super) fn read_config(
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
pub(super) fn check_read_back(data: &GeneratedDataset) {
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

/// With `segmentation = true` every square of the `track` task is an interaction: its mask
/// read back at the frame size is exactly the square's pixels, with the interaction type of
/// its colour; frames without a square show nothing.
#[test]
fn track_segmentation_masks_are_the_squares() {
    let dir = tempfile::tempdir().unwrap();
    let config = SyntheticConfig {
        segmentation: true,
        ..small(SyntheticTask::Track)
    };
    let data = generate(&config, dir.path().join("seg")).unwrap();
    let cfg = read_config(&data, vec![Modality::Action, Modality::Segmentation], 32);
    assert!(
        data.dataset_config()
            .modalities
            .contains(&Modality::Segmentation)
    );
    let ds = RawDataset::open(cfg).unwrap();
    let names = data.episode_names();
    let (w, h) = (config.width, config.height);
    let (mut shown, mut empty) = (0, 0);
    for index in 0..ds.len() {
        let s = ds.get(index).unwrap();
        let scenes = simulate_episode(&config, names.iter().position(|n| *n == s.episode).unwrap());
        let seg = s.segmentation.as_ref().unwrap();
        assert_eq!((seg.width, seg.height, seg.len()), (w, h, 32));
        for (k, &t) in s.timestamp.iter().enumerate() {
            let label = format!("{} frame {t}", s.episode);
            let mask = seg.frame_mask(k);
            match scenes[t as usize].target {
                Some(target) => {
                    let (x0, y0, x1, y1) = target.rect(w, h);
                    let want: Vec<u8> = (0..h)
                        .flat_map(|y| {
                            (0..w).map(move |x| {
                                u8::from((y0..y1).contains(&y) && (x0..x1).contains(&x))
                            })
                        })
                        .collect();
                    assert_eq!(mask, want.as_slice(), "{label}");
                    let (id, event) = match target.kind {
                        TargetKind::Red => (2, "minecraft.mine_block:minecraft.red_wool"),
                        TargetKind::Yellow => (3, "minecraft.use_item:minecraft.yellow_wool"),
                    };
                    assert_eq!(
                        (seg.obj_id[k], seg.event[k].as_str()),
                        (id, event),
                        "{label}"
                    );
                    assert_eq!(seg.frame_id[k], t, "{label}");
                    let [first, last] = seg.frame_range[k];
                    assert!(first <= t && t <= last, "{label}");
                    assert!(
                        (first..=last).all(|f| scenes[f as usize].target.is_some()),
                        "{label}"
                    );
                    shown += 1;
                }
                None => {
                    assert!(mask.iter().all(|&v| v == 0), "{label}");
                    assert_eq!(seg.obj_id[k], -1, "{label}");
                    empty += 1;
                }
            }
        }
    }
    assert!(
        shown > 100 && empty > 20,
        "{shown} frames with a square, {empty} without"
    );

    let colors = SyntheticConfig {
        segmentation: true,
        ..small(SyntheticTask::Colors)
    };
    let text = colors.validate().unwrap_err().to_string();
    assert!(
        text.contains("`segmentation = true`") && text.contains("track"),
        "{text}"
    );
    let wide = SyntheticConfig {
        width: 800,
        ..config
    };
    let text = wide.validate().unwrap_err().to_string();
    assert!(
        text.contains("640x360") && text.contains("800x64"),
        "{text}"
    );
}
