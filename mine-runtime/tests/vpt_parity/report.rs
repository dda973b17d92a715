//! Comparisons of our outputs, memories, losses and gradient norms with the golden ones,
//! collected into a report of the worst relative errors.

use super::*;

/// Records the worst relative error seen per check and asserts it stays within `tol`.
pub(super) struct Report {
    tol: f64,
    pub(super) rows: Vec<(String, f64)>,
}

impl Report {
    pub(super) fn new(tol: f64) -> Self {
        Self {
            tol,
            rows: Vec::new(),
        }
    }

    pub(super) fn check(&mut self, name: &str, got: &[f64], want: &[f64]) {
        let err = rel_err(got, want);
        self.rows.push((name.to_string(), err));
    }

    pub(super) fn finish(self, title: &str) {
        println!("{title}:");
        for (name, err) in &self.rows {
            println!("  {name:<68} rel err {err:.3e}");
        }
        println!("{title}, worst per quantity:");
        for (quantity, err) in worst_per_quantity(&self.rows) {
            println!("  {quantity:<68} rel err {err:.3e}");
        }
        let bad: Vec<_> = self
            .rows
            .iter()
            .filter(|(_, e)| e.is_nan() || *e > self.tol)
            .collect();
        assert!(bad.is_empty(), "{title}: beyond {:e}: {bad:?}", self.tol);
    }
}

/// The quantity a report row measures: its name without the step, the memory block and the
/// parameter (`step 2 memory_in block 1 keys` -> `memory_in keys`).
fn quantity(name: &str) -> String {
    let mut words: Vec<&str> = name.split(' ').collect();
    if words.first() == Some(&"step") && words.len() > 2 {
        words.drain(..2);
    }
    if let Some(i) = words.iter().position(|w| *w == "block") {
        words.drain(i..(i + 2).min(words.len()));
    }
    let per_parameter = ["grad norm ", "after 3 steps norm ", "after 3 steps sum "];
    let joined = words.join(" ");
    match per_parameter.iter().find(|p| joined.starts_with(**p)) {
        Some(prefix) if !joined.starts_with("grad norm before") => {
            format!("{}(per parameter)", prefix)
        }
        _ => joined,
    }
}

/// The largest error of each [`quantity`], in order of first appearance (NaN counts as the
/// largest).
fn worst_per_quantity(rows: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut worst: Vec<(String, f64)> = Vec::new();
    for (name, err) in rows {
        let quantity = quantity(name);
        match worst.iter_mut().find(|(q, _)| *q == quantity) {
            Some((_, w)) => {
                if err.is_nan() || *err > *w {
                    *w = *err;
                }
            }
            None => worst.push((quantity, *err)),
        }
    }
    worst
}

pub(super) fn compare_memory(
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

pub(super) fn compare_outputs(
    report: &mut Report,
    step: &Value,
    inputs: &Value,
    out: &VptOutput,
    device: &Device,
) {
    let s = step["step"].as_u64().unwrap();
    let (vpred, _) = flatten(&step["vpred"]);
    report.check(
        &format!("step {s} vpred"),
        &values(out.vpred.clone()),
        &vpred,
    );
    let (cam, _) = flatten(&step["pi_logits_camera"]);
    report.check(
        &format!("step {s} pi_logits camera"),
        &values(out.pi_logits.camera.clone()),
        &cam,
    );
    let buttons = out.pi_logits.buttons.clone();
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

/// Checks the losses MineStudio logged for a step; returns the total to differentiate.
pub(super) fn check_losses(
    report: &mut Report,
    s: usize,
    losses: StepLosses,
    step: &Value,
) -> Tensor<1> {
    let metrics = losses.metric_values();
    for name in ["loss", "camera_loss", "button_loss", "entropy"] {
        let want = step[name].as_f64().unwrap();
        report.check(&format!("step {s} {name}"), &[metrics[name]], &[want]);
    }
    losses.total
}

pub(super) fn compare_grad_norms(
    report: &mut Report,
    step: &Value,
    policy: &VptPolicy,
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
                report.check(
                    &format!("step {s} grad norm {}", param.name),
                    &[got],
                    &[w.as_f64().unwrap()],
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
pub(super) fn grad_norm(grads: &GradientsParams, param: &TorchParameter) -> Option<f64> {
    pub(super) fn norm<const D: usize>(g: Option<Tensor<D>>) -> Option<f64> {
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
