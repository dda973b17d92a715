//! GROOT configuration: presets, TOML, and errors that name the offending field.

use std::time::Instant;

use burn::tensor::{Device, Distribution, Tensor};
use mine_dsl::prelude::*;
use mine_runtime::policies::groot::{
    BackboneConfig, GrootConfigError, GrootPolicy, ImpalaBackboneConfig, LatentMode,
    ScratchGrootConfig, VitConfig,
};

fn field_of(config: &ScratchGrootConfig) -> &'static str {
    match config.validate() {
        Err(GrootConfigError::InvalidField { field, .. }) => field,
        Ok(()) => panic!("config should be rejected: {config:?}"),
    }
}

#[test]
fn presets_are_valid() {
    for config in [
        ScratchGrootConfig::tiny(),
        ScratchGrootConfig::small_cpu(),
        ScratchGrootConfig::minestudio(),
        ScratchGrootConfig::default(),
    ] {
        config.validate().unwrap();
    }
    let ms = ScratchGrootConfig::minestudio();
    assert_eq!(ms.token_grid(), [7, 7], "224 / 32");
    assert_eq!((ms.decoder.timesteps, ms.decoder.mem_len), (128, 128));
}

#[test]
fn config_round_trips_through_toml_and_rejects_unknown_fields() {
    let config = ScratchGrootConfig::small_cpu();
    let text = toml::to_string(&config).unwrap();
    let parsed: ScratchGrootConfig = toml::from_str(&text).unwrap();
    assert_eq!(parsed, config);

    let parsed: ScratchGrootConfig = toml::from_str(
        r#"
        img_shape = [32, 32, 3]
        hiddim = 64
        latent_mode = "mean"
        seed = 9
        backbone = { kind = "vit", patch_size = 8, width = 32, layers = 1, heads = 4 }
        [decoder]
        layers = 1
        heads = 4
        timesteps = 8
        mem_len = 8
    "#,
    )
    .unwrap();
    parsed.validate().unwrap();
    assert_eq!(parsed.latent_mode, LatentMode::Mean);
    assert_eq!(
        parsed.backbone,
        BackboneConfig::Vit(VitConfig {
            patch_size: 8,
            width: 32,
            layers: 1,
            heads: 4,
            mlp_ratio: 4,
        })
    );
    assert_eq!(
        parsed.fuser.heads, 8,
        "omitted sections keep their defaults"
    );

    for (text, field) in [
        ("hidim = 3", "hidim"),
        ("[decoder]\nmemlen = 3", "memlen"),
        ("backbone = { kind = \"vit\", patch = 3 }", "patch"),
        ("backbone = { kind = \"resnet\" }", "resnet"),
        ("latent_mode = \"always\"", "always"),
    ] {
        let err = toml::from_str::<ScratchGrootConfig>(text)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{text:?}: {err}");
    }
}

#[test]
fn invalid_fields_are_named() {
    let tiny = ScratchGrootConfig::tiny;
    let cases: Vec<(ScratchGrootConfig, &str)> = vec![
        (
            ScratchGrootConfig {
                img_shape: [16, 0, 3],
                ..tiny()
            },
            "img_shape",
        ),
        (
            ScratchGrootConfig {
                hiddim: 0,
                ..tiny()
            },
            "hiddim",
        ),
        (
            ScratchGrootConfig {
                hiddim: 33,
                ..tiny()
            },
            "video_encoder.heads",
        ),
        (
            ScratchGrootConfig {
                backbone: BackboneConfig::Vit(VitConfig {
                    patch_size: 5,
                    ..VitConfig::default()
                }),
                ..tiny()
            },
            "backbone.patch_size",
        ),
        (
            ScratchGrootConfig {
                backbone: BackboneConfig::Vit(VitConfig {
                    patch_size: 4,
                    width: 30,
                    heads: 4,
                    ..VitConfig::default()
                }),
                ..tiny()
            },
            "backbone.heads",
        ),
        (
            ScratchGrootConfig {
                backbone: BackboneConfig::Impala(ImpalaBackboneConfig {
                    chans: vec![],
                    group_norm_groups: None,
                }),
                ..tiny()
            },
            "backbone.chans",
        ),
        (
            ScratchGrootConfig {
                backbone: BackboneConfig::Impala(ImpalaBackboneConfig {
                    chans: vec![8, 12],
                    group_norm_groups: Some(8),
                }),
                ..tiny()
            },
            "backbone.group_norm_groups",
        ),
        (
            ScratchGrootConfig {
                pixel_mean: vec![0.5, 0.5],
                ..tiny()
            },
            "pixel_mean",
        ),
        (
            ScratchGrootConfig {
                pixel_std: vec![0.5, 0.0, 0.5],
                ..tiny()
            },
            "pixel_std",
        ),
        (
            {
                let mut c = tiny();
                c.decoder.heads = 3;
                c
            },
            "decoder.heads",
        ),
        (
            {
                let mut c = tiny();
                c.fuser.dropout = 1.0;
                c
            },
            "fuser.dropout",
        ),
        (
            {
                let mut c = tiny();
                c.decoder.mem_len = 0;
                c
            },
            "decoder.mem_len",
        ),
        (
            {
                let mut c = tiny();
                c.decoder.layers = 0;
                c
            },
            "decoder.layers",
        ),
        (
            ScratchGrootConfig {
                temperature: 0.0,
                ..tiny()
            },
            "temperature",
        ),
    ];
    for (config, field) in cases {
        assert_eq!(field_of(&config), field);
        let err = GrootPolicy::new(&config, &Device::flex()).unwrap_err();
        let message = err.to_string();
        assert!(message.contains(&format!("`{field}`")), "{message}");
    }
}

#[test]
fn small_cpu_policy_runs_a_window() {
    let config = ScratchGrootConfig::small_cpu();
    let device = Device::flex();
    let policy = GrootPolicy::new(&config, &device).unwrap();
    let [h, w, c] = config.img_shape;
    let t = config.decoder.timesteps;
    let image = Tensor::random([1, t, h, w, c], Distribution::Uniform(0.0, 255.0), &device);
    let batch = Batch {
        image: Some(image),
        ..Batch::default()
    };
    let start = Instant::now();
    let (latents, memory) = policy
        .forward(&batch, policy.initial_memory(1, &device))
        .unwrap();
    println!("small_cpu GROOT forward B=1 T={t}: {:?}", start.elapsed());
    assert_eq!(latents.vpred.dims(), [1, t, 1]);
    assert_eq!(latents.prior_dist.z.dims(), [1, config.hiddim]);
    assert_eq!(memory.layers.len(), 2);
}
