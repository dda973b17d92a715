//! The GROOT golden run (`tests/golden/tiny_groot_*`, written by
//! `examples/reference/groot_rocket_train.py`): its configuration, weights, memories and noise.

use super::*;

/// A file of `tests/golden/`.
pub(super) fn golden_file(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden")).join(name)
}

pub(super) fn golden() -> Value {
    let path = golden_file("tiny_groot_train.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("golden JSON parses")
}

/// `GrootPolicy`'s arguments as the golden run passed them, with the backbone's name
/// completed by the sizes its stand-in for `timm.create_model` built (`backbone.built_with`)
/// and every dropout at 0 (as the run set them after construction).
pub(super) fn golden_config(golden: &Value) -> MineStudioGrootConfig {
    let mut kwargs = golden["policy_kwargs"].clone();
    let mut backbone = golden["backbone"]["built_with"].clone();
    let built = backbone.as_object_mut().expect("built_with is an object");
    built.remove("pretrained");
    built.insert("name".into(), kwargs["backbone"].clone());
    kwargs["backbone"] = backbone;
    let mut config: MineStudioGrootConfig =
        serde_json::from_value(kwargs).expect("GrootPolicy's arguments parse");
    let zeroed = golden["dropout_set_to_zero"].as_array().unwrap().len();
    assert_eq!(
        zeroed, 32,
        "the golden run zeroed every dropout of its encoders and fuser"
    );
    config.video_encoder_kwargs.dropout = 0.0;
    config.image_encoder_kwargs.dropout = 0.0;
    config.fuser_dropout = 0.0;
    config
}

/// The golden policy on `device`, its initial weights loaded through `policy.weights` (a bare
/// state dict: the network comes from the `[policy]` settings).
pub(super) fn load_policy(device: &Device) -> GrootPolicy {
    let config = GrootConfig::MineStudio(golden_config(&golden()));
    let settings = toml::Table::try_from(&config).expect("the config as [policy] settings");
    let weights = golden_file("tiny_groot_weights.safetensors");
    let (policy, network) = build_pretrained::<GrootPolicy>(&settings, Some(&weights), device)
        .expect("the golden weights load");
    assert_eq!(network, config);
    policy
}

pub(super) fn memory_from_golden(list: &Value, device: &Device) -> GrootMemory {
    let list = list.as_array().expect("memory list");
    let layers = list
        .chunks(3)
        .map(|c| GrootLayerMemory {
            mask: boolean(&c[0]["values"], device),
            keys: float(&c[1]["values"], device),
            values: float(&c[2]["values"], device),
        })
        .collect();
    GrootMemory { layers, goal: None }
}

/// A GROOT memory as the blocks the shared comparisons take.
pub(super) fn blocks(memory: &GrootMemory) -> Vec<BlockRef<'_>> {
    memory
        .layers
        .iter()
        .map(|l| (&l.mask, &l.keys, &l.values))
        .collect()
}

/// One recorded noise draw, row-major.
pub(super) fn draw(value: &Value) -> Vec<f32> {
    flatten(value).0.into_iter().map(|x| x as f32).collect()
}

/// The step's recorded noise, posterior first (the order MineStudio's forward samples in).
pub(super) fn step_noise(step: &Value) -> [Vec<f32>; 2] {
    [draw(&step["eps_posterior"]), draw(&step["eps_prior"])]
}

/// The golden state dict of `file`, as `f64`s by name.
pub(super) fn golden_state(file: &str) -> BTreeMap<String, Vec<f64>> {
    read_state_dict(&golden_file(file))
        .expect("golden safetensors read")
        .into_iter()
        .map(|(name, tensor)| {
            let data = bridge::to_data(&tensor).unwrap();
            (name, data.convert::<f64>().try_to_vec::<f64>().unwrap())
        })
        .collect()
}
