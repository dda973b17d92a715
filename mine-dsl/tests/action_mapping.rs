//! VPT action space parity with MineStudio 1.1.6 (golden/vpt_action_mapping.json and
//! golden/vpt_action_tables.json), plus the tie rules and configuration checks.

mod common;

use common::golden;

use mine_dsl::action::{
    ActionError, ActionSpace, ActionSpaceConfig, AgentActionFrame, BUTTONS_ALL, EnvActionFrame,
    FactoredActionFrame, QuantizationScheme, button_index,
};
use serde_json::Value;

fn u32_of(v: &Value) -> u32 {
    v.as_u64().expect("unsigned integer") as u32
}

fn env_from_json(v: &Value) -> EnvActionFrame {
    let cam = v["camera"].as_array().expect("camera array");
    EnvActionFrame {
        camera: [cam[0].as_f64().unwrap(), cam[1].as_f64().unwrap()],
        buttons: std::array::from_fn(|i| v[BUTTONS_ALL[i]].as_i64().unwrap() != 0),
        ..EnvActionFrame::default()
    }
}

fn factored_from_json(v: &Value) -> FactoredActionFrame {
    let cam = v["camera"].as_array().expect("camera array");
    let buttons = v["buttons"].as_array().expect("buttons array");
    assert_eq!(buttons.len(), 20);
    FactoredActionFrame {
        camera: [u32_of(&cam[0]), u32_of(&cam[1])],
        buttons: std::array::from_fn(|i| buttons[i].as_i64().unwrap() != 0),
    }
}

fn agent_from_json(v: &Value) -> AgentActionFrame {
    AgentActionFrame {
        buttons: u32_of(&v["buttons"]),
        camera: u32_of(&v["camera"]),
    }
}

#[test]
fn constants_match_golden() {
    let g = golden("vpt_action_mapping.json");
    let order: Vec<&str> = g["buttons_all_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(order, BUTTONS_ALL);
    for (i, name) in BUTTONS_ALL.iter().enumerate() {
        assert_eq!(button_index(name), Some(i));
    }
    assert_eq!(button_index("none"), None);

    let space = ActionSpace::vpt();
    assert_eq!(
        space.n_buttons() as u64,
        g["n_button_combinations"].as_u64().unwrap()
    );
    assert_eq!(
        space.n_camera() as u64,
        g["n_camera_combinations"].as_u64().unwrap()
    );
    assert_eq!(space.null_camera_bin(), u32_of(&g["camera_null_bin"]));
    assert_eq!(space.null_camera(), u32_of(&g["camera_null_idx"]));
    assert_eq!(space.null_buttons(), u32_of(&g["null_buttons_idx"]));
    assert_eq!(space.inventory_buttons(), 8640);
    assert_eq!(
        *space.config(),
        ActionSpaceConfig {
            camera_binsize: u32_of(&g["action_transformer_kwargs"]["camera_binsize"]),
            camera_maxval: u32_of(&g["action_transformer_kwargs"]["camera_maxval"]),
            camera_mu: g["action_transformer_kwargs"]["camera_mu"]
                .as_f64()
                .unwrap(),
            quantization_scheme: QuantizationScheme::MuLaw,
            n_camera_bins: u32_of(&g["camera_hierarchical_mapping_kwargs"]["n_camera_bins"]),
        }
    );
    assert_eq!(
        g["action_transformer_kwargs"]["camera_quantization_scheme"],
        "mu_law"
    );
}

#[test]
fn bin_centres_match_golden() {
    let g = golden("vpt_action_mapping.json");
    let q = ActionSpace::vpt().quantizer();
    let centres = g["camera_bin_centers_deg"].as_array().unwrap();
    assert_eq!(centres.len(), 11);
    for (bin, c) in centres.iter().enumerate() {
        let expected = c.as_f64().unwrap();
        let got = q.undiscretize(bin as u32);
        assert!(ulps(got, expected) <= 4, "bin {bin}: {got} vs {expected}");
        // The centre of a bin quantizes back to that bin.
        assert_eq!(q.discretize(got), bin as u32);
    }
}

/// Distance in units in the last place between two finite doubles of the same sign.
fn ulps(a: f64, b: f64) -> u64 {
    if a == b {
        return 0;
    }
    assert_eq!(a.is_sign_negative(), b.is_sign_negative(), "{a} vs {b}");
    a.to_bits().abs_diff(b.to_bits())
}

/// Buttons exact; camera degrees within a few ulps: numpy's vectorized `power` returns one ulp
/// below the correctly rounded `pow` for bins 1, 2, 8 and 9, which becomes 1-2 ulps after the
/// following subtraction and scaling (e.g. 5.809483127522301 vs 5.809483127522302).
fn assert_env_close(got: &EnvActionFrame, expected: &EnvActionFrame, what: &str) {
    assert_eq!(got.buttons, expected.buttons, "{what}: buttons");
    for k in 0..2 {
        let (g, e) = (got.camera[k], expected.camera[k]);
        assert!(ulps(g, e) <= 4, "{what}: camera[{k}] {g} vs {e}");
    }
}

#[test]
fn env_cases_match_golden() {
    let g = golden("vpt_action_mapping.json");
    let space = ActionSpace::vpt();
    let cases = g["env_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 200);
    for (i, case) in cases.iter().enumerate() {
        let env = env_from_json(&case["env_action"]);
        let factored = space.env_to_factored(&env);
        assert_eq!(
            factored,
            factored_from_json(&case["factored"]),
            "case {i}: factored"
        );
        let agent = space.env_to_agent(&env);
        assert_eq!(agent, agent_from_json(&case["agent"]), "case {i}: agent");
        assert_eq!(space.factored_to_agent(&factored), Ok(agent), "case {i}");
        let inverse = space.agent_to_factored(agent).unwrap();
        assert_eq!(
            inverse,
            factored_from_json(&case["inverse_factored"]),
            "case {i}"
        );
        let back = space.agent_to_env(agent).unwrap();
        let expected = env_from_json(&case["inverse_env_action"]);
        assert_env_close(&back, &expected, &format!("case {i}: inverse env"));
    }
}

#[test]
fn agent_cases_match_golden() {
    let g = golden("vpt_action_mapping.json");
    let space = ActionSpace::vpt();
    let cases = g["agent_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 200);
    for (i, case) in cases.iter().enumerate() {
        let agent = agent_from_json(&case["agent"]);
        let factored = space.agent_to_factored(agent).unwrap();
        assert_eq!(factored, factored_from_json(&case["factored"]), "case {i}");
        let env = space.agent_to_env(agent).unwrap();
        assert_env_close(
            &env,
            &env_from_json(&case["env_action"]),
            &format!("case {i}"),
        );
    }
}

#[test]
fn tables_match_golden() {
    let g = golden("vpt_action_tables.json");
    let space = ActionSpace::vpt();
    let rows = g["button_idx_to_factored"].as_array().unwrap();
    let meta_off = g["button_idx_camera_meta_off"].as_array().unwrap();
    assert_eq!(rows.len(), space.n_buttons());
    assert_eq!(meta_off.len(), space.n_buttons());
    for (class, (row, off)) in rows.iter().zip(meta_off).enumerate() {
        let bits = row.as_str().unwrap();
        let expected: Vec<bool> = bits.chars().map(|c| c == '1').collect();
        let got = space.button_class_buttons(class as u32).unwrap();
        assert_eq!(got.as_slice(), expected.as_slice(), "button class {class}");
        assert_eq!(
            space.camera_meta_off(class as u32),
            Some(off.as_i64().unwrap() != 0),
            "meta off of class {class}"
        );
    }
    let cams = g["camera_idx_to_factored"].as_array().unwrap();
    assert_eq!(cams.len(), space.n_camera());
    for (class, bins) in cams.iter().enumerate() {
        let expected = [u32_of(&bins[0]), u32_of(&bins[1])];
        assert_eq!(space.camera_class_bins(class as u32), Some(expected));
    }
    assert_eq!(space.button_class_buttons(8641), None);
    assert_eq!(space.camera_class_bins(121), None);
}

/// Every valid agent action survives agent -> env -> agent, except that a camera class is
/// replaced by the null class when the button class has the camera meta action off, and the
/// inventory class always gets the null camera.
#[test]
fn agent_env_agent_round_trip() {
    let space = ActionSpace::vpt();
    for buttons in 0..space.n_buttons() as u32 {
        for camera in [0, 17, 59, 60, 61, 120] {
            let agent = AgentActionFrame { buttons, camera };
            let env = space.agent_to_env(agent).unwrap();
            let again = space.env_to_agent(&env);
            let meta_off = space.camera_meta_off(buttons).unwrap();
            let expected_camera = if meta_off || buttons == 8640 {
                60
            } else {
                camera
            };
            // With the meta action on but the null camera, the button class flips to "off".
            let expected_buttons = if !meta_off && camera == 60 && buttons != 8640 {
                buttons - 1
            } else {
                buttons
            };
            assert_eq!(
                again,
                AgentActionFrame {
                    buttons: expected_buttons,
                    camera: expected_camera
                },
                "{agent:?}"
            );
        }
    }
}

fn press(names: &[&str], camera: [f64; 2]) -> EnvActionFrame {
    let mut env = EnvActionFrame {
        camera,
        ..Default::default()
    };
    for n in names {
        env.buttons[button_index(n).unwrap()] = true;
    }
    env
}

fn pressed_names(buttons: [bool; 20]) -> Vec<&'static str> {
    (0..20)
        .filter(|&i| buttons[i])
        .map(|i| BUTTONS_ALL[i])
        .collect()
}

#[test]
fn tie_rules() {
    let space = ActionSpace::vpt();
    let round_trip = |names: &[&str]| {
        let agent = space.env_to_agent(&press(names, [0.0, 0.0]));
        pressed_names(space.agent_to_env(agent).unwrap().buttons)
    };
    assert_eq!(round_trip(&["forward", "back", "attack"]), ["attack"]);
    assert_eq!(round_trip(&["left", "right", "jump"]), ["jump"]);
    assert_eq!(round_trip(&["hotbar.2", "hotbar.7"]), ["hotbar.7"]);
    assert_eq!(round_trip(&["sprint", "sneak"]), ["sneak"]);
    assert_eq!(round_trip(&["forward", "left", "right"]), ["forward"]);
    // Inventory wins over everything and forces the null camera.
    let agent = space.env_to_agent(&press(&["inventory", "attack", "forward"], [10.0, -7.0]));
    assert_eq!(
        agent,
        AgentActionFrame {
            buttons: 8640,
            camera: 60
        }
    );
    // Nothing pressed, no movement: class 0 with the null camera.
    let agent = space.env_to_agent(&press(&[], [0.0, 0.0]));
    assert_eq!(
        agent,
        AgentActionFrame {
            buttons: 0,
            camera: 60
        }
    );
    // Tiny movements quantize to the null bin: camera meta stays off.
    let agent = space.env_to_agent(&press(&[], [0.2, -0.2]));
    assert_eq!(
        agent,
        AgentActionFrame {
            buttons: 0,
            camera: 60
        }
    );
    // Clipping and non-finite values.
    let q = space.quantizer();
    assert_eq!(q.discretize(180.0), 10);
    assert_eq!(q.discretize(f64::NEG_INFINITY), 0);
    assert_eq!(q.discretize(f64::NAN), 5);
}

#[test]
fn linear_scheme_rounds_half_to_even() {
    let space = ActionSpace::new(ActionSpaceConfig {
        quantization_scheme: QuantizationScheme::Linear,
        ..ActionSpaceConfig::vpt()
    })
    .unwrap();
    let q = space.quantizer();
    // (x + 10) / 2 = 5.5 -> 6, 6.5 -> 6, 4.5 -> 4, 0.5 -> 0.
    assert_eq!(q.discretize(1.0), 6);
    assert_eq!(q.discretize(3.0), 6);
    assert_eq!(q.discretize(-1.0), 4);
    assert_eq!(q.discretize(-9.0), 0);
    assert_eq!(q.discretize(1.01), 6);
    assert_eq!(q.discretize(3.01), 7);
    assert_eq!(q.undiscretize(7), 4.0);
    assert_eq!(q.undiscretize(0), -10.0);
}

#[test]
fn other_bin_counts() {
    let space = ActionSpace::new(ActionSpaceConfig {
        camera_binsize: 1,
        camera_maxval: 10,
        n_camera_bins: 21,
        ..ActionSpaceConfig::vpt()
    })
    .unwrap();
    assert_eq!((space.n_camera(), space.null_camera()), (441, 220));
    assert_eq!(space.n_buttons(), 8641);
    let agent = space.env_to_agent(&press(&["use"], [-10.0, 10.0]));
    assert_eq!(agent.camera, 20);
    let env = space.agent_to_env(agent).unwrap();
    assert_eq!(env.camera, [-10.0, 10.0]);
}

#[test]
fn out_of_range_classes_are_errors() {
    let space = ActionSpace::vpt();
    let err = space
        .agent_to_env(AgentActionFrame {
            buttons: 8641,
            camera: 0,
        })
        .unwrap_err();
    assert!(matches!(
        err,
        ActionError::ButtonClassOutOfRange {
            class: 8641,
            n_buttons: 8641
        }
    ));
    assert!(err.to_string().contains("0..8641"), "{err}");
    let err = space
        .agent_to_env(AgentActionFrame {
            buttons: 1,
            camera: 121,
        })
        .unwrap_err();
    assert!(matches!(
        err,
        ActionError::CameraClassOutOfRange {
            class: 121,
            n_camera: 121
        }
    ));
    let bad = FactoredActionFrame {
        camera: [11, 5],
        buttons: [false; 20],
    };
    assert!(matches!(
        space.factored_to_agent(&bad),
        Err(ActionError::CameraBinOutOfRange {
            bin: 11,
            n_camera_bins: 11
        })
    ));
}

#[test]
fn invalid_configs_are_rejected_with_a_fix() {
    let vpt = ActionSpaceConfig::vpt();
    let cases = [
        (
            ActionSpaceConfig {
                n_camera_bins: 13,
                ..vpt.clone()
            },
            "set n_camera_bins",
        ),
        (
            ActionSpaceConfig {
                camera_binsize: 0,
                ..vpt.clone()
            },
            "camera_binsize is 0",
        ),
        (
            ActionSpaceConfig {
                camera_maxval: 0,
                ..vpt.clone()
            },
            "camera_maxval is 0",
        ),
        (
            ActionSpaceConfig {
                camera_binsize: 3,
                ..vpt.clone()
            },
            "not a multiple",
        ),
        (
            ActionSpaceConfig {
                camera_mu: 0.0,
                ..vpt.clone()
            },
            "camera_mu",
        ),
        (
            ActionSpaceConfig {
                camera_mu: f64::NAN,
                ..vpt.clone()
            },
            "camera_mu",
        ),
        (
            ActionSpaceConfig {
                camera_maxval: 1000,
                camera_binsize: 1,
                n_camera_bins: 2001,
                ..vpt.clone()
            },
            "more than",
        ),
    ];
    for (config, needle) in cases {
        let err = ActionSpace::new(config.clone()).unwrap_err();
        assert!(err.to_string().contains(needle), "{config:?}: {err}");
    }
    // mu is irrelevant to the linear scheme.
    let linear = ActionSpaceConfig {
        camera_mu: 0.0,
        quantization_scheme: QuantizationScheme::Linear,
        ..vpt
    };
    assert!(ActionSpace::new(linear).is_ok());
}

#[test]
fn config_deserializes_from_toml() {
    let config: ActionSpaceConfig = toml::from_str("").unwrap();
    assert_eq!(config, ActionSpaceConfig::vpt());
    let config: ActionSpaceConfig = toml::from_str(
        "camera_binsize = 1\nn_camera_bins = 21\nquantization_scheme = \"linear\"\n",
    )
    .unwrap();
    assert_eq!(config.quantization_scheme, QuantizationScheme::Linear);
    assert_eq!((config.camera_binsize, config.camera_maxval), (1, 10));
    assert!(toml::from_str::<ActionSpaceConfig>("camera_bins = 3").is_err());
    assert!(toml::from_str::<ActionSpaceConfig>("quantization_scheme = \"cubic\"").is_err());
    let text = toml::to_string(&ActionSpaceConfig::vpt()).unwrap();
    assert!(text.contains("quantization_scheme = \"mu_law\""), "{text}");
}
