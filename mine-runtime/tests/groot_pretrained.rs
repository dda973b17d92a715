//! MineStudio's GROOT checkpoints through `policy.weights` (a Hub directory, a Lightning
//! `.ckpt` and its `-EMA.ckpt` twin from `tests/fixtures/checkpoints/groot`, a bare state dict)
//! into the MineStudio architecture, with the network's configuration from the checkpoint; the
//! export MineStudio reads back; and what is refused, with the reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use mine_runtime::policies::groot::{
    GrootConfig, GrootPolicy, MineStudioGrootConfig, ScratchGrootConfig,
};
use mine_runtime::policies::pretrained::{
    PretrainedError, PretrainedPolicy, WeightsFormat, WeightsSource, build_pretrained,
    read_state_dict,
};
use mine_runtime::policies::torch_names::torch_state_dict;
use serde_json::Value;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")).join(name)
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/checkpoints"
    ))
    .join(name)
}

fn load(
    settings: &toml::Table,
    weights: &Path,
) -> Result<(GrootPolicy, GrootConfig), PretrainedError> {
    build_pretrained::<GrootPolicy>(settings, Some(weights), &Device::flex())
}

/// The golden network's `GrootPolicy` arguments (dropout 0.1 as MineStudio built it), the
/// backbone as the table of its resized timm model.
fn golden_kwargs() -> Value {
    let text = std::fs::read_to_string(golden("tiny_groot_train.json")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let mut kwargs = doc["policy_kwargs"].clone();
    let mut backbone = doc["backbone"]["built_with"].clone();
    backbone.as_object_mut().unwrap().remove("pretrained");
    backbone["name"] = kwargs["backbone"].clone();
    kwargs["backbone"] = backbone;
    kwargs["action_space"] = Value::Null;
    kwargs
}

/// The golden config with MineStudio's dropouts (0.1; the golden run zeroed them afterwards).
fn golden_config() -> GrootConfig {
    let mut config = MineStudioGrootConfig::tiny();
    config.video_encoder_kwargs.dropout = 0.1;
    config.image_encoder_kwargs.dropout = 0.1;
    config.fuser_dropout = 0.1;
    GrootConfig::MineStudio(config)
}

/// A Hub directory: `config.json` = `kwargs`, `model.safetensors` = a copy of `weights`.
fn hub(dir: &Path, kwargs: &Value, weights: &Path) -> PathBuf {
    let hub = dir.join("hub");
    std::fs::create_dir_all(&hub).unwrap();
    std::fs::copy(weights, hub.join("model.safetensors")).unwrap();
    std::fs::write(hub.join("config.json"), kwargs.to_string()).unwrap();
    hub
}

/// Every tensor of a state-dict file (PyTorch names), as raw bytes.
fn file_tensors(path: &Path) -> BTreeMap<String, (Vec<usize>, Vec<u8>)> {
    read_state_dict(path)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            (
                name,
                (
                    t.shape.iter().copied().collect(),
                    t.to_bytes().unwrap().to_vec(),
                ),
            )
        })
        .collect()
}

/// The policy's parameters as PyTorch would save them, as raw bytes.
fn weights_of(policy: &GrootPolicy) -> BTreeMap<String, Vec<u8>> {
    torch_state_dict(policy, &[])
        .into_iter()
        .map(|t| (t.name, t.bytes))
        .collect()
}

fn assert_weights(policy: &GrootPolicy, file: &Path) {
    let loaded = weights_of(policy);
    let expected = file_tensors(file);
    assert_eq!(
        loaded.len(),
        expected.len(),
        "{}: tensor count",
        file.display()
    );
    for (name, (_, bytes)) in &expected {
        assert_eq!(&loaded[name], bytes, "{name} must be {}'s", file.display());
    }
}

#[test]
fn hub_directory_brings_its_config() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = golden("tiny_groot_weights.safetensors");
    let dir = hub(tmp.path(), &golden_kwargs(), &weights);
    assert_eq!(
        WeightsSource::locate(&dir).unwrap().format,
        WeightsFormat::Hub
    );
    let (policy, config) = load(&toml::Table::new(), &dir).unwrap();
    assert_eq!(config, golden_config());
    assert_weights(&policy, &weights);

    // [policy] may repeat the checkpoint's settings, not contradict them.
    let agreeing: toml::Table = toml::from_str("architecture = 'minestudio'\nhiddim = 8").unwrap();
    assert!(load(&agreeing, &dir).is_ok());
    let conflicting: toml::Table = toml::from_str("hiddim = 16").unwrap();
    let error = load(&conflicting, &dir).unwrap_err();
    assert!(matches!(error, PretrainedError::Conflict { .. }), "{error}");
}

#[test]
fn lightning_checkpoints_load_raw_or_ema_weights_with_the_model_config() {
    for (file, expected) in [
        (
            "groot/weight-epoch=0-step=3.ckpt",
            "tiny_groot_weights.safetensors",
        ),
        (
            "groot/weight-epoch=0-step=3-EMA.ckpt",
            "tiny_groot_after3.safetensors",
        ),
    ] {
        let path = fixture(file);
        assert_eq!(
            WeightsSource::locate(&path).unwrap().format,
            WeightsFormat::Lightning
        );
        // MineStudio's GROOT script saves GrootPolicy's arguments as hyper_parameters.model.
        let (policy, config) = load(&toml::Table::new(), &path).unwrap();
        assert_eq!(config, golden_config(), "{file}");
        assert_weights(&policy, &golden(expected));
    }
}

#[test]
fn export_reads_back_identically_in_minestudio_s_layout() {
    let weights = golden("tiny_groot_weights.safetensors");
    let settings = toml::Table::try_from(golden_config()).unwrap();
    let (policy, _) = load(&settings, &weights).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    policy.export_minestudio(&dir).unwrap();

    // The tensors of GrootPolicy.state_dict(): names, shapes (the 0-d debiasing term), bytes.
    let ours = file_tensors(&dir.join("model.safetensors"));
    let theirs = file_tensors(&weights);
    assert_eq!(ours, theirs);
    // config.json: GrootPolicy's arguments and nothing else (the Decoder's default heads
    // written out).
    let text = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let config: Value = serde_json::from_str(&text).unwrap();
    let mut expected = golden_kwargs();
    expected["decoder_kwargs"]["num_heads"] = 8.into();
    assert_eq!(config, expected);
    // Read back: the same network and weights.
    let (again, network) = load(&toml::Table::new(), &dir).unwrap();
    assert_eq!(&network, policy.network());
    assert_eq!(weights_of(&again), weights_of(&policy));
}

#[test]
fn what_cannot_load_is_refused_with_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let weights = golden("tiny_groot_weights.safetensors");

    // Our own architecture has no MineStudio counterpart.
    let scratch = toml::Table::try_from(GrootConfig::from(ScratchGrootConfig::tiny())).unwrap();
    let error = load(&scratch, &weights).unwrap_err().to_string();
    assert!(error.contains("architecture = \"minestudio\""), "{error}");
    let (ours, _) = build_pretrained::<GrootPolicy>(&scratch, None, &Device::flex()).unwrap();
    let error = ours
        .export_minestudio(&tmp.path().join("x"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("architecture = \"scratch\""), "{error}");

    // A VPT checkpoint.
    let error = load(&toml::Table::new(), &fixture("hf")).unwrap_err();
    assert!(
        matches!(&error, PretrainedError::WrongPolicy { found, .. } if found == "vpt"),
        "{error}"
    );

    // A timm backbone not built here.
    let mut kwargs = golden_kwargs();
    kwargs["backbone"] = "resnet50.a1_in1k".into();
    let error = load(&toml::Table::new(), &hub(tmp.path(), &kwargs, &weights))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("resnet50") && error.contains("config.json"),
        "{error}"
    );
    // MineStudio's default backbone, EfficientNet, with the ViT golden's weights: the ViT's
    // tensors are named as unexpected, EfficientNet's as missing.
    let mut kwargs = golden_kwargs();
    kwargs["backbone"] = "efficientnet_b0.ra_in1k".into();
    let error = load(&toml::Table::new(), &hub(tmp.path(), &kwargs, &weights))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("backbone.conv_stem.weight") && error.contains("backbone.model."),
        "{error}"
    );

    // Weights of another size: every mismatch named, with the settings to check.
    let mut wider = MineStudioGrootConfig::tiny();
    wider.hiddim = 16;
    let settings = toml::Table::try_from(GrootConfig::from(wider)).unwrap();
    let error = load(&settings, &weights).unwrap_err().to_string();
    assert!(
        error.contains("mis-shaped") && error.contains("hiddim"),
        "{error}"
    );
}
