//! Automatic mixed precision for the operations of [`ops`](super::ops): Lightning's
//! `precision = "bf16-mixed"`, which is PyTorch's `torch.autocast(dtype=torch.bfloat16)`.
//!
//! Inside a [`scope`] with a compute dtype (bf16):
//!
//! - the matrix operations, [`ops::linear`](super::ops::linear),
//!   [`ops::conv2d`](super::ops::conv2d) and [`ops::matmul`](super::ops::matmul) (and their
//!   layer forms), cast their inputs, weights included, to it ([`to_compute`]) and return their
//!   output in it: the kernels accumulate in f32 and round once, as cuBLAS does for PyTorch
//!   (on flex, our linear and convolution kernels round operands and results to bf16 but keep
//!   them in f32 tensors: see [`ops`](super::ops));
//! - normalizations ([`ops::layer_norm_layer`](super::ops::layer_norm_layer),
//!   [`ops::group_norm_layer`](super::ops::group_norm_layer)),
//!   [`ops::softmax`](super::ops::softmax) and [`ops::log_softmax`](super::ops::log_softmax)
//!   cast their input to f32 and compute in f32 ([`to_full`]), and so do the policies on their
//!   outputs, so the objectives' losses are f32;
//! - [`ops::add`](super::ops::add) of an f32 and a bf16 tensor gives f32 ([`promote`], PyTorch's
//!   type promotion: a residual stream stays f32).
//!
//! The casts are burn's differentiable [`Tensor::cast`]: the backward pass casts each gradient
//! back to the dtype its tensor was cast from, so f32 parameters get f32 gradients (and AdamW
//! f32 moments). Outside a scope nothing is cast: f32 training, and `bf16-pure` (where every
//! tensor is already bf16), compute exactly as without this module.
//!
//! The scope is a value of the calling thread, held by a guard, not a process-wide switch: the
//! trainer opens it around the policy's forward and the objectives (training and validation
//! steps, as Lightning's autocast covers `training_step`) and it ends when the guard drops,
//! unwinding included; the backward pass runs after it. A thread-local rather than a field of
//! the device or an argument: burn's devices are shared by every trainer of a process (and
//! their default dtype can be set only once), `Policy::forward` takes no precision, and trainers
//! of different precisions run side by side on the threads of one process (the tests do). The
//! operations read it on the calling thread, before any work goes to a thread pool; a policy
//! that runs its own forward on other threads must open a scope there.

use std::cell::Cell;

use burn::tensor::{DType, FloatDType, Tensor};

use super::thread_scope::ThreadScope;

thread_local! {
    /// The compute dtype of this thread's innermost open scope.
    static COMPUTE: Cell<Option<FloatDType>> = const { Cell::new(None) };
}

/// The compute dtype of the calling thread's open scope, or `None` outside any scope (or in a
/// scope opened with `None`).
pub fn current() -> Option<FloatDType> {
    COMPUTE.with(Cell::get)
}

/// Opens a scope in which the operations of [`ops`](super::ops) compute their matrix products
/// in `dtype` (`None`: no autocast, e.g. to run an f32 part inside an autocast forward). The
/// previous setting comes back when the returned guard drops.
///
/// ```
/// use burn::tensor::{DType, Device, FloatDType, Tensor};
/// use mine_runtime::kernels::{autocast, ops};
///
/// let device = Device::flex();
/// let x = Tensor::<2>::ones([2, 3], &device);
/// let w = Tensor::<2>::full([3, 4], 1.0 + 1.0 / 1024.0, &device);
/// let values = |t: Tensor<2>| t.cast(FloatDType::F32).into_data().try_to_vec::<f32>().unwrap();
/// {
///     let _bf16 = autocast::scope(Some(FloatDType::BF16));
///     // bf16 keeps 8 significant bits: the weights round to 1.
///     assert_eq!(values(ops::linear(x.clone(), w.clone(), None)), vec![3.0; 8]);
///     assert_eq!(ops::softmax(x.clone(), 1).dtype(), DType::F32);
/// }
/// assert_eq!(autocast::current(), None);
/// assert_eq!(values(ops::linear(x, w, None)), vec![3.0 + 3.0 / 1024.0; 8]);
/// ```
pub fn scope(dtype: Option<FloatDType>) -> AutocastScope {
    ThreadScope::enter(&COMPUTE, dtype)
}

/// An open autocast scope (see [`scope`]); dropping it restores the previous setting. Tied to
/// the thread that opened it (not `Send`).
pub type AutocastScope = ThreadScope<Option<FloatDType>>;

/// `t` cast to the scope's compute dtype (the inputs of matrix operations); unchanged outside a
/// scope.
pub fn to_compute<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    match current() {
        Some(dtype) => t.cast(dtype),
        None => t,
    }
}

/// `t` cast to f32 inside a scope (the inputs of normalizations and softmaxes, and the outputs
/// of a policy); unchanged outside one.
pub fn to_full<const D: usize>(t: Tensor<D>) -> Tensor<D> {
    match current() {
        Some(_) => t.cast(FloatDType::F32),
        None => t,
    }
}

/// `a` and `b` in one dtype, for an elementwise operation between them: unchanged when they
/// agree, otherwise both in the wider one (f64 if either is, else f32), as PyTorch promotes.
pub fn promote<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> (Tensor<D>, Tensor<D>) {
    let target = match (a.dtype(), b.dtype()) {
        (x, y) if x == y => return (a, b),
        (DType::F64, _) | (_, DType::F64) => FloatDType::F64,
        _ => FloatDType::F32,
    };
    (a.cast(target), b.cast(target))
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::tensor::ops::ConvOptions;
    use burn::tensor::{Device, Distribution};

    use super::*;
    use crate::kernels::ops;

    #[test]
    fn scopes_nest_and_restore_on_drop_and_unwind() {
        assert_eq!(current(), None);
        {
            let _outer = scope(Some(FloatDType::BF16));
            assert_eq!(current(), Some(FloatDType::BF16));
            {
                let _off = scope(None);
                assert_eq!(current(), None);
            }
            assert_eq!(current(), Some(FloatDType::BF16));
            // Another thread has its own setting.
            std::thread::spawn(|| assert_eq!(current(), None))
                .join()
                .unwrap();
        }
        assert_eq!(current(), None);
        let unwound = std::panic::catch_unwind(|| {
            let _bf16 = scope(Some(FloatDType::BF16));
            panic!("a failing forward");
        });
        assert!(unwound.is_err());
        assert_eq!(current(), None, "a panic inside the scope closes it");
    }

    #[test]
    fn casts_apply_only_inside_a_scope() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([1.0, 1.0 + 1.0 / 1024.0], &device);
        assert_eq!(to_compute(x.clone()).dtype(), DType::F32);
        let _bf16 = scope(Some(FloatDType::BF16));
        let rounded = to_compute(x.clone());
        assert_eq!(rounded.dtype(), DType::BF16);
        // bf16 keeps 8 significant bits: 1 + 2^-10 rounds to 1.
        let back = to_full(rounded).into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(back, vec![1.0, 1.0]);
        let (a, b) = promote(x.clone().cast(FloatDType::BF16), x);
        assert_eq!((a.dtype(), b.dtype()), (DType::F32, DType::F32));
    }

    /// Values of `t` as f32.
    fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.cast(FloatDType::F32)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    }

    /// `ours` is bf16-valued and within `ulps` bf16 units (2^-7 relative: one rounding the other
    /// way) of the largest magnitude of `theirs`.
    fn assert_bf16_close(ours: &[f32], theirs: &[f32], ulps: f32, what: &str) {
        let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert_eq!(
                crate::kernels::cpu::bf16::round(*a),
                *a,
                "{what}[{i}] is not bf16"
            );
            let tolerance = ulps * scale / 128.0;
            assert!(
                (a - b).abs() <= tolerance,
                "{what}[{i}]: {a} vs {b} (±{tolerance})"
            );
        }
    }

    /// The linear kernel in a bf16 scope against burn's bf16 linear: output and gradients.
    #[test]
    fn our_linear_in_a_scope_computes_what_burns_bf16_linear_computes() {
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.0, 1.0);
        let [rows, d_in, d_out] = [32, 256, 1024];
        let x = Tensor::<2>::random([rows, d_in], normal, &device).require_grad();
        let w = Tensor::<2>::random([d_in, d_out], normal, &device).require_grad();
        let b = Tensor::<1>::random([d_out], normal, &device).require_grad();
        let up = Tensor::<2>::random([rows, d_out], normal, &device);
        let bf16 = |t: Tensor<2>| t.cast(FloatDType::BF16);
        let theirs = burn::tensor::module::linear(
            bf16(x.clone()),
            bf16(w.clone()),
            Some(b.clone().cast(FloatDType::BF16)),
        )
        .cast(FloatDType::F32);
        let theirs_grads = (theirs.clone() * up.clone()).sum().backward();
        let ours = {
            let _bf16 = scope(Some(FloatDType::BF16));
            ops::linear(x.clone(), w.clone(), Some(b.clone()))
        };
        assert_eq!(ours.dtype(), DType::F32);
        let ours_grads = (ours.clone() * up).sum().backward();
        assert_bf16_close(&values(ours), &values(theirs), 1.0, "linear");
        let pairs = [
            (x.grad(&ours_grads), x.grad(&theirs_grads), "x"),
            (w.grad(&ours_grads), w.grad(&theirs_grads), "weight"),
        ];
        for (o, t, name) in pairs {
            assert_bf16_close(&values(o.unwrap()), &values(t.unwrap()), 2.0, name);
        }
        let (o, t) = (b.grad(&ours_grads).unwrap(), b.grad(&theirs_grads).unwrap());
        assert_bf16_close(&values(o), &values(t), 2.0, "bias");
    }

    /// Our kernels in a bf16 scope against burn's ops on bf16 tensors (casts to bf16 and
    /// back, as autocast without our kernels): outputs and every gradient.
    #[test]
    fn our_kernels_in_a_scope_compute_what_burns_bf16_ops_compute() {
        let device = Device::flex().autodiff();
        let normal = Distribution::Normal(0.0, 1.0);
        let options = ConvOptions::new_with_padding([1, 1], [(1, 1), (1, 1)], [1, 1], 1);
        // Widths: two rows per register (12, 8), one register (32), a register and a part (34).
        for [c_in, c_out, side] in [[3, 16, 12], [16, 16, 32], [16, 32, 8], [8, 5, 34]] {
            let leaf = |t: Tensor<4>| t.require_grad();
            let x = leaf(Tensor::<4>::random([2, c_in, side, side], normal, &device));
            let w = leaf(Tensor::<4>::random([c_out, c_in, 3, 3], normal, &device));
            let b = Tensor::<1>::random([c_out], normal, &device).require_grad();
            let up = Tensor::<4>::random([2, c_out, side, side], normal, &device);
            let bf16 = |t: Tensor<4>| t.cast(FloatDType::BF16);
            let theirs = burn::tensor::module::conv2d(
                bf16(x.clone()),
                bf16(w.clone()),
                Some(b.clone().cast(FloatDType::BF16)),
                options.clone(),
            )
            .cast(FloatDType::F32);
            let theirs_grads = (theirs.clone() * up.clone()).sum().backward();
            let ours = {
                let _bf16 = scope(Some(FloatDType::BF16));
                ops::conv2d(x.clone(), w.clone(), Some(b.clone()), options.clone())
            };
            assert_eq!(ours.dtype(), DType::F32, "f32 tensors holding bf16 values");
            let ours_grads = (ours.clone() * up).sum().backward();
            let what = format!("{c_in}->{c_out} @{side}");
            assert_bf16_close(&values(ours), &values(theirs), 1.0, &what);
            let bias_values = |t: Tensor<1>| values(t.reshape([1, 1, 1, c_out]));
            let ours_grads = [
                values(x.grad(&ours_grads).unwrap()),
                values(w.grad(&ours_grads).unwrap()),
                bias_values(b.grad(&ours_grads).unwrap()),
            ];
            let theirs_grads = [
                values(x.grad(&theirs_grads).unwrap()),
                values(w.grad(&theirs_grads).unwrap()),
                bias_values(b.grad(&theirs_grads).unwrap()),
            ];
            for (name, (o, t)) in ["x", "weight", "bias"]
                .iter()
                .zip(ours_grads.iter().zip(&theirs_grads))
            {
                assert_bf16_close(o, t, 2.0, &format!("{what} grad {name}"));
            }
        }
    }
}
