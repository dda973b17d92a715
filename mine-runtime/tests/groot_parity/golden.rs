//! The GROOT golden runs (`tests/golden/tiny_groot_*` and `tiny_groot_efficientnet_*`, written
//! by `examples/reference/groot_rocket_train.py`): their configuration, weights, memories and
//! noise.

use super::*;

/// One of the two golden runs of MineStudio's `GrootPolicy`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Run {
    /// A CLIP ViT-B/32 shrunk to 16x16 images (MineStudio's GROOT tutorial backbone).
    Vit,
    /// EfficientNet-B0 at width 0.125 and depth 0.5 on 33x33 images (`GrootPolicy`'s default
    /// backbone).
    EfficientNet,
}

impl Run {
    /// The files' common prefix.
    fn prefix(self) -> &'static str {
        match self {
            Self::Vit => "tiny_groot",
            Self::EfficientNet => "tiny_groot_efficientnet",
        }
    }

    /// Our preset that is the golden network.
    pub(super) fn preset(self) -> MineStudioGrootConfig {
        match self {
            Self::Vit => MineStudioGrootConfig::tiny(),
            Self::EfficientNet => MineStudioGrootConfig::tiny_efficientnet(),
        }
    }

    /// The tolerance of one forward. EfficientNet's float32 features are themselves 2.4e-6
    /// (relative) from their float64 values in MineStudio (measured in its environment) and
    /// 3.7e-6 from MineStudio's here, as ROCKET-1's; the decoder amplifies that about five
    /// times, as it does the ViT's 3e-7.
    pub(super) fn forward_tolerance(self) -> f64 {
        match self {
            Self::Vit => 1e-5,
            Self::EfficientNet => 5e-5,
        }
    }

    /// The file `{prefix}_{suffix}` of `tests/golden/`.
    fn file(self, suffix: &str) -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden"))
            .join(format!("{}_{suffix}", self.prefix()))
    }

    /// The run's JSON record.
    pub(super) fn golden(self) -> Value {
        let path = self.file("train.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("golden JSON parses")
    }

    /// The golden state dict at initialisation (`"weights"`) or after the 3 steps
    /// (`"after3"`), as `f64`s by name.
    pub(super) fn state(self, which: &str) -> BTreeMap<String, Vec<f64>> {
        read_state_dict(&self.file(&format!("{which}.safetensors")))
            .expect("golden safetensors read")
            .into_iter()
            .map(|(name, tensor)| {
                let data = bridge::to_data(&tensor).unwrap();
                (name, data.convert::<f64>().try_to_vec::<f64>().unwrap())
            })
            .collect()
    }

    /// The golden policy on `device`, its initial weights loaded through `policy.weights` (a
    /// bare state dict: the network comes from the `[policy]` settings).
    pub(super) fn load_policy(self, device: &Device) -> GrootPolicy {
        let config = GrootConfig::MineStudio(golden_config(&self.golden()));
        let settings = toml::Table::try_from(&config).expect("the config as [policy] settings");
        let weights = self.file("weights.safetensors");
        let (policy, network) = build_pretrained::<GrootPolicy>(&settings, Some(&weights), device)
            .expect("the golden weights load");
        assert_eq!(network, config);
        policy
    }
}

/// `GrootPolicy`'s arguments as the golden run passed them, with the backbone's name
/// completed by the sizes its stand-in for `timm.create_model` built (`backbone.built_with`)
/// and the frame size (`img_size`, when the stand-in did not take it), and every dropout at 0
/// (as the run set them after construction).
pub(super) fn golden_config(golden: &Value) -> MineStudioGrootConfig {
    let mut kwargs = golden["policy_kwargs"].clone();
    let mut backbone = golden["backbone"]["built_with"].clone();
    let built = backbone.as_object_mut().expect("built_with is an object");
    built.remove("pretrained");
    built.insert("name".into(), kwargs["backbone"].clone());
    if !built.contains_key("img_size") {
        built.insert("img_size".into(), golden["image_size"][0].clone());
    }
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

/// Whether a state-dict key is a BatchNorm buffer (PyTorch buffers, not parameters: neither
/// counted by `parameters()` nor frozen; a frozen EfficientNet still updates them).
pub(super) fn is_batch_norm_buffer(name: &str) -> bool {
    [".running_mean", ".running_var", ".num_batches_tracked"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
        && name.starts_with("backbone.")
}
