//! Shared helpers for the data-layer tests: locating and loading the reference fixtures.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

/// The shared reference directory (`MINE_SHARED_DIR` or `../shared` beside the workspace).
pub fn shared() -> PathBuf {
    match std::env::var("MINE_SHARED_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")),
    }
}

/// The tiny MineStudio dataset.
pub fn tiny() -> PathBuf {
    shared().join("fixtures/minestudio-tiny")
}

/// The raw contractor recordings the tiny dataset was converted from.
pub fn tiny_src() -> PathBuf {
    shared().join("fixtures/minestudio-tiny-src")
}

/// `expected.json`, parsed once.
pub fn expected() -> &'static serde_json::Value {
    static V: OnceLock<serde_json::Value> = OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(tiny().join("expected.json")).expect("expected.json");
        serde_json::from_str(&text).expect("expected.json parses")
    })
}
