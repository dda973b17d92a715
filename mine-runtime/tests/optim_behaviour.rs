//! Gradient accumulation, exact resume of the optimizer state, and the step API's edge cases.

mod common;

use std::path::PathBuf;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor};
use common::*;
use mine_runtime::optim::{OPTIMIZER_FILE, OptimError, OptimStep, OptimizerConfig, StepReport};

/// Six rows of inputs and targets; batch `step` of a deterministic stream.
struct Batch {
    x: Tensor<2>,
    y: Tensor<2>,
}

impl Batch {
    fn new(device: &Device, step: usize) -> Self {
        let seed = step as f32;
        let x: Vec<f32> = (0..24)
            .map(|i| (i as f32 * 0.37 + seed).sin() * 2.0)
            .collect();
        let y: Vec<f32> = (0..18).map(|i| (i as f32 * 0.53 - seed).cos()).collect();
        Self {
            x: tensor2(&x, [6, 4], device),
            y: tensor2(&y, [6, 3], device),
        }
    }

    /// Rows 0..3 (`which = 0`) or 3..6 (`which = 1`).
    fn half(&self, which: usize) -> (Tensor<2>, Tensor<2>) {
        let rows = which * 3..which * 3 + 3;
        (
            self.x.clone().slice([rows.clone(), 0..4]),
            self.y.clone().slice([rows, 0..3]),
        )
    }
}

fn model(device: &Device) -> Linear {
    let w: Vec<f32> = (0..12).map(|i| (i as f32 * 0.7).sin() * 0.5).collect();
    linear_from_torch(&w, [3, 4], &[0.1, -0.2, 0.05], device)
}

fn config(k: usize) -> OptimizerConfig {
    OptimizerConfig {
        learning_rate: 1e-2,
        warmup_steps: 3,
        gradient_clip_val: Some(1.0),
        accumulate_grad_batches: k,
        ..OptimizerConfig::default()
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mine-optim-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One full-batch optimizer step.
fn full_step(optim: &mut OptimStep, model: Linear, batch: &Batch) -> (Linear, StepReport) {
    let loss = mse(&model, batch.x.clone(), batch.y.clone());
    let (model, report) = optim.backward_step(model, loss).unwrap();
    (model, report.expect("k = 1 steps on every batch"))
}

#[test]
fn accumulating_two_halves_equals_one_full_batch_step() {
    let device = Device::flex().autodiff();
    let mut full = model(&device);
    let mut acc = full.clone();
    let mut optim_full = OptimStep::new(config(1), None).unwrap();
    let mut optim_acc = OptimStep::new(config(2), None).unwrap();
    assert_eq!(optim_acc.loss_scale(), 0.5);

    for step in 0..5 {
        let batch = Batch::new(&device, step);
        let (next, report_full) = full_step(&mut optim_full, full, &batch);
        full = next;

        let before = torch_params(&acc);
        let (x, y) = batch.half(0);
        let loss = mse(&acc, x, y);
        let (next, report) = optim_acc.backward_step(acc, loss).unwrap();
        acc = next;
        assert!(
            report.is_none(),
            "no optimizer step after one of two batches"
        );
        assert_eq!(optim_acc.pending_batches(), 1);
        assert_eq!(
            optim_acc.optimizer_steps(),
            step,
            "schedule advances per optimizer step"
        );
        assert_eq!(
            torch_params(&acc),
            before,
            "parameters unchanged mid-window"
        );

        let (x, y) = batch.half(1);
        let loss = mse(&acc, x, y);
        let (next, report) = optim_acc.backward_step(acc, loss).unwrap();
        acc = next;
        let report = report.expect("second batch completes the window");
        assert_eq!(report.step, step);
        assert_eq!(report.batches, 2);
        assert_eq!(report.lr, report_full.lr);
        assert_eq!(report.clipped, report_full.clipped);
        let norm_err = (report.grad_norm_before_clip - report_full.grad_norm_before_clip).abs();
        assert!(
            norm_err <= 1e-5 * report_full.grad_norm_before_clip,
            "step {step}: {report:?} vs {report_full:?}"
        );
        let (w_acc, b_acc) = torch_params(&acc);
        let (w_full, b_full) = torch_params(&full);
        assert_close(&format!("step {step} weight"), &w_acc, &w_full, 1e-5);
        assert_close(&format!("step {step} bias"), &b_acc, &b_full, 1e-5);
    }
    assert_eq!(optim_acc.optimizer_steps(), 5);
    assert_eq!(optim_acc.lr(), optim_full.lr());
}

#[test]
fn flush_applies_an_incomplete_window() {
    let device = Device::flex().autodiff();
    let mut optim = OptimStep::new(config(3), None).unwrap();
    let model = model(&device);
    let (model, none) = optim.flush(model);
    assert!(none.is_none(), "nothing pending, nothing applied");

    let batch = Batch::new(&device, 0);
    let mut model = model;
    for which in 0..2 {
        let (x, y) = batch.half(which);
        let loss = mse(&model, x, y);
        let (next, report) = optim.backward_step(model, loss).unwrap();
        model = next;
        assert!(report.is_none());
    }
    let before = torch_params(&model);
    let (model, report) = optim.flush(model);
    let report = report.expect("two pending batches are applied");
    assert_eq!((report.step, report.batches), (0, 2));
    assert_eq!(optim.pending_batches(), 0);
    assert_eq!(optim.optimizer_steps(), 1);
    assert_ne!(torch_params(&model), before);
}

#[test]
fn resumed_optimizer_continues_bit_identically() {
    let device = Device::flex().autodiff();
    let dir = temp_dir("resume");
    let mut optim = OptimStep::new(config(1), None).unwrap();
    let mut model = model(&device);
    for step in 0..4 {
        model = full_step(&mut optim, model, &Batch::new(&device, step)).0;
    }
    optim.save(&dir).unwrap();
    model.clone().save_file(dir.join("model.bpk")).unwrap();

    // A fresh optimizer and a freshly initialised module, both loaded from files.
    let mut restored = OptimStep::new(config(1), None).unwrap().load(&dir).unwrap();
    assert_eq!(restored.optimizer_steps(), 4);
    assert_eq!(restored.lr(), optim.lr());
    let fresh = burn::nn::LinearConfig::new(4, 3).init(&device);
    let mut restored_model = fresh.try_load_file(dir.join("model.bpk")).unwrap();
    assert_eq!(torch_params(&restored_model), torch_params(&model));

    for step in 4..9 {
        let batch = Batch::new(&device, step);
        let (next, report) = full_step(&mut optim, model, &batch);
        model = next;
        let (next, report_restored) = full_step(&mut restored, restored_model, &batch);
        restored_model = next;
        assert_eq!(report, report_restored, "step {step}");
        assert_eq!(
            torch_params(&model),
            torch_params(&restored_model),
            "step {step}: bit-identical"
        );
    }

    // A fresh optimizer without the state diverges: the moments matter.
    let mut cold = OptimStep::new(config(1), None).unwrap();
    let cold_model = full_step(&mut cold, model.clone(), &Batch::new(&device, 9)).0;
    let warm_model = full_step(&mut optim, model, &Batch::new(&device, 9)).0;
    assert_ne!(torch_params(&cold_model), torch_params(&warm_model));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn save_refuses_pending_gradients_and_load_names_missing_files() {
    let device = Device::flex().autodiff();
    let dir = temp_dir("errors");
    let mut optim = OptimStep::new(config(2), None).unwrap();
    let model = model(&device);
    let batch = Batch::new(&device, 0);
    let loss = mse(&model, batch.x.clone(), batch.y.clone());
    let (_model, _) = optim.backward_step(model, loss).unwrap();
    let err = optim.save(&dir).unwrap_err();
    assert!(
        matches!(err, OptimError::PendingAccumulation { pending: 1 }),
        "{err}"
    );

    let missing = dir.join("does-not-exist");
    let err = OptimStep::new(config(2), None)
        .unwrap()
        .load(&missing)
        .unwrap_err();
    assert!(matches!(err, OptimError::Load { .. }), "{err}");
    assert!(err.to_string().contains("lr_schedule.bpk"), "{err}");

    // Schedule present, optimizer file missing.
    let fresh = OptimStep::new(config(1), None).unwrap();
    fresh.save(&dir).unwrap();
    std::fs::remove_file(dir.join(OPTIMIZER_FILE)).unwrap();
    let err = OptimStep::new(config(1), None)
        .unwrap()
        .load(&dir)
        .unwrap_err();
    assert!(err.to_string().contains(OPTIMIZER_FILE), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn untracked_loss_is_an_error_not_a_panic() {
    let device = Device::flex();
    let model = model(&device);
    let batch = Batch::new(&device, 0);
    let loss = mse(&model, batch.x.clone(), batch.y.clone());
    let mut optim = OptimStep::new(config(1), None).unwrap();
    let err = optim.backward_step(model, loss).unwrap_err();
    assert!(matches!(err, OptimError::UntrackedLoss), "{err}");
}

#[test]
fn without_clipping_the_norm_is_still_reported() {
    let device = Device::flex().autodiff();
    let mut optim = OptimStep::new(
        OptimizerConfig {
            gradient_clip_val: None,
            ..config(1)
        },
        None,
    )
    .unwrap();
    let model = model(&device);
    let batch = Batch::new(&device, 0);
    let loss = mse(&model, batch.x.clone(), batch.y.clone());
    let grads = loss.backward();
    let expected = {
        let w = model.weight.val().grad(&grads).unwrap();
        let b = model.bias.as_ref().unwrap().val().grad(&grads).unwrap();
        let sq: f32 = values(w)
            .iter()
            .chain(values(b).iter())
            .map(|g| g * g)
            .sum();
        f64::from(sq.sqrt())
    };
    let (_model, report) = optim.step(model, grads);
    let report = report.unwrap();
    assert!(!report.clipped);
    assert!((report.grad_norm_before_clip - expected).abs() <= 1e-6 * expected);
    assert!(
        report.grad_norm_before_clip > 1.0,
        "would have been clipped at 1.0"
    );
}

#[test]
fn clipping_leaves_small_gradients_untouched() {
    use burn::optim::GradientsParams;
    use mine_runtime::optim::{clip_grad_norm, grad_norm};

    let device = Device::flex().autodiff();
    let model = model(&device);
    let batch = Batch::new(&device, 0);
    let loss = mse(&model, batch.x.clone(), batch.y.clone());
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    let before = values(grads.get::<2>(model.weight.id).unwrap());
    let norm = grad_norm(&model, &grads);
    let report = clip_grad_norm(&model, &mut grads, norm * 2.0);
    assert!(!report.clipped);
    assert_eq!(report.coef, 1.0);
    assert_eq!(report.total_norm, norm);
    assert_eq!(values(grads.get::<2>(model.weight.id).unwrap()), before);

    let report = clip_grad_norm(&model, &mut grads, norm / 4.0);
    assert!(report.clipped);
    let after = grad_norm(&model, &grads);
    assert!(
        (after - norm / 4.0).abs() <= 1e-5 * after,
        "{after} vs {}",
        norm / 4.0
    );
}

#[test]
fn the_device_step_reads_nothing_and_its_report_reads_once() {
    use mine_runtime::sync;

    let device = Device::flex().autodiff();
    let mut host = OptimStep::new(config(1), None).unwrap();
    let mut on_device = OptimStep::new(config(1), None).unwrap();
    let (mut a, mut b) = (model(&device), model(&device));
    for step in 0..3 {
        let batch = Batch::new(&device, step);
        let (next, expected) = full_step(&mut host, a, &batch);
        a = next;

        let loss = mse(&b, batch.x.clone(), batch.y.clone());
        let grads = burn::optim::GradientsParams::from_grads(loss.backward(), &b);
        let before = sync::reads();
        let (next, report) = on_device.step_params_on_device(b, grads);
        b = next;
        assert_eq!(sync::reads().since(&before).reads(), 0, "step {step}");
        let report = report.expect("k = 1 steps on every batch").read();
        assert_eq!(sync::reads().since(&before).optimizer, 1, "one read");
        // Clipping on the device is the host computation, bit for bit.
        assert_eq!(report, expected, "step {step}");
        assert_eq!(torch_params(&a), torch_params(&b), "step {step}");
    }
}

#[test]
fn a_non_finite_norm_propagates_into_the_gradients_as_in_pytorch() {
    use burn::optim::GradientsParams;
    use mine_runtime::optim::clip_grad_norm;

    let device = Device::flex().autodiff();
    let model = model(&device);
    let batch = Batch::new(&device, 0);
    let loss = mse(&model, batch.x.clone(), batch.y.clone()).mul_scalar(f32::NAN);
    let mut grads = GradientsParams::from_grads(loss.backward(), &model);
    let report = clip_grad_norm(&model, &mut grads, 1.0);
    assert!(report.total_norm.is_nan() && report.coef.is_nan() && report.clipped);
    let grad = values(grads.get::<2>(model.weight.id).unwrap());
    assert!(grad.iter().all(|g| g.is_nan()));
}

#[test]
fn device_clipping_is_the_host_formula_bit_for_bit() {
    use burn::optim::GradientsParams;
    use mine_runtime::optim::{clip_grad_norm_on_device, grad_norm};

    let device = Device::flex().autodiff();
    let model = model(&device);
    for max_norm in [0.05, 0.3, 1e3] {
        let batch = Batch::new(&device, 1);
        let loss = mse(&model, batch.x.clone(), batch.y.clone());
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let raw = values(grads.get::<2>(model.weight.id).unwrap());
        let total = grad_norm(&model, &grads) as f32;
        // `torch.nn.utils.clip_grad_norm_` in f32: reciprocal(total + 1e-6) * max_norm, clamped.
        let coef = ((1.0 / (total + 1e-6_f32)) * max_norm as f32).min(1.0);
        let clip = clip_grad_norm_on_device(&model, &mut grads, max_norm).unwrap();
        assert_eq!(values(clip.coef), [coef], "max_norm {max_norm}");
        let clipped = values(grads.get::<2>(model.weight.id).unwrap());
        let expected: Vec<f32> = raw.iter().map(|g| g * coef).collect();
        assert_eq!(clipped, expected, "max_norm {max_norm}");
    }
}
