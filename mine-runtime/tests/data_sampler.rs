//! Episode-continuous batches equal MineStudio's `MineDistributedBatchSampler` index lists.

mod common;

use mine_runtime::data::sampler::ContinuousBatchSampler;
use mine_runtime::data::{DatasetConfig, Modality, RawDataset};
use serde_json::{Value, json};

fn check(name: &str) {
    let want = &common::expected()["datasets"][name];
    let mut cfg = DatasetConfig::new(vec![common::tiny()]);
    cfg.win_len = want["params"]["win_len"].as_u64().unwrap() as usize;
    cfg.split_ratio = 1.0;
    cfg.modalities = vec![Modality::Action];
    let ds = RawDataset::open(cfg).unwrap();
    let mut checked = 0;
    for (key, exp) in want["batch_sampler"].as_object().unwrap() {
        let field = |f: &str| -> usize {
            key.split(',')
                .find_map(|kv| kv.strip_prefix(&format!("{f}=")))
                .unwrap()
                .parse()
                .unwrap()
        };
        let s = ContinuousBatchSampler::new(
            ds.episodes(),
            field("batch_size"),
            field("num_replicas"),
            field("rank"),
        );
        assert_eq!(
            s.len() as u64,
            exp["len"].as_u64().unwrap(),
            "{name} {key} len"
        );
        let within: Vec<Value> = s
            .episodes_within_replica()
            .iter()
            .map(|e| json!([e.episode, e.start, e.end, e.first_item]))
            .collect();
        assert_eq!(
            &Value::Array(within),
            &exp["episodes_within_replica"],
            "{name} {key}"
        );
        assert_eq!(json!(s.batches()), exp["batches"], "{name} {key} batches");
        checked += 1;
    }
    assert_eq!(checked, 4);
}

#[test]
fn w32_continuous_batches_match_minestudio() {
    check("w32");
}

#[test]
fn w20_continuous_batches_match_minestudio() {
    check("w20");
}
