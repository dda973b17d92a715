//! Every checkpoint format a MineStudio user has, as MineStudio, huggingface_hub, torch and
//! Lightning wrote it (`tests/fixtures/checkpoints`, see its README): each loads through
//! `policy.weights` into the same network MineStudio builds (its forward outputs within 1e-5),
//! the configuration comes from the checkpoint, and the export reads back identically.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use mine_dsl::policy::Policy;
use mine_runtime::policies::pretrained::{
    PretrainedError, PretrainedPolicy, WeightsFormat, WeightsSource, build_pretrained,
    read_state_dict,
};
use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/checkpoints"
    ))
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

/// The micro VPT's `policy_kwargs` as `[policy]` settings (for formats without a config).
fn micro_settings() -> toml::Table {
    let kwargs = json(&fixtures().join("hf/config.json"))["policy_kwargs"].clone();
    let mut table: toml::Table = serde_json::from_value(kwargs).expect("kwargs as a table");
    table.insert("temperature".into(), toml::Value::Float(2.0));
    table
}

fn micro_config() -> VptConfig {
    let kwargs = json(&fixtures().join("hf/config.json"))["policy_kwargs"].clone();
    VptConfig {
        temperature: 2.0,
        ..serde_json::from_value(kwargs).expect("a VptConfig")
    }
}

fn load(settings: &toml::Table, weights: &Path) -> Result<(VptPolicy, VptConfig), PretrainedError> {
    build_pretrained::<VptPolicy>(settings, Some(weights), &Device::flex())
}

/// `(buttons, camera, vpred)` of `policy` on forward.json's input from the initial memory.
fn forward(policy: &VptPolicy) -> [Vec<f32>; 3] {
    let input = &json(&fixtures().join("forward.json"))["input"]["image"];
    let data: Vec<f32> = common::floats(&input["data"]);
    let image = Tensor::<5>::from_data(TensorData::new(data, [1, 4, 16, 16, 3]), &policy.device());
    let memory = policy.initial_memory(1, &policy.device());
    let (out, _) = policy.forward_frames(image, memory);
    let values = |t: Tensor<4>| t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    [
        values(out.pi_logits.buttons),
        values(out.pi_logits.camera),
        out.vpred
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .unwrap(),
    ]
}

/// Asserts `policy` reproduces MineStudio's forward outputs (forward.json) within 1e-5.
fn assert_minestudio_forward(policy: &VptPolicy, what: &str) {
    let expected = &json(&fixtures().join("forward.json"))["output"];
    let got = forward(policy);
    for (name, (got, want)) in [
        (
            "buttons",
            (&got[0], &expected["pi_logits"]["buttons"]["data"]),
        ),
        (
            "camera",
            (&got[1], &expected["pi_logits"]["camera"]["data"]),
        ),
        ("vpred", (&got[2], &expected["vpred"]["data"])),
    ] {
        let want = common::floats(want);
        assert_eq!(got.len(), want.len(), "{what}: {name} length");
        let worst = got
            .iter()
            .zip(&want)
            .map(|(g, w)| (g - w).abs() / w.abs().max(1.0))
            .fold(0.0f32, f32::max);
        assert!(
            worst < 1e-5,
            "{what}: {name} differs from MineStudio by {worst:e}"
        );
    }
}

#[test]
fn hub_directory_brings_its_config_and_matches_minestudio() {
    let dir = fixtures().join("hf");
    let source = WeightsSource::locate(&dir).unwrap();
    assert_eq!(source.format, WeightsFormat::Hub);
    let (policy, config) = load(&toml::Table::new(), &dir).unwrap();
    assert_eq!(
        config,
        micro_config(),
        "policy_kwargs and temperature 2.0 from config.json"
    );
    assert_minestudio_forward(&policy, "hf/");
    // The weights file alone is a Hub checkpoint too (its config.json is beside it).
    let (policy, _) = load(&toml::Table::new(), &dir.join("model.safetensors")).unwrap();
    assert_minestudio_forward(&policy, "hf/model.safetensors");
}

#[test]
fn openai_pair_loads_from_either_file() {
    for file in ["openai/micro.model", "openai/micro.weights"] {
        let path = fixtures().join(file);
        assert_eq!(
            WeightsSource::locate(&path).unwrap().format,
            WeightsFormat::OpenAi
        );
        let (policy, config) = load(&toml::Table::new(), &path).unwrap();
        // `args`, not the decoy `local_args` (hidsize 16); the int temperature 2 as 2.0.
        assert_eq!(config, micro_config(), "{file}");
        assert_minestudio_forward(&policy, file);
    }
}

/// Little-endian float32 bytes as floats.
fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
        .collect()
}

/// The weights MineStudio's training ended with: `raw.<name>` or `ema.<name>`.
fn expected_weights(which: &str) -> BTreeMap<String, Vec<f32>> {
    let tensors = read_state_dict(&fixtures().join("lightning/expected.safetensors")).unwrap();
    tensors
        .into_iter()
        .filter_map(|(name, tensor)| {
            let name = name.strip_prefix(&format!("{which}."))?.to_owned();
            Some((name, floats(&tensor.to_bytes().unwrap())))
        })
        .collect()
}

/// The policy's weights under PyTorch names, PyTorch layout.
fn weights_of(policy: &VptPolicy) -> BTreeMap<String, Vec<f32>> {
    mine_runtime::policies::torch_names::torch_state_dict(policy, &[])
        .into_iter()
        .map(|t| (t.name, floats(&t.bytes)))
        .collect()
}

#[test]
fn lightning_checkpoints_load_raw_or_ema_weights() {
    for (file, which) in [
        ("lightning/weights/weight-epoch=0-step=2.ckpt", "raw"),
        ("lightning/weights/weight-epoch=0-step=2-EMA.ckpt", "ema"),
        ("lightning/checkpoints/ckpt-epoch=0-step=2.ckpt", "raw"),
        ("lightning/checkpoints/ckpt-epoch=0-step=2-EMA.ckpt", "ema"),
    ] {
        let path = fixtures().join(file);
        assert_eq!(
            WeightsSource::locate(&path).unwrap().format,
            WeightsFormat::Lightning
        );
        // MineStudio's VPT script records no policy_kwargs: the network comes from [policy].
        let (policy, config) = load(&micro_settings(), &path).unwrap();
        assert_eq!(config, micro_config());
        let expected = expected_weights(which);
        let loaded = weights_of(&policy);
        assert_eq!(loaded.len(), expected.len(), "{file}: tensor count");
        for (name, values) in &expected {
            assert_eq!(
                &loaded[name], values,
                "{file}: {name} must be MineStudio's {which} weights"
            );
        }
    }
    // Without [policy] there is nothing to build the network from.
    let error = load(
        &toml::Table::new(),
        &fixtures().join("lightning/weights/weight-epoch=0-step=2.ckpt"),
    )
    .unwrap_err()
    .to_string();
    assert!(error.contains("missing field"), "{error}");
}

#[test]
fn export_reads_back_identically_and_matches_minestudio_layout() {
    let (policy, _) = load(&toml::Table::new(), &fixtures().join("hf")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("export");
    policy.export_minestudio(&dir).unwrap();
    // The same tensors as save_pretrained wrote: names, shapes (the 0-d debiasing term) and
    // bytes.
    let ours = read_state_dict(&dir.join("model.safetensors")).unwrap();
    let theirs = read_state_dict(&fixtures().join("hf/model.safetensors")).unwrap();
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        theirs.keys().collect::<Vec<_>>()
    );
    for (name, tensor) in &theirs {
        let mine = &ours[name];
        assert_eq!(mine.shape, tensor.shape, "{name}");
        assert_eq!(
            mine.to_bytes().unwrap()[..],
            tensor.to_bytes().unwrap()[..],
            "{name}"
        );
    }
    // config.json: what VPTPolicy(**config) takes, with the same values as save_pretrained's.
    let config = json(&dir.join("config.json"));
    let reference = json(&fixtures().join("hf/config.json"));
    assert_eq!(config["temperature"], reference["temperature"]);
    assert_eq!(config["action_space"], Value::Null);
    assert_eq!(
        config.as_object().unwrap().len(),
        3,
        "only constructor arguments: {config}"
    );
    for (key, value) in reference["policy_kwargs"].as_object().unwrap() {
        assert_eq!(&config["policy_kwargs"][key], value, "policy_kwargs.{key}");
    }
    // Read back: the same network, the same outputs, bit for bit.
    let (again, config) = load(&toml::Table::new(), &dir).unwrap();
    assert_eq!(&config, policy.network());
    assert_eq!(forward(&again), forward(&policy));
}

#[test]
fn checkpoint_config_wins_and_contradictions_are_refused() {
    let dir = fixtures().join("hf");
    let mut agreeing = toml::Table::new();
    agreeing.insert("hidsize".into(), toml::Value::Integer(8));
    agreeing.insert(
        "img_shape".into(),
        toml::Value::try_from([16, 16, 3]).unwrap(),
    );
    assert!(load(&agreeing, &dir).is_ok());

    let mut conflicting = toml::Table::new();
    conflicting.insert("hidsize".into(), toml::Value::Integer(256));
    let error = load(&conflicting, &dir).unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, PretrainedError::Conflict { .. }), "{text}");
    assert!(
        text.contains("policy.hidsize = 256")
            && text.contains("hidsize = 8")
            && text.contains("config.json"),
        "{text}"
    );
}

/// A copy of the Hub directory with `config.json` replaced.
fn hub_with_config(dir: &Path, config: Value) -> PathBuf {
    let hub = dir.join("hub");
    std::fs::create_dir_all(&hub).unwrap();
    std::fs::copy(
        fixtures().join("hf/model.safetensors"),
        hub.join("model.safetensors"),
    )
    .unwrap();
    std::fs::write(hub.join("config.json"), config.to_string()).unwrap();
    hub
}

#[test]
fn other_policies_and_broken_files_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    // MineStudio's GROOT Hub config (its constructor's arguments, defaults included).
    let groot = serde_json::json!({"backbone": "efficientnet_b0.ra_in1k", "freeze_backbone": true,
        "hiddim": 1024, "video_encoder_kwargs": {}, "image_encoder_kwargs": {},
        "decoder_kwargs": {}, "action_space": null});
    let error = load(&toml::Table::new(), &hub_with_config(tmp.path(), groot)).unwrap_err();
    assert!(
        matches!(&error, PretrainedError::WrongPolicy { found, .. } if found == "groot"),
        "{error}"
    );
    // STEVE-1 has policy_kwargs too, but is not a VPT.
    let steve = serde_json::json!({"policy_kwargs": {}, "mineclip_kwargs": {}, "prior_kwargs": {}});
    let error = load(&toml::Table::new(), &hub_with_config(tmp.path(), steve)).unwrap_err();
    assert!(error.to_string().contains("`steve-1`"), "{error}");

    // A .model without its .weights.
    let lonely = tmp.path().join("lonely.model");
    std::fs::copy(fixtures().join("openai/micro.model"), &lonely).unwrap();
    let error = load(&toml::Table::new(), &lonely).unwrap_err().to_string();
    assert!(error.contains("lonely.weights"), "{error}");

    // Weights of another size (a bare state dict: the network comes from [policy]): every
    // mismatch is named, with the config fields to check.
    let bare = tmp.path().join("bare.weights");
    std::fs::copy(fixtures().join("openai/micro.weights"), &bare).unwrap();
    let mut other = micro_settings();
    other.insert("hidsize".into(), toml::Value::Integer(16));
    let error = load(&other, &bare).unwrap_err().to_string();
    assert!(
        error.contains("mis-shaped") && error.contains("hidsize"),
        "{error}"
    );

    // Neither a checkpoint nor a directory of one.
    let text = tmp.path().join("notes.txt");
    std::fs::write(&text, "hello").unwrap();
    let error = load(&toml::Table::new(), &text).unwrap_err().to_string();
    assert!(
        error.contains("notes.txt") && error.contains("not a checkpoint"),
        "{error}"
    );
    let error = load(&toml::Table::new(), &tmp.path().join("absent"))
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not exist"), "{error}");
}
