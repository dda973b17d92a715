//! Memory carried across batches and reset at episode starts (MineStudio's `_make_memory`).

use burn::tensor::{Bool, Device, Int, Tensor, TensorData};
use mine_dsl::batch::BatchInfo;
use mine_dsl::memory::{Memory, MemoryState};
use mine_runtime::trainer::memory_manager::{MemoryManager, MemorySnapshot};

use crate::support::TinyMemory;

fn info(rows: &[&[i64]]) -> BatchInfo {
    BatchInfo {
        timestamp: rows.iter().map(|r| r.to_vec()).collect(),
        ..BatchInfo::default()
    }
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

/// A memory whose row `r` holds `value` (one column).
fn filled(rows: usize, value: f32, device: &Device) -> Tensor<2> {
    Tensor::full([rows, 1], value, device)
}

#[test]
fn rows_reset_exactly_where_timestamps_do_not_continue() {
    let device = Device::flex();
    let init = |b: usize| filled(b, 0.0, &device);
    let mut manager = MemoryManager::<Tensor<2>>::new();

    // First batch: last timestamps start at 0, so a row starting at 1 "continues" and one
    // starting at 0 begins an episode; both get the initial memory.
    let first = manager.prepare(&info(&[&[0, 1, 2], &[1, 2, 3], &[7, 8, 9]]), 3, init);
    assert_eq!(first.episode_starts, [true, false, true]);
    assert_eq!(values(first.memory), [0.0, 0.0, 0.0]);
    assert_eq!(manager.last_timestamp(), [2, 3, 9]);
    manager.store(Tensor::from_data(
        TensorData::new(vec![1.0f32, 2.0, 3.0], [3, 1]),
        &device,
    ));

    // Row 0 continues (3 = 2 + 1), row 1 skips a frame, row 2 restarts at 0.
    let second = manager.prepare(&info(&[&[3, 4, 5], &[5, 6, 7], &[0, 1, 2]]), 3, init);
    assert_eq!(second.episode_starts, [false, true, true]);
    assert_eq!(values(second.memory), [1.0, 0.0, 0.0]);
    manager.store(filled(3, 5.0, &device));

    // All continue: the stored memory comes back untouched.
    let third = manager.prepare(&info(&[&[6, 7, 8], &[8, 9, 10], &[3, 4, 5]]), 3, init);
    assert_eq!(third.episode_starts, [false, false, false]);
    assert_eq!(values(third.memory), [5.0, 5.0, 5.0]);
}

#[test]
fn stored_memory_is_detached() {
    let device = Device::flex().autodiff();
    let mut manager = MemoryManager::<Tensor<2>>::new();
    let prepared = manager.prepare(&info(&[&[0]]), 1, |b| filled(b, 0.0, &device));
    let weight = Tensor::<2>::ones([1, 1], &device).require_grad();
    let out = prepared.memory + weight;
    assert!(out.is_tracked());
    manager.store(out);
    assert!(!manager.memory().unwrap().is_tracked(), "truncated BPTT");
}

#[test]
fn a_new_batch_size_or_missing_timestamps_start_every_row_anew() {
    let device = Device::flex();
    let init = |b: usize| filled(b, 0.0, &device);
    let mut manager = MemoryManager::<Tensor<2>>::new();
    manager.prepare(&info(&[&[0, 1], &[0, 1]]), 2, init);
    manager.store(filled(2, 4.0, &device));
    // Three rows now: every row starts anew, from an initial memory rebuilt for three rows.
    let prepared = manager.prepare(&info(&[&[2, 3], &[2, 3], &[2, 3]]), 3, init);
    assert_eq!(prepared.episode_starts, [true, true, true]);
    assert_eq!(values(prepared.memory), [0.0, 0.0, 0.0]);
    manager.store(filled(3, 4.0, &device));
    // No timestamps: every row starts an episode.
    let prepared = manager.prepare(&BatchInfo::default(), 3, init);
    assert_eq!(prepared.episode_starts, [true, true, true]);
    assert_eq!(values(prepared.memory), [0.0, 0.0, 0.0]);
}

#[test]
fn stateless_policies_carry_nothing() {
    let mut manager = MemoryManager::<()>::new();
    let prepared = manager.prepare(&info(&[&[0, 1]]), 1, |_| ());
    assert_eq!(prepared.episode_starts, [true]);
    manager.store(());
    assert_eq!(manager.snapshot().memory, Some(MemoryState::new()));
}

#[test]
fn snapshots_restore_every_kind_of_memory_bit_exactly() {
    let device = Device::flex();
    type Mixed = (TinyMemory, Option<Tensor<3, Bool>>, Vec<Tensor<1>>);
    let memory: Mixed = (
        TinyMemory {
            hidden: Tensor::from_data(
                TensorData::new(vec![0.1f32, -2.5, 1e-30, 7.0], [2, 2]),
                &device,
            ),
            frames: vec![Tensor::<2, Int>::from_data(
                TensorData::new(vec![4i64, 9], [2, 1]),
                &device,
            )],
        },
        Some(Tensor::<3>::ones([2, 1, 3], &device).greater_elem(0.5)),
        vec![],
    );
    let mut manager = MemoryManager::<Mixed>::new();
    manager.prepare(&info(&[&[0, 1], &[3, 4]]), 2, |_| memory.clone());
    manager.store(memory.clone());
    let snapshot = manager.snapshot();
    assert_eq!(snapshot.last_timestamp, [1, 4]);
    let restored = MemoryManager::<Mixed>::restore(snapshot.clone(), &device).unwrap();
    let (a, b) = (manager.memory().unwrap(), restored.memory().unwrap());
    assert_eq!(a.0.hidden.to_data(), b.0.hidden.to_data());
    assert_eq!(a.0.frames[0].to_data(), b.0.frames[0].to_data());
    assert_eq!(
        a.1.as_ref().unwrap().to_data(),
        b.1.as_ref().unwrap().to_data()
    );
    assert!(b.2.is_empty());
    assert_eq!(restored.last_timestamp(), [1, 4]);

    // A snapshot of another memory type is refused with an explanation, not a panic.
    let err = MemoryManager::<Vec<Tensor<2>>>::restore(snapshot.clone(), &device).unwrap_err();
    assert!(
        err.to_string().contains("does not match the memory type"),
        "{err}"
    );
    let err = MemoryManager::<Tensor<2>>::restore(snapshot, &device).unwrap_err();
    assert!(err.to_string().contains("5 entries more"), "{err}");
    let empty = MemorySnapshot {
        memory: Some(MemoryState::new()),
        last_timestamp: vec![],
    };
    let err = MemoryManager::<Tensor<2>>::restore(empty, &device).unwrap_err();
    assert!(err.to_string().contains("ends early"), "{err}");
}

#[test]
fn reset_rows_of_a_derived_memory_resets_every_field() {
    let device = Device::flex();
    let carried = TinyMemory {
        hidden: Tensor::ones([2, 2], &device),
        frames: vec![Tensor::<2, Int>::ones([2, 1], &device)],
    };
    let initial = TinyMemory {
        hidden: Tensor::zeros([2, 2], &device),
        frames: vec![Tensor::<2, Int>::zeros([2, 1], &device)],
    };
    let reset = carried.reset_rows(&[false, true], &initial);
    assert_eq!(values(reset.hidden), [1.0, 1.0, 0.0, 0.0]);
    let frames: Vec<i64> = reset.frames[0].to_data().iter::<i64>().collect();
    assert_eq!(frames, [1, 0]);
}
