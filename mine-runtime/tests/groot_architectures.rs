//! GROOT's two architectures in configuration files: MineStudio's vocabulary read as it is
//! (a Hub `config.json`, the tutorial's `model` section), ours as written before the
//! MineStudio architecture existed, the architecture written out explicitly, and errors that
//! name the field as the file spells it.

use mine_runtime::policies::groot::{
    GrootConfig, GrootConfigError, GrootPolicy, MineStudioGrootConfig, ScratchGrootConfig,
};
use mine_runtime::policies::timm::{TimmArchitecture, VitActivation};

fn field_of(config: &MineStudioGrootConfig) -> &'static str {
    match config.validate() {
        Err(GrootConfigError::InvalidField { field, .. }) => field,
        Ok(()) => panic!("config should be rejected: {config:?}"),
    }
}

#[test]
fn presets_are_valid_and_sized_by_their_backbone() {
    for config in [
        MineStudioGrootConfig::tutorial(),
        MineStudioGrootConfig::tiny(),
        MineStudioGrootConfig::tiny_efficientnet(),
        MineStudioGrootConfig::small_cpu(),
        MineStudioGrootConfig::default(),
    ] {
        config.validate().unwrap();
    }
    let tiny = GrootConfig::from(MineStudioGrootConfig::tiny_efficientnet());
    assert_eq!(tiny.img_shape(), [33, 33, 3]);
    assert_eq!(tiny.token_grid(), [2, 2], "33 -> 17 -> 9 -> 5 -> 3 -> 2");
    assert_eq!(tiny.backbone_channels(), 40, "timm's feature_info[-1]");
    assert_eq!(tiny.pixel_normalization().0, [0.485, 0.456, 0.406]);
    let tutorial = GrootConfig::from(MineStudioGrootConfig::tutorial());
    assert_eq!(tutorial.img_shape(), [224, 224, 3]);
    assert_eq!(tutorial.token_grid(), [7, 7], "ViT-B/32 on 224x224");
    assert_eq!(tutorial.backbone_channels(), 768);
    assert_eq!(
        (tutorial.fuser().layers, tutorial.fuser().heads),
        (2, 8),
        "MineStudio's fuser"
    );
    let small = GrootConfig::from(MineStudioGrootConfig::small_cpu());
    assert_eq!(
        (small.img_shape(), small.token_grid()),
        ([128, 128, 3], [8, 8])
    );
    // An empty table is our architecture at MineStudio's sizes, as before.
    let empty: GrootConfig = toml::from_str("").unwrap();
    assert_eq!(empty, GrootConfig::from(ScratchGrootConfig::minestudio()));
}

#[test]
fn the_vocabulary_decides_the_architecture_when_none_is_written() {
    // The [policy] of examples/configs/groot.toml before the MineStudio architecture.
    let ours: GrootConfig = toml::from_str(
        r#"
        img_shape = [128, 128, 3]
        hiddim = 256
        freeze_backbone = false
        latent_mode = "auto"
        [backbone]
        kind = "vit"
        patch_size = 16
        width = 128
        layers = 2
        heads = 4
        mlp_ratio = 4
        [decoder]
        layers = 2
        heads = 4
        timesteps = 16
        mem_len = 16
        "#,
    )
    .unwrap();
    assert!(matches!(ours, GrootConfig::Scratch(_)));
    // MineStudio's GROOT tutorial `model` section (groot_config.yaml) as TOML.
    let theirs: GrootConfig = toml::from_str(
        r#"
        backbone = "timm/vit_base_patch32_clip_224.openai"
        hiddim = 1024
        freeze_backbone = true
        video_encoder_kwargs = { num_spatial_layers = 2, num_temporal_layers = 4, num_heads = 8, dropout = 0.1 }
        image_encoder_kwargs = { num_layers = 2, num_heads = 8, dropout = 0.1 }
        decoder_kwargs = { num_layers = 4, timesteps = 128, mem_len = 128 }
        "#,
    )
    .unwrap();
    assert_eq!(theirs, GrootConfig::from(MineStudioGrootConfig::tutorial()));
    let GrootConfig::MineStudio(config) = &theirs else {
        unreachable!()
    };
    let Ok(TimmArchitecture::Vit(vit)) = config.backbone.resolve() else {
        panic!("the tutorial's backbone is a ViT")
    };
    assert_eq!(vit.act_layer, VitActivation::Gelu);
}

#[test]
fn both_architectures_round_trip_with_the_architecture_written() {
    for config in [
        GrootConfig::from(MineStudioGrootConfig::small_cpu()),
        GrootConfig::from(MineStudioGrootConfig::tutorial()),
        GrootConfig::from(MineStudioGrootConfig::tiny_efficientnet()),
        GrootConfig::from(MineStudioGrootConfig::default()),
        GrootConfig::from(ScratchGrootConfig::tiny()),
    ] {
        let text = toml::to_string(&config).unwrap();
        assert!(
            text.starts_with(&format!("architecture = \"{}\"", config.architecture())),
            "{text}"
        );
        assert_eq!(
            toml::from_str::<GrootConfig>(&text).unwrap(),
            config,
            "{text}"
        );
        let json = serde_json::to_string(&config).unwrap();
        assert_eq!(serde_json::from_str::<GrootConfig>(&json).unwrap(), config);
    }
    // A timm model at its registered size is written as MineStudio writes it: the name.
    let text = toml::to_string(&GrootConfig::from(MineStudioGrootConfig::tutorial())).unwrap();
    assert!(
        text.contains("backbone = \"timm/vit_base_patch32_clip_224.openai\""),
        "{text}"
    );
}

#[test]
fn mistakes_are_named_as_the_file_spells_them() {
    let parse = |text: &str| toml::from_str::<GrootConfig>(text).unwrap_err().to_string();
    let error = parse("architecture = 'minestudio'\nimg_shape = [16, 16, 3]");
    assert!(
        error.contains("`img_shape` is a setting of architecture = \"scratch\""),
        "{error}"
    );
    let error = parse("architecture = 'scratch'\ndecoder_kwargs = { num_layers = 2 }");
    assert!(
        error.contains("`decoder_kwargs` is a setting of architecture = \"minestudio\""),
        "{error}"
    );
    let error = parse("architecture = 'timm'");
    assert!(
        error.contains("\"minestudio\"") && error.contains("\"scratch\""),
        "{error}"
    );
    let error = parse("backbone = { name = 'vit_base_patch32_clip_224', patch = 4 }");
    assert!(error.contains("unknown field `patch`"), "{error}");

    let tiny = MineStudioGrootConfig::tiny;
    let mut config = tiny();
    config.hiddim = 12;
    assert_eq!(
        field_of(&config),
        "hiddim",
        "MineStudio's fuser has 8 heads"
    );
    let mut config = tiny();
    config.video_encoder_kwargs.num_heads = 3;
    assert_eq!(field_of(&config), "video_encoder_kwargs.num_heads");
    let mut config = tiny();
    config.decoder_kwargs.mem_len = 0;
    assert_eq!(field_of(&config), "decoder_kwargs.mem_len");
    let mut config = tiny();
    config.fuser_dropout = 1.0;
    assert_eq!(field_of(&config), "fuser_dropout");
    let mut config = tiny();
    config.backbone.patch_size = Some(5);
    assert_eq!(field_of(&config), "backbone.patch_size");
    let mut config = tiny();
    config.action_space = Some(serde_json::json!({"camera": [121]}));
    assert_eq!(field_of(&config), "action_space");
    let mut config = tiny();
    config.backbone.name = "resnet50.a1_in1k".into();
    let error = config.validate().unwrap_err().to_string();
    assert!(
        error.contains("`resnet50.a1_in1k`")
            && error.contains("vit_base_patch32_clip_224")
            && error.contains("efficientnet_b0"),
        "{error}"
    );
    // A ViT's arguments on EfficientNet, and a bad multiplier.
    let mut effnet = MineStudioGrootConfig::tiny_efficientnet();
    effnet.backbone.patch_size = Some(4);
    let error = effnet.validate().unwrap_err().to_string();
    assert!(
        error.contains("takes no `patch_size`") && error.contains("channel_multiplier"),
        "{error}"
    );
    let mut effnet = MineStudioGrootConfig::tiny_efficientnet();
    effnet.backbone.depth_multiplier = Some(0.0);
    assert_eq!(field_of(&effnet), "backbone.depth_multiplier");
    let mut effnet = MineStudioGrootConfig::tiny_efficientnet();
    effnet.backbone.name = "efficientnet_b0.in22k".into();
    let error = effnet.validate().unwrap_err().to_string();
    assert!(error.contains("ra4_e3600_r224_in1k"), "{error}");
    let error = GrootPolicy::new(&config, &burn::tensor::Device::flex()).unwrap_err();
    assert!(matches!(
        error,
        GrootConfigError::InvalidField {
            field: "backbone",
            ..
        }
    ));
}
