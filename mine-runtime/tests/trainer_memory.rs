//! Memory carried per row across batches, reset at episode starts (MineStudio's `_make_memory`),
//! on hand-made timestamps.

use burn::tensor::{Device, Tensor, TensorData};
use mine_dsl::batch::BatchInfo;
use mine_runtime::trainer::{MemoryStream, episode_starts};

fn info(rows: &[std::ops::Range<i64>]) -> BatchInfo {
    BatchInfo {
        timestamp: rows.iter().map(|r| r.clone().collect()).collect(),
        ..BatchInfo::default()
    }
}

fn rows(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_into_vec().unwrap()
}

#[test]
fn episode_starts_follow_the_timestamp_rule() {
    // Last timestamps start at 0: a first batch at 0 "starts", one at 1 continues.
    assert_eq!(episode_starts(&info(&[0..4, 1..5]), &[]), [true, false]);
    // Continuing rows go on from last + 1; a jump back or ahead starts an episode.
    assert_eq!(
        episode_starts(&info(&[4..8, 0..4, 9..13]), &[3, 7, 7]),
        [false, true, true]
    );
}

#[test]
fn memory_is_carried_per_row_and_reset_at_episode_starts() {
    let device = Device::flex();
    let initial = |rows: usize| Tensor::<2>::zeros([rows, 2], &device);
    let mut stream = MemoryStream::<Tensor<2>>::default();

    let first = stream.prepare(&info(&[0..4, 0..4]), initial);
    assert_eq!(rows(first.clone()), [0.0; 4]);
    stream.keep(Tensor::from_data(
        TensorData::new(vec![1.0f32, 1.0, 2.0, 2.0], [2, 2]),
        &device,
    ));

    // Row 0 continues (4 = 3 + 1), row 1 jumps to a new episode.
    let second = stream.prepare(&info(&[4..8, 0..4]), initial);
    assert_eq!(rows(second), [1.0, 1.0, 0.0, 0.0]);
    stream.keep(Tensor::from_data(
        TensorData::new(vec![5.0f32, 5.0, 6.0, 6.0], [2, 2]),
        &device,
    ));

    // Both continue.
    let third = stream.prepare(&info(&[8..12, 4..8]), initial);
    assert_eq!(rows(third), [5.0, 5.0, 6.0, 6.0]);

    // A different batch size starts over from the initial memory.
    let resized = stream.prepare(&info(&[12..16, 3..7][..1]), initial);
    assert_eq!(rows(resized), [0.0, 0.0]);
}

#[test]
fn kept_memory_is_detached_from_the_graph() {
    let device = Device::flex().autodiff();
    let param = Tensor::<2>::ones([1, 2], &device).require_grad();
    let mut stream = MemoryStream::<Tensor<2>>::default();
    stream.prepare(&info(&[0..2, 0..2][..1]), |rows| {
        Tensor::zeros([rows, 2], &device)
    });
    stream.keep(param.clone() * 3.0);
    let carried = stream.prepare(&info(&[2..4, 0..2][..1]), |rows| {
        Tensor::zeros([rows, 2], &device)
    });
    let loss = (carried + param.clone()).sum();
    let grads = loss.backward();
    // Only the direct path contributes: d/dparam = 1, not 1 + 3.
    let grad: Vec<f32> = param
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_into_vec()
        .unwrap();
    assert_eq!(grad, [1.0, 1.0]);
}
