//! ROCKET-1 through `policy.weights`: the golden state dict (MineStudio's names and dtypes,
//! BatchNorm buffers included) loads with `[policy]` settings, the exporter writes it as a Hub
//! directory (`config.json` + `model.safetensors`) that reads back identically, and
//! checkpoints of other policies are refused with the kinds named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use mine_runtime::policies::pretrained::{
    PretrainedError, PretrainedPolicy, SourceConfig, WeightsFormat, WeightsSource, build_pretrained,
};
use mine_runtime::policies::rocket::{RocketConfig, RocketPolicy};
use safetensors::SafeTensors;
use serde_json::{Value, json};

fn golden_weights() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/tiny_rocket_weights.safetensors"
    ))
}

/// The tiny network's settings as a `[policy]` table.
fn tiny_settings() -> toml::Table {
    toml::Table::try_from(RocketConfig::tiny()).expect("a table")
}

/// Every tensor of a safetensors file: dtype, shape and bytes by name.
fn tensors(path: &Path) -> BTreeMap<String, (String, Vec<usize>, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file = SafeTensors::deserialize(&bytes).expect("a safetensors file");
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let entry = (
                format!("{:?}", view.dtype()),
                view.shape().to_vec(),
                view.data().to_vec(),
            );
            (name, entry)
        })
        .collect()
}

#[test]
fn the_golden_weights_export_as_a_hub_directory_that_reads_back_identically() {
    let device = Device::flex();
    let (policy, config) =
        build_pretrained::<RocketPolicy>(&tiny_settings(), Some(&golden_weights()), &device)
            .expect("the golden state dict loads");
    assert_eq!(config, RocketConfig::tiny());

    let dir = tempfile::tempdir().unwrap();
    let hub = dir.path().join("rocket-hub");
    policy.export_minestudio(&hub).expect("export");
    // Byte for byte MineStudio's state dict: names, float32 values, int64 counters.
    assert_eq!(
        tensors(&hub.join("model.safetensors")),
        tensors(&golden_weights())
    );
    let kwargs: Value =
        serde_json::from_str(&std::fs::read_to_string(hub.join("config.json")).unwrap()).unwrap();
    assert_eq!(
        kwargs,
        json!({"action_space": null, "backbone": "efficientnet_b0.ra_in1k", "hiddim": 8,
               "mem_len": 8, "nucleus_prob": 0.85, "num_heads": 2, "num_layers": 2,
               "timesteps": 4, "channel_multiplier": 0.125, "depth_multiplier": 0.5})
    );

    // The directory alone configures and loads the network.
    let source = WeightsSource::locate(&hub).unwrap();
    assert_eq!(source.format, WeightsFormat::Hub);
    let (again, config) =
        build_pretrained::<RocketPolicy>(&toml::Table::new(), Some(&hub), &device).unwrap();
    // MineStudio's arguments do not include our pooling dropout: PyTorch's default, 0.1.
    assert_eq!(
        config,
        RocketConfig {
            pooling_dropout: 0.1,
            ..RocketConfig::tiny()
        }
    );
    // It is a setting of this program, which `[policy]` may give beside a checkpoint.
    let no_dropout: toml::Table = toml::from_str("pooling_dropout = 0.0").unwrap();
    let (_, config) = build_pretrained::<RocketPolicy>(&no_dropout, Some(&hub), &device).unwrap();
    assert_eq!(config, RocketConfig::tiny());
    let again_dir = dir.path().join("again");
    again.export_minestudio(&again_dir).unwrap();
    assert_eq!(
        tensors(&again_dir.join("model.safetensors")),
        tensors(&golden_weights())
    );

    // A [policy] setting that contradicts the checkpoint is named.
    let conflicting: toml::Table = toml::from_str("hiddim = 16").unwrap();
    let error = build_pretrained::<RocketPolicy>(&conflicting, Some(&hub), &device)
        .expect_err("a conflict")
        .to_string();
    assert!(
        error.contains("policy.hiddim = 16") && error.contains("hiddim = 8"),
        "{error}"
    );
}

#[test]
fn the_published_rocket_1_config_builds_efficientnet_b0() {
    // The arguments MineStudio's ROCKET-1 Hub repositories record.
    let kwargs = json!({"action_space": null, "backbone": "efficientnet_b0.ra_in1k",
        "hiddim": 1024, "num_heads": 8, "num_layers": 4, "timesteps": 128, "mem_len": 128,
        "nucleus_prob": 0.85});
    let source = SourceConfig::MineStudio {
        path: "hub/config.json".into(),
        kwargs: kwargs.as_object().unwrap().clone(),
    };
    let config = RocketPolicy::network_config(&source).unwrap().unwrap();
    assert_eq!(config, RocketConfig::rocket_1());
    // MineStudio's ROCKET-1 training script saves the arguments as hyper_parameters.model.
    let lightning = SourceConfig::Lightning {
        path: "rocket.ckpt".into(),
        hyper_parameters: json!({"model": kwargs, "learning_rate": 1e-5})
            .as_object()
            .unwrap()
            .clone(),
    };
    assert_eq!(
        RocketPolicy::network_config(&lightning).unwrap(),
        Some(config)
    );
}

#[test]
fn checkpoints_of_other_policies_are_refused_with_the_kinds_named() {
    let groot = json!({"backbone": "timm/vit_base_patch32_clip_224.openai", "hiddim": 8,
        "freeze_backbone": true, "video_encoder_kwargs": {"num_spatial_layers": 2},
        "image_encoder_kwargs": {"num_layers": 2}, "decoder_kwargs": {"num_layers": 2}});
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("config.json"), groot.to_string()).unwrap();
    std::fs::copy(golden_weights(), dir.path().join("model.safetensors")).unwrap();
    let error =
        build_pretrained::<RocketPolicy>(&toml::Table::new(), Some(dir.path()), &Device::flex())
            .expect_err("a GROOT checkpoint is refused");
    assert!(
        matches!(&error, PretrainedError::WrongPolicy { found, expected: "rocket", .. } if found == "groot"),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains("`groot`") && message.contains("`rocket`"),
        "{message}"
    );

    let vpt = SourceConfig::MineStudio {
        path: "hub/config.json".into(),
        kwargs: json!({"policy_kwargs": {}, "temperature": 1.0})
            .as_object()
            .unwrap()
            .clone(),
    };
    let error = RocketPolicy::network_config(&vpt).unwrap_err().to_string();
    assert!(
        error.contains("`vpt`") && error.contains("`rocket`"),
        "{error}"
    );
}

#[test]
fn a_state_dict_of_another_size_is_refused_with_the_tensors_named() {
    let settings: toml::Table = toml::from_str("hiddim = 16\nnum_heads = 2\nnum_layers = 2\ntimesteps = 4\nmem_len = 8\nchannel_multiplier = 0.125\ndepth_multiplier = 0.5").unwrap();
    let error =
        build_pretrained::<RocketPolicy>(&settings, Some(&golden_weights()), &Device::flex())
            .expect_err("hiddim 16 does not fit")
            .to_string();
    assert!(
        error.contains("mis-shaped") && error.contains("updim.weight"),
        "{error}"
    );
    assert!(error.contains("tiny_rocket_weights.safetensors"), "{error}");
}
