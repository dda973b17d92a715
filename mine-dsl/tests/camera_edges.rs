//! The camera quantizer at the bin edges, against MineStudio 1.1.6's own `discretize` on
//! float64 and float32 arrays (golden/camera_edges.json, written by
//! mine-runtime/examples/reference/camera_edges.py): one rounding decides the bin there.

use mine_dsl::action::{ActionSpaceConfig, CameraQuantizer};
use serde_json::Value;

fn golden() -> Value {
    let text = include_str!("golden/camera_edges.json");
    serde_json::from_str(text).expect("valid JSON")
}

fn numbers(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| v.as_u64().expect("an integer"))
        .collect()
}

#[test]
fn bins_at_the_edges_match_minestudio_in_both_float_types() {
    let quantizer = CameraQuantizer::new(&ActionSpaceConfig::default());
    for case in golden()["cases"].as_array().unwrap() {
        let dtype = case["dtype"].as_str().unwrap();
        let bits = numbers(&case["bits"]);
        let bins = numbers(&case["bins"]);
        let mut wrong = Vec::new();
        for (bits, want) in bits.iter().zip(&bins) {
            let (degrees, got) = match dtype {
                "float64" => {
                    let x = f64::from_bits(*bits);
                    (x, quantizer.discretize(x))
                }
                "float32" => {
                    let x = f32::from_bits(*bits as u32);
                    (f64::from(x), quantizer.discretize_f32(x))
                }
                other => panic!("unknown dtype {other}"),
            };
            if u64::from(got) != *want {
                wrong.push((degrees, got, *want));
            }
        }
        assert!(
            wrong.is_empty(),
            "{dtype}: {} of {} bins differ from MineStudio, e.g. (degrees, ours, theirs) {:?}",
            wrong.len(),
            bins.len(),
            &wrong[..wrong.len().min(5)]
        );
    }
}
