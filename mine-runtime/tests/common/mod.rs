//! Helpers shared by the integration tests: reference files, golden values, small tensors.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor, TensorData};
use mine_runtime::trainer::backend::{Backend, Precision};

/// The environment variable naming the backend the backend-generic tests run on.
pub const TEST_BACKEND_VAR: &str = "MINE_TEST_BACKEND";

/// The backend the backend-generic tests (VPT parity, GROOT training, the trainer's tests) run
/// on: `flex`, or the one `MINE_TEST_BACKEND` names (`wgpu`, `cuda`), which must be compiled in:
/// `MINE_TEST_BACKEND=wgpu cargo test --release -p mine-runtime --features wgpu --test ..`.
pub fn test_backend() -> Backend {
    let name = match std::env::var(TEST_BACKEND_VAR) {
        Ok(name) => name,
        Err(std::env::VarError::NotPresent) => return Backend::Flex,
        Err(e) => panic!("{TEST_BACKEND_VAR}: {e}"),
    };
    let backend = Backend::try_from(name).unwrap_or_else(|e| panic!("{TEST_BACKEND_VAR}: {e}"));
    if let Err(e) = backend.check() {
        panic!("{TEST_BACKEND_VAR}={backend}: {e}");
    }
    backend
}

/// The device (without autodiff) of [`test_backend`]: the default adapter on `wgpu`.
pub fn test_device() -> Device {
    test_backend()
        .device(0, Precision::F32)
        .expect("test_backend() checked the backend")
}

pub mod seg;
pub mod vpt_task;

/// `../shared` beside the workspace, or `$MINE_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("MINE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")))
}

/// Parses a golden JSON file.
pub fn golden(name: &str) -> serde_json::Value {
    let path = shared_dir().join("golden").join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {} (set MINE_SHARED_DIR): {e}", path.display()));
    serde_json::from_str(&text).expect("golden file is valid JSON")
}

/// A JSON array of numbers as `f32`s.
pub fn floats(value: &serde_json::Value) -> Vec<f32> {
    value
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

/// A JSON matrix (array of rows) flattened row-major, with its shape.
pub fn matrix(value: &serde_json::Value) -> (Vec<f32>, [usize; 2]) {
    let rows = value.as_array().expect("array of rows");
    let cols = rows[0].as_array().expect("row").len();
    let data = rows.iter().flat_map(floats).collect();
    (data, [rows.len(), cols])
}

/// Transposes a row-major `[rows, cols]` matrix.
pub fn transpose(data: &[f32], [rows, cols]: [usize; 2]) -> Vec<f32> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| data[r * cols + c]))
        .collect()
}

/// A burn `Linear` holding PyTorch's `W: [out, in]` (stored transposed, `[in, out]`) and `b`.
pub fn linear_from_torch(
    weight: &[f32],
    [out, inp]: [usize; 2],
    bias: &[f32],
    device: &Device,
) -> Linear {
    let mut linear = LinearConfig::new(inp, out).init(device);
    let w = Tensor::<2>::from_data(
        TensorData::new(transpose(weight, [out, inp]), [inp, out]),
        device,
    );
    linear.weight = Param::from_tensor(w);
    let b = Tensor::<1>::from_data(TensorData::new(bias.to_vec(), [out]), device);
    linear.bias = Some(Param::from_tensor(b));
    linear
}

/// A row-major `[rows, cols]` tensor.
pub fn tensor2(data: &[f32], shape: [usize; 2], device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data.to_vec(), shape), device)
}

/// The values of a tensor.
pub fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor.try_into_vec_as::<f32>().expect("f32 tensor")
}

/// PyTorch-layout weight `[out, in]` (row-major) and bias of a burn `Linear`.
pub fn torch_params(linear: &Linear) -> (Vec<f32>, Vec<f32>) {
    let [inp, out] = linear.weight.val().dims();
    let w = transpose(&values(linear.weight.val()), [inp, out]);
    let b = values(linear.bias.as_ref().expect("bias").val());
    (w, b)
}

/// `mean((x W + b - y)^2)` over all elements (`F.mse_loss`).
pub fn mse(linear: &Linear, x: Tensor<2>, y: Tensor<2>) -> Tensor<1> {
    (linear.forward(x) - y).square().mean()
}

/// Largest relative error of `actual` against `expected`, with an absolute floor of `floor`
/// for entries near zero.
pub fn max_rel_err(actual: &[f32], expected: &[f32], floor: f64) -> f64 {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    actual
        .iter()
        .zip(expected)
        .map(|(&a, &e)| (f64::from(a) - f64::from(e)).abs() / f64::from(e).abs().max(floor))
        .fold(0.0, f64::max)
}

/// Asserts `actual` matches `expected` within `rel` relative error (floor 1e-3 on the scale).
pub fn assert_close(what: &str, actual: &[f32], expected: &[f32], rel: f64) {
    let err = max_rel_err(actual, expected, 1e-3);
    assert!(
        err <= rel,
        "{what}: max relative error {err:e} > {rel:e}\n actual   {actual:?}\n expected {expected:?}"
    );
}

/// The tiny MineStudio dataset.
pub fn tiny() -> PathBuf {
    shared_dir().join("fixtures/minestudio-tiny")
}

/// The MineStudio dataset with the segmentation modality and an events LMDB (committed in
/// `tests/fixtures/minestudio-seg`, written by `examples/reference/segmentation_fixture.py`).
pub fn seg_fixture() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/minestudio-seg"
    ))
}

/// [`seg_fixture`]'s `expected.json`: what MineStudio's readers return for it.
pub fn seg_expected() -> &'static serde_json::Value {
    static V: OnceLock<serde_json::Value> = OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(seg_fixture().join("expected.json"))
            .expect("minestudio-seg/expected.json");
        serde_json::from_str(&text).expect("expected.json parses")
    })
}

/// Copies the directory tree `src` to `dst` (created), files writable, leaving out
/// `expected*.json`.
pub fn copy_dir(src: &std::path::Path, dst: &std::path::Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to);
        } else if entry.file_name() != "expected.json"
            && entry.file_name() != "expected_frames.json"
        {
            std::fs::copy(entry.path(), &to).unwrap();
            let mut perm = std::fs::metadata(&to).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perm.set_readonly(false);
            std::fs::set_permissions(&to, perm).unwrap();
        }
    }
}

/// The raw contractor recordings the tiny dataset was converted from.
pub fn tiny_src() -> PathBuf {
    shared_dir().join("fixtures/minestudio-tiny-src")
}

/// Copies the recordings of [`tiny_src`] whose names start with one of `prefixes` (all with
/// `&[""]`) into `dir` (created), writable.
pub fn copy_recordings(prefixes: &[&str], dir: &std::path::Path) {
    std::fs::create_dir_all(dir).unwrap();
    for f in std::fs::read_dir(tiny_src()).unwrap() {
        let f = f.unwrap();
        let name = f.file_name().to_string_lossy().into_owned();
        if prefixes.iter().any(|p| name.starts_with(p)) {
            let to = dir.join(&name);
            std::fs::copy(f.path(), &to).unwrap();
            let mut perms = std::fs::metadata(&to).unwrap().permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            perms.set_readonly(false);
            std::fs::set_permissions(&to, perms).unwrap();
        }
    }
}

/// `expected.json`, parsed once.
pub fn expected() -> &'static serde_json::Value {
    static V: OnceLock<serde_json::Value> = OnceLock::new();
    V.get_or_init(|| {
        let text = std::fs::read_to_string(tiny().join("expected.json")).expect("expected.json");
        serde_json::from_str(&text).expect("expected.json parses")
    })
}

/// Runs `checks` on a thread pool of its own with `threads` threads, as on a server with that
/// many cores: our kernels and burn's flex backend split their work by
/// `rayon::current_num_threads()` (images, column blocks, partial sums per thread).
#[cfg(feature = "flex")]
pub fn on_threads(threads: usize, checks: impl FnOnce() + Send) {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
        .install(|| {
            assert_eq!(rayon::current_num_threads(), threads);
            checks()
        });
}
