//! Helpers shared by the golden tests: where the reference files are, and tolerant comparison.

#![allow(dead_code)]

use std::path::PathBuf;

pub mod callbacks;

/// `$MINE_SHARED_DIR`, or the `shared/` directory beside the repository.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

/// Parses a file of `shared/golden/`.
pub fn golden(name: &str) -> serde_json::Value {
    let path = shared_dir().join("golden").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (set MINE_SHARED_DIR)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Asserts `actual` is within `rel` relative error of `expected` (absolute near zero).
pub fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    let tolerance = rel * expected.abs().max(1.0);
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: got {actual}, expected {expected} (tolerance {tolerance})"
    );
}
