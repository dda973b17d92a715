//! GROOT through `policy.weights`: this program's own checkpoints. MineStudio's `GrootPolicy`
//! is another architecture (a timm backbone and its own module names), so its checkpoints are
//! recognised and refused with an explanation rather than half-loaded.

use std::path::Path;

use burn::tensor::Device;
use serde_json::Value;

use super::{GrootConfig, GrootPolicy};
use crate::policies::pretrained::{
    ExportError, PretrainedError, PretrainedPolicy, SourceConfig, WeightsFormat, WeightsSource,
    load_burnpack, minestudio_policy_name, run_policy_table,
};

/// Why MineStudio's GROOT checkpoints do not load here.
const ARCHITECTURE: &str = "MineStudio's GrootPolicy (a pretrained timm backbone, its own \
     parameter names) is not the architecture of this program's GROOT (a ViT or ImpalaCNN \
     backbone trained from scratch), so its checkpoints cannot be loaded into it; start from \
     scratch, or from this program's own GROOT weights (.bpk or a run directory)";

impl PretrainedPolicy for GrootPolicy {
    type Config = GrootConfig;

    const KIND: &'static str = "groot";

    fn build(config: &GrootConfig, device: &Device) -> Result<Self, PretrainedError> {
        GrootPolicy::new(config, device).map_err(|e| PretrainedError::Settings(e.to_string()))
    }

    fn network(&self) -> &GrootConfig {
        self.config()
    }

    fn frame_size(config: &GrootConfig) -> Option<[usize; 2]> {
        Some([config.img_shape[0], config.img_shape[1]])
    }

    fn network_config(config: &SourceConfig) -> Result<Option<GrootConfig>, PretrainedError> {
        let refuse = |path: &Path, found: Option<&str>| match found {
            Some(found) if found != Self::KIND => PretrainedError::WrongPolicy {
                path: path.to_owned(),
                found: found.into(),
                expected: Self::KIND,
            },
            _ => PretrainedError::Unsupported {
                path: path.to_owned(),
                message: ARCHITECTURE.into(),
            },
        };
        match config {
            SourceConfig::MineStudio { path, kwargs } => {
                Err(refuse(path, minestudio_policy_name(kwargs)))
            }
            SourceConfig::Lightning {
                path,
                hyper_parameters,
            } => {
                let model = hyper_parameters.get("model").and_then(Value::as_object);
                Err(refuse(path, model.and_then(minestudio_policy_name)))
            }
            SourceConfig::Run { path, policy } => {
                let table = run_policy_table(path, policy, Self::KIND)?;
                serde_json::from_value(Value::Object(table))
                    .map(Some)
                    .map_err(|e| PretrainedError::Config {
                        path: path.clone(),
                        message: format!("[policy] is not a GROOT configuration: {e}"),
                    })
            }
        }
    }

    fn load_pretrained(self, source: &WeightsSource) -> Result<Self, PretrainedError> {
        match source.format {
            WeightsFormat::Burnpack => load_burnpack(self, &source.weights),
            format => Err(PretrainedError::Unsupported {
                path: source.weights.clone(),
                message: format!("{} of GROOT: {ARCHITECTURE}", format.describe()),
            }),
        }
    }

    fn export_minestudio(&self, _dir: &Path) -> Result<(), ExportError> {
        Err(ExportError::Unsupported(format!(
            "GROOT cannot be exported for MineStudio: {ARCHITECTURE}"
        )))
    }
}
