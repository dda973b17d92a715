//! Comparing segmentation windows with the summaries in `minestudio-seg/expected.json`.

use mine_runtime::data::sample::Sample;
use mine_runtime::data::segmentation::{Pick, SegmentationWindow};
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn sha(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

pub fn ints(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

pub fn pairs<T>(v: &Value, f: impl Fn(&Value) -> T) -> Vec<[T; 2]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| [f(&p[0]), f(&p[1])])
        .collect()
}

/// Compares a window with a sample's `segmentation` summary; `Err` names the first field
/// that differs.
pub fn compare(got: &SegmentationWindow, want: &Value) -> Result<(), String> {
    let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
    let mask = &want["obj_mask"];
    let shape = ints(&mask["shape"]);
    check(
        shape == [got.len() as i64, got.height as i64, got.width as i64],
        "obj_mask shape",
    )?;
    for t in 0..got.len() {
        let frame = got.frame_mask(t);
        let sum: i64 = frame.iter().map(|&v| i64::from(v)).sum();
        check(
            sum == mask["frame_sum"][t].as_i64().unwrap(),
            &format!("obj_mask[{t}] sum"),
        )?;
        let want_sha = &mask["frame_sha256"][t];
        if sum > 0 {
            check(
                want_sha.as_str() == Some(sha(frame).as_str()),
                &format!("obj_mask[{t}] sha"),
            )?;
        } else {
            check(want_sha.is_null(), &format!("obj_mask[{t}] null sha"))?;
        }
        if let Some(rows) = mask.get("rows").map(|r| &r[t]) {
            let text: Vec<String> = frame
                .chunks(got.width)
                .map(|row| row.iter().map(|v| char::from(b'0' + v)).collect())
                .collect();
            let want_rows: Option<Vec<String>> = rows
                .as_array()
                .map(|r| r.iter().map(|s| s.as_str().unwrap().to_string()).collect());
            check(
                want_rows.is_none() == (sum == 0),
                &format!("obj_mask[{t}] rows null"),
            )?;
            if let Some(want_rows) = want_rows {
                check(text == want_rows, &format!("obj_mask[{t}] rows"))?;
            }
        }
    }
    check(got.obj_id == ints(&want["obj_id"]["data"]), "obj_id")?;
    check(got.frame_id == ints(&want["frame_id"]["data"]), "frame_id")?;
    check(
        got.frame_range == pairs(&want["frame_range"]["data"], |v| v.as_i64().unwrap()),
        "frame_range",
    )?;
    let points = pairs(&want["point"]["data"], |v| v.as_f64().unwrap());
    // serde_json parses decimals to within one ulp (no `float_roundtrip`); EventDataset
    // returns the points as float32 (its `to_tensor`), RawDataset as float64.
    let float32 = want["point"]["dtype"] == "float32";
    let close = |a: f64, b: f64| {
        let a = if float32 { f64::from(a as f32) } else { a };
        (a - b).abs() <= 2.0 * f64::EPSILON * a.abs().max(1.0)
    };
    let same_points = got.point.len() == points.len()
        && got
            .point
            .iter()
            .zip(&points)
            .all(|(g, w)| close(g[0], w[0]) && close(g[1], w[1]));
    check(
        same_points,
        &format!("point: {:?} vs {points:?}", got.point),
    )?;
    let events: Vec<&str> = want["event"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    check(got.event == events, "event")
}

/// `want` with the fields MineStudio returns when `random.choice` takes the last candidate.
pub fn last_variant(sample: &Value) -> Option<Value> {
    let diff = sample.get("segmentation_if_random_choice_picks_last")?;
    let mut seg = sample["segmentation"].clone();
    // The stored rows are the first outcome's.
    seg["obj_mask"].as_object_mut().unwrap().remove("rows");
    for (k, v) in diff.as_object().unwrap() {
        if k == "obj_mask" {
            for (kk, vv) in v.as_object().unwrap() {
                seg["obj_mask"][kk] = vv.clone();
            }
        } else {
            seg[k] = v.clone();
        }
    }
    Some(seg)
}

/// A sample's agent button classes (the `agent_action.buttons` of `expected.json`).
pub fn buttons(sample: &Sample) -> Vec<i64> {
    let action = sample.action.as_ref().expect("actions were read");
    action.agent.iter().map(|a| i64::from(a.buttons)).collect()
}

/// Checks a window against a sample's `segmentation`. Where MineStudio's result depends on
/// its `random.choice`, the window must be one of its two outcomes, and `forced` (the same
/// window read with the pick forced) must give each exactly. Returns whether it did.
pub fn check(
    label: &str,
    got: &SegmentationWindow,
    sample: &Value,
    forced: impl Fn(Pick) -> SegmentationWindow,
) -> bool {
    let first = compare(got, &sample["segmentation"]);
    let Some(last) = last_variant(sample) else {
        first.unwrap_or_else(|field| panic!("{label}: {field} differs"));
        return false;
    };
    let second = compare(got, &last);
    assert!(
        first.is_ok() || second.is_ok(),
        "{label}: {first:?} / {second:?}"
    );
    for (pick, want) in [(Pick::First, &sample["segmentation"]), (Pick::Last, &last)] {
        compare(&forced(pick.clone()), want)
            .unwrap_or_else(|f| panic!("{label} {pick:?}: {f} differs"));
    }
    true
}
