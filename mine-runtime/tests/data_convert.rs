//! Converting the raw contractor recordings gives a dataset the reader reads back with the
//! same actions and meta info MineStudio's pipeline produced (`expected.json`).

mod common;

use std::sync::OnceLock;

use mine_runtime::data::convert::{ConvertOptions, convert_contractor};
use mine_runtime::data::pickle::PyValue;
use mine_runtime::data::{Bias, DatasetConfig, Modality, RawDataset};
use serde_json::Value;

/// The converted fixture (converted once per test binary).
fn converted() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let report = convert_contractor(
            &[common::tiny_src()],
            dir.path(),
            &ConvertOptions::default(),
        )
        .unwrap();
        let got: Vec<(&str, usize)> = report
            .episodes
            .iter()
            .map(|(e, n)| (e.as_str(), *n))
            .collect();
        let want: Vec<(&str, usize)> = common::expected()["episodes_with_length"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e[0].as_str().unwrap(), e[1].as_u64().unwrap() as usize))
            .collect();
        assert_eq!(
            got, want,
            "episodes and lengths as MineStudio's converter wrote them"
        );
        assert!(report.skipped.is_empty(), "{:?}", report.skipped);
        dir
    })
    .path()
}

fn config(win_len: usize, modalities: Vec<Modality>) -> DatasetConfig {
    let mut cfg = DatasetConfig::new(vec![converted().to_path_buf()]);
    cfg.split_ratio = 1.0;
    cfg.win_len = win_len;
    cfg.modalities = modalities;
    cfg
}

fn ints(v: &Value) -> Vec<i64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn json_eq(got: Option<&PyValue>, want: &Value) -> bool {
    match (got, want) {
        (None | Some(PyValue::None), Value::Null) => true,
        (Some(PyValue::Int(a)), Value::Number(b)) => b.as_i64() == Some(*a),
        (Some(PyValue::Float(a)), Value::Number(b)) => {
            (a - b.as_f64().unwrap()).abs() <= 1e-12 * a.abs().max(1.0)
        }
        (Some(PyValue::Str(a)), Value::String(b)) => a == b,
        (Some(PyValue::List(a)), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| json_eq(Some(x), y))
        }
        (Some(PyValue::Dict(a)), Value::Object(b)) => {
            a.len() == b.len()
                && b.iter().all(|(k, v)| {
                    json_eq(
                        a.iter()
                            .find(|(x, _)| x.as_str() == Some(k))
                            .map(|(_, v)| v),
                        v,
                    )
                })
        }
        _ => false,
    }
}

fn check(name: &str, prev: bool) {
    let want = &common::expected()["datasets"][name];
    let win = want["params"]["win_len"].as_u64().unwrap() as usize;
    let with_meta = name.ends_with("meta");
    let mut modalities = vec![Modality::Image, Modality::Action];
    if with_meta {
        modalities.push(Modality::MetaInfo);
    }
    let mut cfg = config(win, modalities);
    if prev {
        cfg.enable_prev_action = true;
        cfg.biases.insert(
            Modality::Action,
            Bias {
                read_bias: -1,
                win_bias: 1,
            },
        );
    }
    let ds = RawDataset::open(cfg).unwrap();
    assert_eq!(ds.len() as u64, want["len"].as_u64().unwrap());
    for (idx, s) in want["samples"].as_array().unwrap().iter().enumerate() {
        let got = ds.get(idx).unwrap();
        assert_eq!(Value::from(got.episode.clone()), s["episode"]);
        let a = got.action.as_ref().unwrap();
        for (key, arr) in s["env_action"].as_object().unwrap() {
            if key == "camera" {
                let cam: Vec<[f64; 2]> = arr["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| [r[0].as_f64().unwrap(), r[1].as_f64().unwrap()])
                    .collect();
                let g: Vec<[f64; 2]> = a.env.iter().map(|e| e.camera).collect();
                assert_eq!(g.len(), cam.len());
                for (x, y) in g.iter().zip(&cam) {
                    assert!(
                        (x[0] - y[0]).abs() < 1e-12 && (x[1] - y[1]).abs() < 1e-12,
                        "{name}[{idx}] camera"
                    );
                }
            } else {
                let g: Vec<i64> = a
                    .env
                    .iter()
                    .map(|e| i64::from(e.pressed(key).unwrap()))
                    .collect();
                assert_eq!(g, ints(arr), "{name}[{idx}] {key}");
            }
        }
        let buttons: Vec<i64> = a.agent.iter().map(|x| i64::from(x.buttons)).collect();
        let camera: Vec<i64> = a.agent.iter().map(|x| i64::from(x.camera)).collect();
        let col = |v: &Value| -> Vec<i64> {
            v["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r[0].as_i64().unwrap())
                .collect()
        };
        assert_eq!(
            buttons,
            col(&s["agent_action"]["buttons"]),
            "{name}[{idx}] agent buttons"
        );
        assert_eq!(
            camera,
            col(&s["agent_action"]["camera"]),
            "{name}[{idx}] agent camera"
        );
        if prev {
            let pb: Vec<i64> = a
                .agent_prev
                .as_ref()
                .unwrap()
                .iter()
                .map(|x| i64::from(x.buttons))
                .collect();
            assert_eq!(
                pb,
                col(&s["agent_prev_action"]["buttons"]),
                "{name}[{idx}] prev"
            );
        }
        assert_eq!(
            got.mask.iter().map(|&m| m as i64).collect::<Vec<_>>(),
            ints(&s["mask"])
        );
        // Frames are re-encoded (different scaler and encoder): compare brightness per frame.
        let image = got.image.as_ref().unwrap();
        for (t, sum) in s["image"]["frame_sum"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let g: u64 = image.frame(t).iter().map(|&v| v as u64).sum();
            let w = sum.as_u64().unwrap();
            let rel = (g as f64 - w as f64).abs() / (w as f64).max(1.0);
            assert!(
                rel < 0.03 || g.abs_diff(w) < 224 * 224 * 3 * 3,
                "{name}[{idx}] frame {t}: {g} vs {w}"
            );
        }
        if with_meta {
            let m = got.meta_info.as_ref().unwrap();
            for (key, values) in s["meta_info"].as_object().unwrap() {
                for (t, (g, w)) in m
                    .field(key)
                    .iter()
                    .zip(values.as_array().unwrap())
                    .enumerate()
                {
                    assert!(
                        json_eq(*g, w),
                        "{name}[{idx}] meta {key}[{t}]: {g:?} vs {w}"
                    );
                }
            }
        }
    }
}

#[test]
fn converted_actions_match_minestudio_w32() {
    check("w32", false);
}

#[test]
fn converted_actions_match_minestudio_w20_with_meta_info() {
    check("w20_meta", false);
}

#[test]
fn converted_prev_actions_match_minestudio() {
    check("w32_prev_bias", true);
}

#[test]
fn converting_into_an_existing_dataset_is_refused() {
    let err = convert_contractor(
        &[common::tiny_src()],
        converted(),
        &ConvertOptions::default(),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("already exists"), "{err}");
    assert!(
        message.contains(&converted().display().to_string()),
        "{err}"
    );
    assert!(message.contains("--overwrite"), "{err}");
}

#[test]
fn broken_segments_are_skipped_or_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    common::copy_recordings(&[""], &src);
    let brave = "brave-olive-otter-fedcba987654-20220602-140001";
    std::fs::write(src.join(format!("{brave}.jsonl")), "{\"mouse\": \n").unwrap();
    let out = tmp.path().join("out");
    let report =
        convert_contractor(std::slice::from_ref(&src), &out, &ConvertOptions::default()).unwrap();
    assert_eq!(report.episodes.len(), 3);
    assert_eq!(report.skipped.len(), 1);
    assert!(report.skipped[0].1.contains("broken jsonl"));
    let strict = ConvertOptions {
        on_error: mine_runtime::data::ErrorPolicy::Fail,
        ..ConvertOptions::default()
    };
    let err = convert_contractor(&[src], &tmp.path().join("out2"), &strict).unwrap_err();
    assert!(err.to_string().contains(brave), "{err}");
}

#[test]
fn converted_frames_look_like_minestudios() {
    let text = std::fs::read_to_string(common::tiny().join("expected_frames.json")).unwrap();
    let frames: Value = serde_json::from_str(&text).unwrap();
    let ds = RawDataset::open(config(32, vec![Modality::Image])).unwrap();
    for f in frames.as_array().unwrap() {
        let episode = f["episode"].as_str().unwrap();
        let t = f["frame"].as_u64().unwrap() as usize;
        let e = ds.episodes().iter().find(|e| e.episode == episode).unwrap();
        let sample = ds.get(e.first_item + t / 32).unwrap();
        let got = sample.image.as_ref().unwrap().frame(t % 32);
        let want: Vec<u8> = f["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter())
            .flat_map(|px| {
                px.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u8)
            })
            .collect();
        assert_eq!(got.len(), want.len());
        let mad = got
            .iter()
            .zip(&want)
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .sum::<f64>()
            / want.len() as f64;
        eprintln!("{episode} frame {t}: mean abs diff {mad:.2}");
        assert!(mad < 6.0, "{episode} frame {t}: mean abs diff {mad}");
    }
}
