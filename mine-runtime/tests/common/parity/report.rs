//! Comparisons of our outputs, memories, losses and gradient norms with the golden ones,
//! collected into a report of the worst relative errors.

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};
use mine_dsl::latent::PiLogits;
use mine_dsl::experiment::StepLosses;
use mine_runtime::policies::torch_names::{TorchParameter, torch_parameters};
use mine_runtime::policies::vpt::VptMemory;
use serde_json::Value;

use super::golden::{flatten, int, values};

/// Relative error of a tensor: `max_i |got_i - want_i| / max_i |want_i|` (plain relative
/// error for a scalar). The golden values are float32 results, so `want` is taken at float32
/// precision.
pub fn rel_err(got: &[f64], want: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len(), "length mismatch");
    let want: Vec<f64> = want.iter().map(|w| *w as f32 as f64).collect();
    let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs())).max(1e-30);
    let diff = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    diff / scale
}

/// Records the worst relative error seen per check and asserts it stays within `tol`.
pub struct Report {
    tol: f64,
    pub rows: Vec<(String, f64)>,
}

impl Report {
    pub fn new(tol: f64) -> Self {
        Self {
            tol,
            rows: Vec::new(),
        }
    }

    pub fn check(&mut self, name: &str, got: &[f64], want: &[f64]) {
        let err = rel_err(got, want);
        self.rows.push((name.to_string(), err));
    }

    /// [`check`](Self::check) with the error taken relative to at least `floor`: for values
    /// that are zero in exact arithmetic, where both sides hold rounding noise.
    pub fn check_floor(&mut self, name: &str, got: &[f64], want: &[f64], floor: f64) {
        let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        let err = rel_err(got, want) * scale.max(1e-30) / scale.max(floor);
        self.rows.push((name.to_string(), err));
    }

    pub fn finish(self, title: &str) {
        println!("{title}:");
        for (name, err) in &self.rows {
            println!("  {name:<68} rel err {err:.3e}");
        }
        let bad: Vec<_> = self
            .rows
            .iter()
            .filter(|(_, e)| e.is_nan() || *e > self.tol)
            .collect();
        assert!(bad.is_empty(), "{title}: beyond {:e}: {bad:?}", self.tol);
    }
}

/// A tensor after training against the reference's values, by norm and by sum. A sum can be
/// near zero, so its error is taken relative to the largest sum the same norm allows
/// (`sqrt(numel) * norm`).
pub fn check_sum_and_norm(report: &mut Report, name: &str, got: &[f64], want: &[f64]) {
    let sum = |v: &[f64]| v.iter().sum::<f64>();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    check_sum_and_norm_of(report, name, (sum(got), norm(got)), (sum(want), norm(want)), got.len());
}

/// [`check_sum_and_norm`] from the sums and norms of `numel` values.
pub fn check_sum_and_norm_of(
    report: &mut Report,
    name: &str,
    (sum, norm): (f64, f64),
    (want_sum, want_norm): (f64, f64),
    numel: usize,
) {
    report.check(&format!("{name} norm"), &[norm], &[want_norm]);
    let scale = (numel as f64).sqrt() * want_norm;
    let sum_err = if scale > 0.0 {
        (sum - want_sum).abs() / scale
    } else {
        (sum - want_sum).abs()
    };
    report
        .rows
        .push((format!("{name} sum (of sqrt(n)*norm)"), sum_err));
}

/// A memory against its recorded `[mask, keys, values]` list: masks equal, keys and values
/// within the report's tolerance.
pub fn compare_memory(
    report: &mut Report,
    step: usize,
    tag: &str,
    got: &VptMemory,
    want: &Value,
) {
    let want = want.as_array().expect("memory list");
    assert_eq!(want.len(), 3 * got.blocks.len());
    for (i, block) in got.blocks.iter().enumerate() {
        let (mask_want, _) = flatten(&want[3 * i]["values"]);
        let mask_got: Vec<f64> = block
            .mask
            .clone()
            .into_data()
            .try_into_vec_as::<bool>()
            .expect("bool data")
            .into_iter()
            .map(|b| if b { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(mask_got, mask_want, "step {step} {tag} block {i} mask");
        for (j, (name, t)) in [("keys", &block.keys), ("values", &block.values)]
            .into_iter()
            .enumerate()
        {
            let (w, _) = flatten(&want[3 * i + 1 + j]["values"]);
            report.check(
                &format!("step {step} {tag} block {i} {name}"),
                &values(t.clone()),
                &w,
            );
        }
    }
}

/// The heads' outputs against a step's `vpred`, `pi_logits_camera` and button probes.
pub fn compare_outputs(
    report: &mut Report,
    step: &Value,
    inputs: &Value,
    (pi_logits, vpred): (&PiLogits, &Tensor<3>),
    device: &Device,
) {
    let s = step["step"].as_u64().unwrap();
    let (want_vpred, _) = flatten(&step["vpred"]);
    report.check(
        &format!("step {s} vpred"),
        &values(vpred.clone()),
        &want_vpred,
    );
    let (cam, _) = flatten(&step["pi_logits_camera"]);
    report.check(
        &format!("step {s} pi_logits camera"),
        &values(pi_logits.camera.clone()),
        &cam,
    );
    let buttons = pi_logits.buttons.clone();
    let probe: Tensor<1, Int> = int(&step["pi_logits_buttons_probe_idx"], device);
    let (want, _) = flatten(&step["pi_logits_buttons_at_probe"]);
    report.check(
        &format!("step {s} buttons at probe idx"),
        &values(buttons.clone().select(3, probe)),
        &want,
    );
    let labels: Tensor<3, Int> = int(&inputs["agent_action_buttons"], device);
    let [b, t, _] = labels.dims();
    let (want, _) = flatten(&step["pi_logits_buttons_at_label"]);
    report.check(
        &format!("step {s} buttons at label"),
        &values(buttons.clone().gather(3, labels.reshape([b, t, 1, 1]))),
        &want,
    );
    let (want, _) = flatten(&step["pi_logits_buttons_max"]);
    report.check(
        &format!("step {s} buttons max"),
        &values(buttons.clone().max_dim(3)),
        &want,
    );
    let (want, _) = flatten(&step["pi_logits_buttons_argmax"]);
    let got: Vec<f64> = buttons
        .argmax(3)
        .into_data()
        .try_into_vec_as::<i64>()
        .unwrap()
        .into_iter()
        .map(|x| x as f64)
        .collect();
    assert_eq!(got, want, "step {s} buttons argmax");
}

/// Checks the losses MineStudio logged for a step (the object holding `loss`,
/// `camera_loss`, ...); returns the total to differentiate.
pub fn check_losses(
    report: &mut Report,
    s: usize,
    losses: StepLosses,
    logged: &Value,
) -> Tensor<1> {
    let metrics = losses.metric_values();
    for name in ["loss", "camera_loss", "button_loss", "entropy"] {
        let want = logged[name].as_f64().unwrap();
        report.check(&format!("step {s} {name}"), &[metrics[name]], &[want]);
    }
    losses.total
}

/// Per-parameter gradient norms (where recorded) and the global norm of a step.
///
/// A parameter's norm is compared relative to at least 1e-3 of the global norm: some
/// gradients are zero in exact arithmetic (a BatchNorm shift whose output feeds another
/// BatchNorm in training mode, which removes any per-channel constant) and both sides hold
/// float32 rounding noise around 1e-6 there.
pub fn compare_grad_norms<M: Module>(
    report: &mut Report,
    step: &Value,
    policy: &M,
    grads: &GradientsParams,
) {
    let s = step["step"].as_u64().unwrap();
    // Per-parameter norms are recorded for step 0 only; the global norm for every step.
    let want = step["param_grad_norms_before_clip"].as_object();
    let mut total = 0.0;
    let mut seen = 0;
    for param in torch_parameters(policy) {
        let got = grad_norm(grads, &param);
        total += got.map_or(0.0, |g| g * g);
        let Some(want) = want else { continue };
        match (got, want.get(&param.name)) {
            (Some(got), Some(w)) => {
                seen += 1;
                let floor = 1e-3 * step["grad_global_norm_before_clip"].as_f64().unwrap();
                report.check_floor(
                    &format!("step {s} grad norm {}", param.name),
                    &[got],
                    &[w.as_f64().unwrap()],
                    floor,
                );
            }
            (None, None) => {}
            (got, w) => panic!("step {s} {}: gradient {got:?} but golden {w:?}", param.name),
        }
    }
    if let Some(want) = want {
        assert_eq!(seen, want.len(), "every golden gradient has a parameter");
    }
    report.check(
        &format!("step {s} global grad norm"),
        &[total.sqrt()],
        &[step["grad_global_norm_before_clip"].as_f64().unwrap()],
    );
}

/// Euclidean norm of the gradient of `param`, if it has one.
pub fn grad_norm(grads: &GradientsParams, param: &TorchParameter) -> Option<f64> {
    fn norm<const D: usize>(g: Option<Tensor<D>>) -> Option<f64> {
        g.map(|g| values(g).iter().map(|x| x * x).sum::<f64>().sqrt())
    }
    match param.shape.len() {
        0 | 1 => norm::<1>(grads.get(param.id)),
        2 => norm::<2>(grads.get(param.id)),
        3 => norm::<3>(grads.get(param.id)),
        4 => norm::<4>(grads.get(param.id)),
        n => panic!("unexpected rank {n} of {}", param.name),
    }
}
