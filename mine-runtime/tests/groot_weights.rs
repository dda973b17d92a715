//! Pretrained backbone weights: save/load round trip (ViT and ImpalaCNN), renamed and
//! PyTorch-named files, mismatches reported without loading anything, frozen backbones.

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Device, Distribution, Tensor};
use mine_dsl::prelude::*;
use mine_runtime::policies::groot::{
    Backbone, BackboneConfig, BackboneLoadOptions, GrootPolicy, GrootWeightsError,
    ImpalaBackboneConfig, ScratchGrootConfig, VitBackbone, VitConfig,
};

fn frames(config: &ScratchGrootConfig, device: &Device) -> Tensor<5> {
    let [h, w, c] = config.img_shape;
    Tensor::random([1, 2, h, w, c], Distribution::Uniform(0.0, 255.0), device)
}

fn max_abs_diff<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f32 {
    (a - b)
        .abs()
        .max()
        .into_data()
        .try_into_vec_as::<f32>()
        .unwrap()[0]
}

fn impala_config() -> ScratchGrootConfig {
    ScratchGrootConfig {
        backbone: BackboneConfig::Impala(ImpalaBackboneConfig {
            chans: vec![8, 16],
            group_norm_groups: Some(2),
        }),
        ..ScratchGrootConfig::tiny()
    }
}

fn round_trip(config: &ScratchGrootConfig) {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backbone.safetensors");
    let source = GrootPolicy::new(config, &device).unwrap();
    source.save_backbone(&path).unwrap();

    let target = GrootPolicy::new(config, &device).unwrap();
    let image = frames(config, &device);
    let features = |p: &GrootPolicy| p.backbone.forward(p.pixel_norm.forward(image.clone()));
    assert!(
        max_abs_diff(features(&source), features(&target)) > 1e-3,
        "independently initialized backbones differ"
    );
    let target = target.load_backbone(&path).unwrap();
    assert_eq!(max_abs_diff(features(&source), features(&target)), 0.0);
    // Saving again replaces the file.
    target.save_backbone(&path).unwrap();
}

#[test]
fn vit_backbone_round_trips_through_safetensors() {
    round_trip(&ScratchGrootConfig::tiny());
}

#[test]
fn impala_backbone_round_trips_through_safetensors() {
    round_trip(&impala_config());
}

/// A ViT saved inside another model, under `visual.`, as exporters of CLIP checkpoints do.
#[derive(Module, Debug)]
struct ClipLike {
    visual: VitBackbone,
}

#[test]
fn renamed_tensors_load_with_key_remapping() {
    let config = ScratchGrootConfig::tiny();
    let BackboneConfig::Vit(vit) = &config.backbone else {
        unreachable!("tiny uses a ViT")
    };
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.safetensors");
    let clip = ClipLike {
        visual: VitBackbone::new(vit, config.img_shape, &device),
    };
    clip.save_into(&mut SafetensorsStore::from_file(&path))
        .unwrap();

    let policy = GrootPolicy::new(&config, &device).unwrap();
    let err = policy.clone().load_backbone(&path).unwrap_err();
    let GrootWeightsError::Mismatch {
        missing,
        unexpected,
        ..
    } = &err
    else {
        panic!("expected a mismatch, got {err}")
    };
    assert!(
        missing.iter().any(|m| m == "patch_embed.weight"),
        "{missing:?}"
    );
    assert!(unexpected.iter().any(|u| u == "visual.patch_embed.weight"));
    assert!(err.to_string().contains("key_remapping"), "{err}");

    let options = BackboneLoadOptions {
        key_remapping: vec![("^visual\\.".into(), String::new())],
        ..BackboneLoadOptions::default()
    };
    let policy = policy.load_backbone_with(&path, &options).unwrap();
    let Backbone::Vit(loaded) = &policy.backbone else {
        unreachable!()
    };
    let x = Tensor::<4>::random([1, 3, 16, 16], Distribution::Default, &device);
    assert_eq!(
        max_abs_diff(loaded.forward(x.clone()), clip.visual.forward(x)),
        0.0
    );
}

#[test]
fn mismatched_files_are_reported_and_nothing_is_loaded() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let config = ScratchGrootConfig::tiny();
    let policy = GrootPolicy::new(&config, &device).unwrap();

    // Missing file.
    let err = policy
        .clone()
        .load_backbone(dir.path().join("absent.safetensors"))
        .unwrap_err();
    assert!(matches!(err, GrootWeightsError::Read { .. }), "{err}");

    // Not a safetensors file.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a weight file").unwrap();
    let err = policy.clone().load_backbone(&junk).unwrap_err();
    assert!(matches!(err, GrootWeightsError::Read { .. }), "{err}");

    // A wider ViT: every tensor is rejected for its shape.
    let wide = ScratchGrootConfig {
        backbone: BackboneConfig::Vit(VitConfig {
            width: 64,
            heads: 2,
            patch_size: 4,
            layers: 1,
            mlp_ratio: 2,
        }),
        ..ScratchGrootConfig::tiny()
    };
    let wide_path = dir.path().join("wide.safetensors");
    GrootPolicy::new(&wide, &device)
        .unwrap()
        .save_backbone(&wide_path)
        .unwrap();
    let err = policy.clone().load_backbone(&wide_path).unwrap_err();
    let GrootWeightsError::Mismatch { rejected, .. } = &err else {
        panic!("expected a mismatch, got {err}")
    };
    assert!(!rejected.is_empty(), "{err}");

    // A deeper ViT: the extra block is unexpected unless allowed.
    let deep = ScratchGrootConfig {
        backbone: BackboneConfig::Vit(VitConfig {
            layers: 2,
            ..match &config.backbone {
                BackboneConfig::Vit(vit) => vit.clone(),
                BackboneConfig::Impala(_) => unreachable!(),
            }
        }),
        ..ScratchGrootConfig::tiny()
    };
    let deep_path = dir.path().join("deep.safetensors");
    GrootPolicy::new(&deep, &device)
        .unwrap()
        .save_backbone(&deep_path)
        .unwrap();
    let err = policy.clone().load_backbone(&deep_path).unwrap_err();
    let GrootWeightsError::Mismatch { unexpected, .. } = &err else {
        panic!("expected a mismatch, got {err}")
    };
    assert!(unexpected.iter().all(|u| u.starts_with("blocks.layers.1.")));
    let options = BackboneLoadOptions {
        allow_unexpected: true,
        ..BackboneLoadOptions::default()
    };
    policy
        .clone()
        .load_backbone_with(&deep_path, &options)
        .unwrap();

    // An Impala file into a ViT: everything is missing.
    let impala_path = dir.path().join("impala.safetensors");
    GrootPolicy::new(&impala_config(), &device)
        .unwrap()
        .save_backbone(&impala_path)
        .unwrap();
    let err = policy.clone().load_backbone(&impala_path).unwrap_err();
    assert!(err.to_string().contains("patch_embed.weight"), "{err}");

    // An invalid renaming pattern.
    let options = BackboneLoadOptions {
        key_remapping: vec![("(unclosed".into(), String::new())],
        ..BackboneLoadOptions::default()
    };
    let err = policy.load_backbone_with(&deep_path, &options).unwrap_err();
    assert!(matches!(err, GrootWeightsError::BadPattern { .. }), "{err}");
}

#[test]
fn a_frozen_backbone_gets_no_gradient() {
    let device = Device::flex().autodiff();
    let config = ScratchGrootConfig {
        freeze_backbone: true,
        ..ScratchGrootConfig::tiny()
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backbone.safetensors");
    GrootPolicy::new(&ScratchGrootConfig::tiny(), &device)
        .unwrap()
        .save_backbone(&path)
        .unwrap();
    let policy = GrootPolicy::new(&config, &device)
        .unwrap()
        .load_backbone(&path)
        .unwrap();
    let image = frames(&config, &device);
    let batch = Batch {
        image: Some(image),
        ..Batch::default()
    };
    let (latents, _) = policy
        .forward(&batch, policy.initial_memory(1, &device))
        .unwrap();
    let grads = latents.pi_logits.camera.sum().backward();
    let Backbone::Vit(vit) = &policy.backbone else {
        unreachable!()
    };
    assert!(vit.patch_embed.weight.val().grad(&grads).is_none());
    assert!(policy.updim.weight.val().grad(&grads).is_some());
}
