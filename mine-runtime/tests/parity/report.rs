//! Comparisons of our memories, outputs, losses, gradient norms and parameters with the golden
//! ones, collected into a report of the worst relative errors.

use std::collections::{BTreeMap, BTreeSet};

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::store::{BurnToPyTorchAdapter, ModuleSnapshot, bridge};
use burn::tensor::{Bool, Device, Int, Tensor};
use mine_dsl::latent::PiLogits;
use mine_runtime::policies::torch_names::{TorchParameter, torch_parameters};
use serde_json::Value;

use super::json::{flatten, int, rel_err, values};

/// Records the worst relative error seen per check and asserts it stays within `tol`.
pub struct Report {
    tol: f64,
    /// `(what, relative error)`, in the order checked.
    pub rows: Vec<(String, f64)>,
}

impl Report {
    /// An empty report with tolerance `tol`.
    pub fn new(tol: f64) -> Self {
        Self {
            tol,
            rows: Vec::new(),
        }
    }

    /// Records the relative error of `got` against `want` ([`rel_err`]).
    pub fn check(&mut self, name: &str, got: &[f64], want: &[f64]) {
        let err = rel_err(got, want);
        self.rows.push((name.to_string(), err));
    }

    /// [`check`](Self::check) with the error taken relative to at least `floor`: for values
    /// that are zero in exact arithmetic, where both sides hold rounding noise.
    pub fn check_floor(&mut self, name: &str, got: &[f64], want: &[f64], floor: f64) {
        let scale = want.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        let err = rel_err(got, want) * scale.max(1e-30) / scale.max(floor).max(1e-30);
        self.rows.push((name.to_string(), err));
    }

    /// Records a tensor against a nested JSON array.
    pub fn check_tensor<const D: usize>(&mut self, name: &str, got: &Tensor<D>, want: &Value) {
        let (want, shape) = flatten(want);
        assert_eq!(got.dims().to_vec(), shape, "{name}: shape");
        self.check(name, &values(got.clone()), &want);
    }

    /// Prints every row and asserts none is beyond the tolerance (or NaN).
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

    /// The largest error among the rows whose name contains `part`.
    pub fn worst(&self, part: &str) -> f64 {
        self.rows
            .iter()
            .filter(|(name, _)| name.contains(part))
            .fold(0.0, |m, (_, e)| m.max(*e))
    }
}

/// One attention block's memory: `(mask, keys, values)`.
pub type BlockRef<'a> = (&'a Tensor<3, Bool>, &'a Tensor<3>, &'a Tensor<3>);

/// Compares memory blocks with the golden list (`[mask, keys, values]` per block): masks
/// exactly, keys and values by relative error.
pub fn compare_memory(report: &mut Report, step: usize, tag: &str, got: &[BlockRef], want: &Value) {
    let want = want.as_array().expect("memory list");
    assert_eq!(want.len(), 3 * got.len(), "step {step} {tag}: blocks");
    for (i, (mask, keys, vals)) in got.iter().enumerate() {
        let (mask_want, _) = flatten(&want[3 * i]["values"]);
        let mask_got: Vec<f64> = (*mask)
            .clone()
            .into_data()
            .try_into_vec_as::<bool>()
            .expect("bool data")
            .into_iter()
            .map(|b| if b { 1.0 } else { 0.0 })
            .collect();
        assert_eq!(mask_got, mask_want, "step {step} {tag} block {i} mask");
        for (j, (name, t)) in [("keys", keys), ("values", vals)].into_iter().enumerate() {
            let (w, _) = flatten(&want[3 * i + 1 + j]["values"]);
            report.check(
                &format!("step {step} {tag} block {i} {name}"),
                &values((*t).clone()),
                &w,
            );
        }
    }
}

/// Compares the value prediction and the action log-probabilities (camera in full, buttons at
/// the probe indices, at the labels, their max and argmax).
pub fn compare_outputs(
    report: &mut Report,
    step: &Value,
    inputs: &Value,
    (pi_logits, vpred): (&PiLogits, &Tensor<3>),
    device: &Device,
) {
    let s = step["step"].as_u64().unwrap();
    report.check_tensor(&format!("step {s} vpred"), vpred, &step["vpred"]);
    report.check_tensor(
        &format!("step {s} pi_logits camera"),
        &pi_logits.camera,
        &step["pi_logits_camera"],
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

/// Compares the metrics `names` of a step with the golden values in `want` (an object).
pub fn check_metrics(
    report: &mut Report,
    s: usize,
    metrics: &BTreeMap<String, f64>,
    want: &Value,
    names: &[&str],
) {
    for name in names {
        let w = want[*name]
            .as_f64()
            .unwrap_or_else(|| panic!("golden has no {name}"));
        let got = *metrics
            .get(*name)
            .unwrap_or_else(|| panic!("no metric {name} in {metrics:?}"));
        report.check(&format!("step {s} {name}"), &[got], &[w]);
    }
}

/// Compares per-parameter gradient norms (when the step records them) and the global norm;
/// returns the names of the parameters without a gradient.
///
/// A parameter's norm is compared relative to at least `floor` times the global norm: some
/// gradients are zero in exact arithmetic (a BatchNorm shift whose output feeds another
/// BatchNorm in training mode, which removes any per-channel constant) and both sides hold
/// float32 rounding noise there (ROCKET-1: 1e-3; 0 compares plainly).
pub fn compare_grad_norms<M: Module>(
    report: &mut Report,
    step: &Value,
    module: &M,
    grads: &GradientsParams,
    floor: f64,
) -> BTreeSet<String> {
    let s = step["step"].as_u64().unwrap();
    let floor = floor * step["grad_global_norm_before_clip"].as_f64().unwrap();
    let want = step["param_grad_norms_before_clip"].as_object();
    let mut total = 0.0;
    let mut seen = 0;
    let mut without = BTreeSet::new();
    for param in torch_parameters(module) {
        let got = grad_norm(grads, &param);
        total += got.map_or(0.0, |g| g * g);
        if got.is_none() {
            without.insert(param.name.clone());
        }
        let Some(want) = want else { continue };
        match (got, want.get(&param.name)) {
            (Some(got), Some(w)) => {
                seen += 1;
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
    without
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

/// Every parameter of `module` in PyTorch's names and layout, as `f64`s.
pub fn torch_values<M: ModuleSnapshot>(module: &M) -> BTreeMap<String, Vec<f64>> {
    module
        .collect(None, Some(Box::new(BurnToPyTorchAdapter)), true)
        .into_iter()
        .map(|tensor| {
            let data = bridge::to_data(&tensor)
                .unwrap()
                .try_into_vec_as::<f64>()
                .unwrap();
            (tensor.name.clone(), data)
        })
        .collect()
}

/// Compares every parameter with `params_after_3_steps` (sum and norm per tensor), except
/// those `skip` names (compared otherwise). A sum can be near zero, so its error is taken
/// relative to the largest sum the same norm allows (`sqrt(numel) * norm`).
pub fn compare_sums_and_norms(
    report: &mut Report,
    got: &BTreeMap<String, Vec<f64>>,
    want: &Value,
    skip: impl Fn(&str) -> bool,
) {
    let want = want.as_object().unwrap();
    assert_eq!(
        got.len(),
        want.len(),
        "every golden parameter is in the network"
    );
    for (name, data) in got.iter().filter(|(name, _)| !skip(name)) {
        let w = want
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in golden"));
        let want = (w["sum"].as_f64().unwrap(), w["norm"].as_f64().unwrap());
        check_sum_and_norm_of(
            report,
            &format!("after 3 steps {name}"),
            sum_and_norm(data),
            want,
            data.len(),
        );
    }
}

/// The sum and the Euclidean norm of `values`.
pub fn sum_and_norm(values: &[f64]) -> (f64, f64) {
    let sum = values.iter().sum();
    (sum, values.iter().map(|x| x * x).sum::<f64>().sqrt())
}

/// A tensor after training against the reference's values, by norm and by sum. A sum can be
/// near zero, so its error is taken relative to the largest sum the same norm allows
/// (`sqrt(numel) * norm`).
pub fn check_sum_and_norm(report: &mut Report, name: &str, got: &[f64], want: &[f64]) {
    check_sum_and_norm_of(
        report,
        name,
        sum_and_norm(got),
        sum_and_norm(want),
        got.len(),
    );
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
