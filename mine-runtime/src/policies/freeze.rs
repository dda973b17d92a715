//! Freezing parts of a policy (MineStudio's `freeze_backbone`, generalized): the parameters of
//! the named modules stop requiring gradients, so autodiff computes none for them and the
//! optimizer (which only updates parameters that have a gradient, like PyTorch's AdamW with
//! `grad is None`) leaves them, and their moments, untouched.
//!
//! Modules are named as in PyTorch state dicts ([`torch_parameters`]): `net.img_process`
//! freezes the VPT's image encoder. A name also matches as a run of whole path components
//! anywhere in a parameter's path, so `img_process` finds `net.img_process` too.
//!
//! ```
//! use burn::tensor::Device;
//! use mine_runtime::policies::freeze::{freeze, frozen_parameters};
//! use mine_runtime::policies::vpt::{VptConfig, VptPolicy};
//!
//! let device = Device::flex().autodiff();
//! let policy = VptPolicy::new(&VptConfig::tiny(), &device)?;
//! let (policy, report) = freeze(policy, &["img_process".to_owned()])?;
//! assert!(report.parameters > 0 && report.parameters < report.total);
//! let frozen = frozen_parameters(&policy);
//! assert!(frozen.iter().any(|name| name.starts_with("net.img_process.cnn.")));
//! assert!(!frozen.iter().any(|name| name.starts_with("pi_head.")));
//!
//! let error = freeze(policy, &["img_proces".to_owned()]).unwrap_err();
//! assert!(error.to_string().contains("`img_proces`"), "{error}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeSet, HashSet};

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;
use thiserror::Error;

use super::torch_names::torch_parameters;

/// A `freeze` entry names no module of the policy.
#[derive(Debug, Error, PartialEq)]
#[error(
    "policy.freeze: `{name}` names no module of {policy}; modules are named as in its PyTorch \
     state dict, e.g. {suggestions}"
)]
pub struct FreezeError {
    /// The entry that matched nothing.
    pub name: String,
    /// The policy's name.
    pub policy: String,
    /// Module names that exist (the closest first).
    pub suggestions: String,
}

/// What [`freeze`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FreezeReport {
    /// Frozen parameter tensors.
    pub parameters: usize,
    /// Frozen scalar values.
    pub elements: usize,
    /// Parameter tensors of the whole policy.
    pub total: usize,
}

/// Stops the parameters of every module named in `names` from requiring gradients. Every
/// name must match at least one parameter; nothing is changed otherwise.
pub fn freeze<M: Module>(module: M, names: &[String]) -> Result<(M, FreezeReport), FreezeError> {
    let params = torch_parameters(&module);
    let mut ids = HashSet::new();
    let mut report = FreezeReport {
        total: params.len(),
        ..FreezeReport::default()
    };
    for name in names {
        let matched: Vec<_> = params
            .iter()
            .filter(|p| path_matches(&p.name, name))
            .collect();
        if matched.is_empty() {
            return Err(FreezeError {
                name: name.clone(),
                policy: policy_name::<M>(),
                suggestions: suggestions(params.iter().map(|p| p.name.as_str()), name),
            });
        }
        for param in matched {
            if ids.insert(param.id) {
                report.parameters += 1;
                report.elements += param.shape.iter().product::<usize>();
            }
        }
    }
    let module = module.map(&mut Freezer { ids: &ids });
    Ok((module, report))
}

/// The PyTorch names of the parameters of `module` that do not require gradients (on an
/// autodiff device; on a plain device no parameter does).
pub fn frozen_parameters<M: Module>(module: &M) -> Vec<String> {
    let mut visitor = Frozen::default();
    module.visit(&mut visitor);
    torch_parameters(module)
        .into_iter()
        .filter(|p| visitor.ids.contains(&p.id))
        .map(|p| p.name)
        .collect()
}

/// Whether `name` is a run of whole components of the dotted `path`.
fn path_matches(path: &str, name: &str) -> bool {
    let name = name.trim_matches('.');
    if name.is_empty() {
        return false;
    }
    let path: Vec<&str> = path.split('.').collect();
    let name: Vec<&str> = name.split('.').collect();
    path.windows(name.len())
        .any(|window| window == name.as_slice())
}

/// Module paths (every prefix of every parameter path, parameters themselves excluded), the
/// closest to `name` first, as a short list for an error message.
fn suggestions<'a>(paths: impl Iterator<Item = &'a str>, name: &str) -> String {
    let mut modules = BTreeSet::new();
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        for end in 1..parts.len() {
            modules.insert(parts[..end].join("."));
        }
    }
    let mut ranked: Vec<(usize, String)> = modules
        .into_iter()
        .map(|m| {
            let last = m.rsplit('.').next().unwrap_or(&m).to_owned();
            (
                strsim::levenshtein(&last, name).min(strsim::levenshtein(&m, name)),
                m,
            )
        })
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(6)
        .map(|(_, m)| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn policy_name<M>() -> String {
    let full = std::any::type_name::<M>();
    full.rsplit("::").next().unwrap_or(full).to_owned()
}

struct Freezer<'a> {
    ids: &'a HashSet<ParamId>,
}

impl ModuleMapper for Freezer<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if self.ids.contains(&param.id) {
            param.set_require_grad(false)
        } else {
            param
        }
    }
}

#[derive(Default)]
struct Frozen {
    ids: HashSet<ParamId>,
}

impl ModuleVisitor for Frozen {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !param.val().is_require_grad() {
            self.ids.insert(param.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_whole_components() {
        assert!(path_matches("net.img_process.cnn.w", "img_process"));
        assert!(path_matches("net.img_process.cnn.w", "net.img_process"));
        assert!(path_matches("net.img_process.cnn.w", "img_process.cnn"));
        assert!(!path_matches("net.img_process.cnn.w", "img"));
        assert!(!path_matches("net.img_process.cnn.w", "process.net"));
        assert!(!path_matches("net.img_process.cnn.w", ""));
    }

    #[test]
    fn suggestions_rank_close_names_first() {
        let paths = [
            "net.img_process.cnn.w",
            "net.final_ln.weight",
            "pi_head.camera.b",
        ];
        let text = suggestions(paths.into_iter(), "img_proces");
        assert!(text.starts_with("`net.img_process`"), "{text}");
    }
}
