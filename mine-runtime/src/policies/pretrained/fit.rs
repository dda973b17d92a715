//! Fitting a PyTorch state dict onto a burn module whose parameter paths are the PyTorch
//! names ([`torch_parameters`]): which tensors are missing, unexpected or mis-shaped, and the
//! conversions PyTorch's layout needs (Linear weights transposed, 0-dimensional and integer
//! buffers such as `num_batches_tracked` as one-element float vectors).

use std::collections::BTreeSet;

use burn::module::Module;
use burn::store::burn_pack::Tensor as PackTensor;
use burn::store::{FloatCastAdapter, ModuleAdapter, ModuleSnapshot, PyTorchToBurnAdapter, bridge};
use burn::tensor::{DType, Shape, TensorData};

use super::tensors::StateDict;
use crate::policies::torch_names::torch_parameters;

/// How a state dict fits a module: the tensors to load and every disagreement.
#[derive(Debug)]
pub struct StateDictFit {
    /// Module parameters (PyTorch names) absent from the state dict.
    pub missing: Vec<String>,
    /// State-dict tensors the module has no parameter for.
    pub unexpected: Vec<String>,
    /// `name: file [shape] vs network [shape]`, both in PyTorch orientation.
    pub mis_shaped: Vec<String>,
    tensors: Vec<PackTensor>,
}

impl StateDictFit {
    /// Compares `tensors` with the parameters of `module`.
    pub fn new<M: Module>(module: &M, mut tensors: StateDict) -> Self {
        let expected = torch_parameters(module);
        let names: BTreeSet<&str> = expected.iter().map(|p| p.name.as_str()).collect();
        let mut missing = Vec::new();
        let mut mis_shaped = Vec::new();
        for param in &expected {
            let Some(tensor) = tensors.get_mut(&param.name) else {
                missing.push(param.name.clone());
                continue;
            };
            let file_shape: Vec<usize> = tensor.shape.iter().copied().collect();
            let shape = if file_shape.is_empty() && param.shape == [1] {
                param.shape.clone()
            } else {
                file_shape.clone()
            };
            if shape != param.shape {
                mis_shaped.push(format!(
                    "{}: file {:?} vs network {:?}",
                    param.name, file_shape, param.shape
                ));
            } else if shape != file_shape || !tensor.dtype.is_float() {
                *tensor = as_float(tensor.clone(), shape);
            }
            if param.path != param.name {
                tensor.name = param.path.clone();
            }
        }
        let unexpected = tensors
            .keys()
            .filter(|k| !names.contains(k.as_str()))
            .cloned()
            .collect();
        let tensors = tensors
            .into_iter()
            .filter(|(k, _)| names.contains(k.as_str()))
            .map(|(_, t)| t)
            .collect();
        Self {
            missing,
            unexpected,
            mis_shaped,
            tensors,
        }
    }

    /// Whether every parameter has a tensor of its shape (unexpected tensors aside).
    pub fn fits(&self) -> bool {
        self.missing.is_empty() && self.mis_shaped.is_empty()
    }

    /// `N missing [...]; N unexpected [...]; N mis-shaped [...]`, each list abbreviated.
    pub fn describe(&self) -> String {
        format!(
            "{} missing {}; {} unexpected {}; {} mis-shaped {}",
            self.missing.len(),
            abbreviate(&self.missing),
            self.unexpected.len(),
            abbreviate(&self.unexpected),
            self.mis_shaped.len(),
            abbreviate(&self.mis_shaped)
        )
    }

    /// Loads the fitting tensors into `module` (PyTorch layout converted, floats cast to
    /// f32); burn's load report when it rejects one.
    pub fn apply<M: Module>(self, mut module: M) -> Result<M, String> {
        let adapter = PyTorchToBurnAdapter.chain(FloatCastAdapter::to(DType::F32));
        let result = module.apply(self.tensors, None, Some(Box::new(adapter)), false);
        if !result.errors.is_empty() || !result.missing.is_empty() {
            return Err(result.to_string());
        }
        Ok(module)
    }
}

/// At most 8 names of a list, then how many more.
pub(crate) fn abbreviate(names: &[String]) -> String {
    const SHOWN: usize = 8;
    let mut text = format!("{:?}", &names[..names.len().min(SHOWN)]);
    if names.len() > SHOWN {
        text.pop();
        text.push_str(&format!(", ... {} more]", names.len() - SHOWN));
    }
    text
}

/// A tensor as float32 of `shape` (a 0-dimensional buffer as `[1]`, an integer buffer such
/// as BatchNorm's `num_batches_tracked` as a float).
fn as_float(tensor: PackTensor, shape: Vec<usize>) -> PackTensor {
    let name = tensor.name.clone();
    let dtype = if tensor.dtype.is_float() {
        tensor.dtype
    } else {
        DType::F32
    };
    bridge::map_data(
        tensor,
        name,
        dtype,
        Shape::from(shape.clone()),
        move |data| {
            let data = if data.dtype().is_float() {
                data
            } else {
                data.convert::<f32>()
            };
            let (bytes, _, dtype) = data.into_parts();
            TensorData::from_bytes(bytes, shape.clone(), dtype)
        },
    )
}
