//! What the training-step benchmark runs on: the backend, the VPT size and the precision, and
//! the batch configurations that follow from them.
//!
//! - `--backend flex` (default): the small VPT in f32 at B=2 T=16 mem 32 and B=4 T=32 mem 64,
//!   against MineStudio on PyTorch's CPU.
//! - `--backend cuda`: VPT 2x (the foundation size: ImpalaCNN width 8, hidden 2048, 4 blocks,
//!   window 128, memory 256) in bf16-mixed at batch 8, MineStudio's fine-tuning recipe per GPU
//!   (`vpt_raw_config.yaml`: `batch_size: 8`, `win_len: 128`, `precision: "bf16"`), against
//!   MineStudio on the same GPU under `torch.autocast(dtype=torch.bfloat16)`.
//! - `--backend wgpu`: like `cuda` but f32 (burn's WGSL shaders have no bf16) and without a
//!   reference (PyTorch has no wgpu); `--model tiny` runs on a software Vulkan device.
//!
//! - `--model groot` (flex): MineStudio's GROOT with its default backbone, EfficientNet-B0, on
//!   128x128 frames at B=2 T=16 ([`Setup::groot_at`]), against MineStudio's `GrootPolicy`.
//!
//! `--model`, `--precision` and `--batch` override the backend's defaults.

use burn::tensor::Device;
use mine_runtime::policies::groot::{GrootConfig, MineStudioGrootConfig};
use mine_runtime::policies::timm::TimmBackboneConfig;
use mine_runtime::policies::vpt::VptConfig;
use mine_runtime::trainer::backend::{Backend, Precision};

type Error = Box<dyn std::error::Error>;

/// The flex benchmark's configurations: batch, window, attention memory.
const SMALL_CONFIGS: [(usize, usize, usize); 2] = [(2, 16, 32), (4, 32, 64)];

/// The models the benchmark knows: the VPT sizes, and GROOT.
const MODELS: &str = "tiny, small, 1x, 2x, 3x, groot";

/// GROOT's configuration on flex: B=2 T=16, decoder memory 16.
const GROOT_CONFIG: (usize, usize, usize) = (2, 16, 16);

/// Backend, model and precision of a benchmark run.
#[derive(Clone, Debug, PartialEq)]
pub struct Setup {
    /// Where our side trains.
    pub backend: Backend,
    /// The model's name (one of [`MODELS`]).
    pub model: String,
    /// The float precision of both sides.
    pub precision: Precision,
    /// The batch size asked for (see [`batch`](Self::batch)); for the small VPT on flex, the
    /// one of [`SMALL_CONFIGS`] to run (both when `None`).
    pub only_batch: Option<usize>,
}

impl Setup {
    /// The setup of `backend` with `model`, `precision` and `batch` where given.
    pub fn new(
        backend: Backend,
        model: Option<String>,
        precision: Option<Precision>,
        batch: Option<usize>,
    ) -> Result<Self, Error> {
        backend.check()?;
        let gpu = backend != Backend::Flex;
        let setup = Self {
            backend,
            model: model.unwrap_or_else(|| if gpu { "2x" } else { "small" }.to_owned()),
            precision: precision.unwrap_or(if backend == Backend::Cuda {
                Precision::Bf16Mixed
            } else {
                Precision::F32
            }),
            only_batch: batch.map(|b| b.max(1)),
        };
        setup.configs()?;
        if setup.precision == Precision::Bf16Pure {
            return Err("--precision bf16-pure: the benchmark compares f32 or bf16-mixed".into());
        }
        Ok(setup)
    }

    /// The VPT configuration of the model, at its own window and memory.
    pub fn vpt(&self) -> Result<VptConfig, Error> {
        Ok(match self.model.as_str() {
            "tiny" => VptConfig::tiny(),
            "small" => VptConfig::small_cpu(),
            "1x" => VptConfig::foundation_1x(),
            "2x" => VptConfig::foundation_2x(),
            "3x" => VptConfig::foundation_3x(),
            "groot" => return Err("--model groot is not a VPT".into()),
            other => return Err(format!("--model {other}: use one of {MODELS}").into()),
        })
    }

    /// Whether the model is GROOT.
    pub fn is_groot(&self) -> bool {
        self.model == "groot"
    }

    /// GROOT as MineStudio's `GrootPolicy` builds it by default, with timm's EfficientNet-B0
    /// (`efficientnet_b0.ra_in1k`), on 128x128 frames at the groot example's sizes (hidden
    /// 256, one spatial and one temporal posterior layer, one prior layer, 2 decoder blocks),
    /// window `t` and decoder memory `memory`.
    pub fn groot_at(&self, t: usize, memory: usize) -> GrootConfig {
        let mut groot = MineStudioGrootConfig::small_cpu();
        groot.backbone = TimmBackboneConfig {
            img_size: Some(128),
            ..TimmBackboneConfig::named("efficientnet_b0.ra_in1k")
        };
        groot.decoder_kwargs.timesteps = t;
        groot.decoder_kwargs.mem_len = memory;
        GrootConfig::from(groot)
    }

    /// The VPT configuration at window `t` and attention memory `memory`.
    pub fn vpt_at(&self, t: usize, memory: usize) -> Result<VptConfig, Error> {
        Ok(VptConfig {
            timesteps: t,
            attention_memory_size: memory,
            ..self.vpt()?
        })
    }

    /// The batch size: the one asked for, else 8 on a GPU and 2 on the CPU.
    pub fn batch(&self) -> usize {
        let gpu = self.backend != Backend::Flex;
        self.only_batch.unwrap_or(if gpu { 8 } else { 2 })
    }

    /// The configurations to time: batch, window, attention memory.
    pub fn configs(&self) -> Result<Vec<(usize, usize, usize)>, Error> {
        if self.is_groot() {
            if self.backend != Backend::Flex {
                return Err("--model groot runs on flex (the CPU)".into());
            }
            let (b, t, m) = GROOT_CONFIG;
            return Ok(vec![(self.only_batch.unwrap_or(b), t, m)]);
        }
        if self.backend == Backend::Flex && self.model == "small" {
            let configs: Vec<_> = SMALL_CONFIGS
                .into_iter()
                .filter(|(b, _, _)| self.only_batch.is_none_or(|only| only == *b))
                .collect();
            if configs.is_empty() {
                return Err(format!(
                    "--batch {}: the small VPT on flex runs B=2 T=16 and B=4 T=32; pass 2 or 4, \
                     or none for both",
                    self.batch()
                )
                .into());
            }
            return Ok(configs);
        }
        let vpt = self.vpt()?;
        Ok(vec![(
            self.batch(),
            vpt.timesteps,
            vpt.attention_memory_size,
        )])
    }

    /// Our training device (with autodiff), set up for the precision.
    pub fn device(&self) -> Result<Device, Error> {
        Ok(self.backend.device(0, self.precision)?.autodiff())
    }

    /// The device PyTorch runs the reference on: the same GPU for `cuda`, the CPU for `flex`.
    pub fn reference_device(&self) -> Result<&'static str, Error> {
        match self.backend {
            Backend::Flex => Ok("cpu"),
            Backend::Cuda => Ok("cuda"),
            Backend::Wgpu => Err(
                "--reference with --backend wgpu: PyTorch has no wgpu device; \
                 compare on the same GPU with --backend cuda, or on the CPU with --backend flex"
                    .into(),
            ),
        }
    }

    /// The command-line flags that recreate this setup in a step server.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--backend".into(),
            self.backend.to_string(),
            "--model".into(),
            self.model.clone(),
            "--precision".into(),
            self.precision.to_string(),
            "--batch".into(),
            self.batch().to_string(),
        ]
    }

    /// One line describing the setup, for the report.
    pub fn describe(&self) -> Result<String, Error> {
        if self.is_groot() {
            return Ok(format!(
                "GROOT (MineStudio's GrootPolicy with EfficientNet-B0, 128x128, hidden 256, 2 \
                 decoder blocks) on {}, {}",
                self.backend, self.precision
            ));
        }
        let vpt = self.vpt()?;
        let [h, w, _] = vpt.img_shape;
        Ok(format!(
            "VPT {} ({h}x{w}, ImpalaCNN width {}, hidden {}, {} heads, {} blocks) on {}, {}",
            self.model,
            vpt.impala_width,
            vpt.hidsize,
            vpt.attention_heads,
            vpt.n_recurrence_layers,
            self.backend,
            self.precision
        ))
    }
}
