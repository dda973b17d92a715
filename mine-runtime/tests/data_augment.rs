//! Clip-consistent augmentation (`enable_video_aug`): one draw per window, applied alike to
//! every frame and (geometrically) to every mask; reproducible per seed, epoch and item;
//! off (or with identity ranges) the samples are bit-identical to the plain reader's.

mod common;

use burn::tensor::Device;
use mine_runtime::data::augment::{AffineDraw, VideoAugConfig, Warp};
use mine_runtime::data::sample::{ImageWindow, Sample};
use mine_runtime::data::segmentation::SegmentationWindow;
use mine_runtime::data::{DataLoader, DatasetConfig, Modality, RawDataset};

const W: usize = 48;
const H: usize = 32;

/// A disc of radius 9 (off-centre) as a 0/1 mask.
fn disc() -> Vec<u8> {
    (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (dx, dy) = (x as f64 - 20.0, y as f64 - 14.0);
            u8::from(dx * dx + dy * dy <= 81.0)
        })
        .collect()
}

/// A textured RGB frame: a colour gradient with the disc drawn bright.
fn frame(mask: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(W * H * 3);
    for (i, &m) in mask.iter().enumerate() {
        let (x, y) = (i % W, i / W);
        out.extend_from_slice(&if m == 1 {
            [230, 200, 40]
        } else {
            [(x * 5) as u8, (y * 7) as u8, 90]
        });
    }
    out
}

/// A sample of `t` frames (the last one padding) showing `frame` with `mask`.
fn sample(t: usize) -> Sample {
    let mask = disc();
    let rgb = frame(&mask);
    let real: Vec<u8> = (0..t).map(|i| u8::from(i + 1 < t)).collect();
    let mut frames = Vec::new();
    let mut masks = Vec::new();
    for &r in &real {
        frames.extend(if r == 1 {
            rgb.clone()
        } else {
            vec![0; rgb.len()]
        });
        masks.extend(if r == 1 {
            mask.clone()
        } else {
            vec![0; mask.len()]
        });
    }
    Sample {
        index: 0,
        episode: "e".into(),
        relative_idx: 0,
        progress: "0/1".into(),
        text: "raw".into(),
        timestamp: (0..t as i64).collect(),
        image: Some(ImageWindow {
            width: W,
            height: H,
            frames,
            mask: real.clone(),
        }),
        action: None,
        meta_info: None,
        segmentation: Some(SegmentationWindow {
            width: W,
            height: H,
            obj_mask: masks,
            obj_id: vec![2; t],
            event: vec![String::new(); t],
            point: vec![[-1.0, -1.0]; t],
            frame_id: vec![-1; t],
            frame_range: vec![[-1, -1]; t],
            mask: real.clone(),
        }),
        mask: real,
    }
}

#[test]
fn one_draw_for_every_frame_and_its_mask() {
    let mut s = sample(5);
    let before = s.clone();
    // Stronger than MineStudio's ranges, so a 48x32 mask visibly moves.
    let strong = VideoAugConfig {
        rotate: [10.0, 20.0],
        scale: [0.8, 0.9],
        ..VideoAugConfig::default()
    };
    let draw = strong.draw(0, 0, 7);
    assert!(!draw.affine.is_identity());
    draw.apply(&mut s);
    let image = s.image.as_ref().unwrap();
    let seg = s.segmentation.as_ref().unwrap();
    for t in 1..4 {
        assert_eq!(image.frame(t), image.frame(0), "frame {t}");
        assert_eq!(seg.frame_mask(t), seg.frame_mask(0), "mask {t}");
    }
    let old = before.image.as_ref().unwrap();
    assert_ne!(image.frame(0), old.frame(0), "the frames changed");
    assert_ne!(
        seg.frame_mask(0),
        before.segmentation.as_ref().unwrap().frame_mask(0)
    );
    assert!(image.frame(4).iter().all(|&v| v == 0), "padding stays zero");
    assert!(seg.frame_mask(4).iter().all(|&v| v == 0));
    assert!(seg.obj_mask.iter().all(|&v| v <= 1), "masks stay 0/1");
    // Each frame is what the draw makes of it alone (nothing depends on the frame's place).
    let mut alone = old.frame(0).to_vec();
    draw.frame(&mut alone, draw.warp(W, H).as_ref());
    assert_eq!(image.frame(2), alone.as_slice());
    // Another item or epoch, another draw.
    assert_ne!(strong.draw(0, 0, 8), draw);
    assert_ne!(strong.draw(0, 1, 7), draw);
    assert_eq!(strong.draw(0, 0, 7), draw);
}

#[test]
fn masks_move_with_the_frames() {
    let mask = disc();
    // White disc on black, warped bilinearly, against the mask warped with nearest pixels.
    let white: Vec<u8> = mask.iter().map(|&m| m * 255).collect();
    let draw = AffineDraw {
        rotate: 25.0,
        scale: 0.8,
        shear_x: 6.0,
        shear_y: -4.0,
    };
    let warp = Warp::new(&draw, W, H);
    let image = warp.bilinear(&white, 1);
    let warped = warp.nearest(&mask);
    let inside: usize = warped.iter().map(|&v| usize::from(v)).sum();
    assert!(inside > 100, "{inside}");
    assert_ne!(warped, mask, "the disc moved");
    let mut differ = 0;
    for (i, (&v, &m)) in image.iter().zip(&warped).enumerate() {
        if u8::from(v > 127) != m {
            differ += 1;
            // Only on the disc's edge: a pixel whose neighbourhood holds both values.
            let (x, y) = ((i % W) as i64, (i / W) as i64);
            let near: Vec<u8> = [(-1, 0), (1, 0), (0, -1), (0, 1)]
                .iter()
                .filter_map(|(dx, dy)| {
                    let (nx, ny) = (x + dx, y + dy);
                    ((0..W as i64).contains(&nx) && (0..H as i64).contains(&ny))
                        .then(|| warped[(ny as usize) * W + nx as usize])
                })
                .collect();
            assert!(
                near.iter().any(|&n| n != m),
                "pixel {x},{y} is off the edge"
            );
        }
    }
    assert!(differ * 10 < inside, "{differ} of {inside}");
}

fn fixture_config() -> DatasetConfig {
    let mut cfg = DatasetConfig::new(vec![common::seg_fixture()]);
    cfg.modalities = vec![Modality::Image, Modality::Action, Modality::Segmentation];
    cfg.win_len = 20;
    cfg.split_ratio = 1.0;
    cfg
}

#[test]
fn off_or_identity_ranges_are_bit_identical() {
    let plain = RawDataset::open(fixture_config()).unwrap();
    let mut off = fixture_config();
    off.video_aug.rotate = [-30.0, 30.0];
    let off = RawDataset::open(off).unwrap();
    let mut identity = fixture_config();
    identity.enable_video_aug = true;
    identity.video_aug = VideoAugConfig::identity();
    let identity = RawDataset::open(identity).unwrap();
    for i in [0, 5, 11] {
        let want = plain.get(i).unwrap();
        assert_eq!(off.get_in_epoch(i, 3).unwrap(), want, "item {i}");
        assert_eq!(identity.get_in_epoch(i, 3).unwrap(), want, "item {i}");
    }
}

#[test]
fn the_loader_augments_per_epoch_and_item() {
    let mut cfg = fixture_config();
    cfg.enable_video_aug = true;
    cfg.batch_size = 2;
    cfg.seed = 5;
    let ds = RawDataset::open(cfg.clone()).unwrap();
    let plain = RawDataset::open(fixture_config()).unwrap();
    // Item 5 of alpha shows an interaction (masks on 16 frames).
    let a = ds.get_in_epoch(5, 0).unwrap();
    assert_eq!(a, ds.get_in_epoch(5, 0).unwrap(), "reproducible");
    let b = ds.get_in_epoch(5, 1).unwrap();
    assert_ne!(a.image, b.image, "another epoch, another draw");
    let p = plain.get(5).unwrap();
    assert_ne!(a.image, p.image);
    assert_ne!(a.segmentation, p.segmentation);
    assert_eq!(a.action, p.action, "actions are not augmented");
    let masked = |s: &Sample| {
        s.segmentation
            .as_ref()
            .unwrap()
            .obj_mask
            .iter()
            .filter(|&&v| v == 1)
            .count()
    };
    let (got, want) = (masked(&a) as f64, masked(&p) as f64);
    assert!(
        want > 0.0 && (got / want - 1.0).abs() < 0.1,
        "{got} vs {want} mask pixels"
    );

    let loader = DataLoader::new(RawDataset::open(cfg).unwrap());
    let indices = loader.index_batches(1)[0].clone();
    let batch = loader.epoch(1, &Device::flex()).next().unwrap().unwrap();
    let images: Vec<f32> = batch.image.unwrap().into_data().try_to_vec().unwrap();
    let want: Vec<f32> = indices
        .iter()
        .flat_map(|&i| ds.get_in_epoch(i, 1).unwrap().image.unwrap().frames)
        .map(f32::from)
        .collect();
    assert_eq!(images, want);
}

#[test]
fn bad_ranges_are_named() {
    let mut cfg = fixture_config();
    cfg.enable_video_aug = true;
    cfg.video_aug.hue = [0.2, 0.7];
    let text = RawDataset::open(cfg).unwrap_err().to_string();
    assert!(text.contains("`video_aug.hue`"), "{text}");
    let toml =
        "dataset_dirs = [\"d\"]\nenable_video_aug = true\n[video_aug]\nrotate = [-10.0, 10.0]\n";
    let cfg: DatasetConfig = toml::from_str(toml).unwrap();
    assert_eq!(cfg.video_aug.rotate, [-10.0, 10.0]);
    assert_eq!(cfg.video_aug.scale, [0.98, 1.02]);
}
