//! Reproduces `golden/adamw_lambdalr.json`: PyTorch AdamW + LambdaLR warmup + global-norm
//! clipping on a Linear(4, 3), 10 steps, every per-step quantity within 1e-5 relative.

mod common;

use burn::optim::GradientsParams;
use burn::tensor::Device;
use common::*;
use mine_runtime::optim::{LrSchedule, OptimStep, OptimizerConfig, TorchAdamW, clip_grad_norm};

const REL: f64 = 1e-5;

fn config(golden: &serde_json::Value) -> OptimizerConfig {
    let hyper = &golden["hyper"];
    assert_eq!(hyper["amsgrad"], false);
    OptimizerConfig {
        learning_rate: hyper["lr"].as_f64().unwrap(),
        weight_decay: hyper["weight_decay"].as_f64().unwrap(),
        // Decimals in the JSON, taken in double precision as PyTorch holds them.
        betas: (
            hyper["betas"][0].as_f64().unwrap(),
            hyper["betas"][1].as_f64().unwrap(),
        ),
        eps: hyper["eps"].as_f64().unwrap(),
        warmup_steps: hyper["warmup_steps"].as_u64().unwrap() as usize,
        decay: None,
        gradient_clip_val: Some(hyper["clip_grad_norm_max"].as_f64().unwrap()),
        accumulate_grad_batches: 1,
    }
}

#[test]
fn adamw_lambdalr_clip_matches_pytorch() {
    let golden = golden("adamw_lambdalr.json");
    let config = config(&golden);
    let device = Device::flex().autodiff();
    let (w0, w_shape) = matrix(&golden["init"]["weight"]);
    let b0 = floats(&golden["init"]["bias"]);
    let (x, x_shape) = matrix(&golden["data"]["x"]);
    let (y, y_shape) = matrix(&golden["data"]["y"]);
    let x = tensor2(&x, x_shape, &device);
    let y = tensor2(&y, y_shape, &device);

    // Path A: the trainer's API.
    let mut model = linear_from_torch(&w0, w_shape, &b0, &device);
    let mut optim = OptimStep::new(config.clone(), None).unwrap();
    // Path B: the public building blocks, step by step, to see the clipped gradients.
    let mut model_b = model.clone();
    let mut adamw = TorchAdamW::from_config(&config).into_module_optimizer();
    let mut schedule = LrSchedule::new(&config, None).unwrap();

    let steps = golden["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10);
    for (i, expected) in steps.iter().enumerate() {
        let lr = expected["lr"].as_f64().unwrap();
        let (gw, gw_shape) = matrix(&expected["clipped_grads"]["weight"]);
        let (w_after, _) = matrix(&expected["weight_after"]);
        let b_after = floats(&expected["bias_after"]);

        // A: one call does backward, clip, AdamW and the schedule.
        let loss = mse(&model, x.clone(), y.clone());
        let loss_value = values(loss.clone())[0];
        assert_close(
            &format!("step {i} loss"),
            &[loss_value],
            &[expected["loss"].as_f64().unwrap() as f32],
            REL,
        );
        let (next, report) = optim.backward_step(model, loss).unwrap();
        model = next;
        let report = report.expect("k = 1 steps on every batch");
        assert_eq!(report.step, i);
        assert_eq!(report.batches, 1);
        assert!(
            (report.lr - lr).abs() <= 1e-12 * lr,
            "step {i} lr {} != {lr}",
            report.lr
        );
        let norm = expected["grad_norm_before_clip"].as_f64().unwrap();
        assert!(
            (report.grad_norm_before_clip - norm).abs() <= REL * norm,
            "step {i} grad norm {} != {norm}",
            report.grad_norm_before_clip
        );
        assert!(report.clipped, "the golden norms all exceed 1.0");
        let (w, b) = torch_params(&model);
        assert_close(&format!("step {i} weight"), &w, &w_after, REL);
        assert_close(&format!("step {i} bias"), &b, &b_after, REL);

        // B: same step from the pieces; check the clipped gradients too.
        let loss = mse(&model_b, x.clone(), y.clone());
        let mut grads = GradientsParams::from_grads(loss.backward(), &model_b);
        let clip = clip_grad_norm(&model_b, &mut grads, 1.0);
        assert!(clip.clipped && clip.coef < 1.0);
        assert_eq!(clip.total_norm, report.grad_norm_before_clip);
        let grad_w = values(grads.get::<2>(model_b.weight.id).unwrap());
        let grad_b = values(grads.get::<1>(model_b.bias.as_ref().unwrap().id).unwrap());
        let grad_w = transpose(&grad_w, [gw_shape[1], gw_shape[0]]);
        assert_close(&format!("step {i} clipped weight grad"), &grad_w, &gw, REL);
        assert_close(
            &format!("step {i} clipped bias grad"),
            &grad_b,
            &floats(&expected["clipped_grads"]["bias"]),
            REL,
        );
        let lr_b = burn::lr_scheduler::LrScheduler::step(&mut schedule);
        assert_eq!(lr_b, report.lr);
        model_b = adamw.step(lr_b, model_b, grads);
        let (wb, bb) = torch_params(&model_b);
        assert_eq!(
            (&wb, &bb),
            (&w, &b),
            "step {i}: both paths are the same computation"
        );
    }

    let (w_final, _) = matrix(&golden["final"]["weight"]);
    let (w, b) = torch_params(&model);
    assert_close("final weight", &w, &w_final, REL);
    assert_close("final bias", &b, &floats(&golden["final"]["bias"]), REL);
    println!(
        "max relative error after 10 steps: weight {:e}, bias {:e}",
        max_rel_err(&w, &w_final, 1e-3),
        max_rel_err(&b, &floats(&golden["final"]["bias"]), 1e-3)
    );
}
