//! A burn module's parameters under the names and layout PyTorch gives them, for importing
//! and exporting state dicts.
//!
//! The module trees of the policies mirror MineStudio's, so a parameter's path is its
//! PyTorch key except for burn's normalization names (`gamma`/`beta` for `weight`/`bias`)
//! and the variant names of enum modules (an enum stands for the module it holds, as in an
//! `nn.Sequential` of different layers: PyTorch has no level for it); Linear weights are
//! stored `[in, out]` where PyTorch stores `[out, in]`.

use std::collections::HashMap;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::Tensor;

use super::pretrained::{ExportDtype, ExportTensor};

/// Buffers PyTorch holds as 0-dimensional int64 counters (burn: a one-element float vector),
/// by the last segment of their name.
pub const INT_COUNTERS: [&str; 1] = ["num_batches_tracked"];

/// One float parameter (or buffer) of a module under its PyTorch name.
#[derive(Clone, Debug, PartialEq)]
pub struct TorchParameter {
    /// The PyTorch state-dict key (`net.final_ln.weight`, ...).
    pub name: String,
    /// The key with the variant names of enum modules kept: the name burn's loaders match
    /// (`blocks.0.0.DepthwiseSeparable.conv_dw.weight` for `blocks.0.0.conv_dw.weight`).
    pub path: String,
    /// Its shape in PyTorch orientation (Linear weights `[out, in]`).
    pub shape: Vec<usize>,
    /// Whether burn stores it transposed (a Linear weight).
    pub transposed: bool,
    /// The burn parameter id (to look gradients or optimizer state up).
    pub id: ParamId,
}

/// Every float parameter and buffer of `module` under the PyTorch name its module path maps
/// to (`gamma`/`beta` of LayerNorm and GroupNorm become `weight`/`bias`), in visit order.
pub fn torch_parameters<M: Module>(module: &M) -> Vec<TorchParameter> {
    let mut visitor = TorchNames::default();
    module.visit(&mut visitor);
    visitor.params
}

/// The state dict PyTorch would hold for `module`: every parameter under its PyTorch name, in
/// PyTorch layout, as float32. Parameters named in `scalars` are 0-dimensional in PyTorch
/// (burn holds them as `[1]`), and [`INT_COUNTERS`] are 0-dimensional int64.
pub fn torch_state_dict<M: Module>(module: &M, scalars: &[&str]) -> Vec<ExportTensor> {
    let mut values = Values::default();
    module.visit(&mut values);
    torch_parameters(module)
        .into_iter()
        .map(|param| {
            let value = values
                .by_id
                .remove(&param.id)
                .expect("every visited parameter has a value");
            let data = if param.transposed {
                value.transpose()
            } else {
                value
            };
            let floats = data
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("float32 data after conversion");
            let counter = param
                .name
                .rsplit('.')
                .next()
                .is_some_and(|last| INT_COUNTERS.contains(&last));
            let scalar = counter || scalars.contains(&param.name.as_str());
            let shape = if scalar && floats.len() == 1 {
                Vec::new()
            } else {
                param.shape
            };
            let (dtype, bytes) = if counter {
                let ints = floats.iter().flat_map(|f| (f.round() as i64).to_le_bytes());
                (ExportDtype::I64, ints.collect())
            } else {
                let bytes = floats.iter().flat_map(|f| f.to_le_bytes());
                (ExportDtype::F32, bytes.collect())
            };
            ExportTensor {
                name: param.name,
                shape,
                dtype,
                bytes,
            }
        })
        .collect()
}

#[derive(Default)]
struct TorchNames {
    path: Vec<String>,
    containers: Vec<String>,
    params: Vec<TorchParameter>,
}

impl ModuleVisitor for TorchNames {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path.push(name.to_string());
        self.containers.push(container_type.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
        self.containers.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let container = self.containers.last().map(String::as_str).unwrap_or("");
        let is_norm = matches!(container, "Struct:LayerNorm" | "Struct:GroupNorm");
        let mut path = self.path.clone();
        let in_enum: Vec<bool> = self
            .containers
            .iter()
            .map(|c| c.starts_with("Enum:"))
            .collect();
        if let Some(last) = path.last_mut() {
            match (is_norm, last.as_str()) {
                (true, "gamma") => *last = "weight".into(),
                (true, "beta") => *last = "bias".into(),
                _ => {}
            }
        }
        let mut shape: Vec<usize> = param.lazy_shape().iter().copied().collect();
        let transposed = container == "Struct:Linear" && path.last().is_some_and(|p| p == "weight");
        if transposed {
            shape.reverse();
        }
        let name: Vec<&str> = path
            .iter()
            .zip(in_enum.iter().chain(std::iter::repeat(&false)))
            .filter(|(_, is_variant)| !**is_variant)
            .map(|(segment, _)| segment.as_str())
            .collect();
        self.params.push(TorchParameter {
            name: name.join("."),
            path: path.join("."),
            shape,
            transposed,
            id: param.id,
        });
    }
}

/// A 2-d or lower tensor as PyTorch lays it out.
enum Value {
    Plain(burn::tensor::TensorData),
    Matrix(Tensor<2>),
}

impl Value {
    fn transpose(self) -> Self {
        match self {
            Value::Matrix(m) => Value::Plain(m.transpose().into_data()),
            plain => plain,
        }
    }

    fn into_data(self) -> burn::tensor::TensorData {
        match self {
            Value::Plain(data) => data,
            Value::Matrix(m) => m.into_data(),
        }
    }
}

#[derive(Default)]
struct Values {
    by_id: HashMap<ParamId, Value>,
}

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let value = if D == 2 {
            let [rows, cols]: [usize; 2] = tensor.dims()[..]
                .try_into()
                .expect("a 2-d tensor has two dims");
            Value::Matrix(tensor.reshape([rows, cols]))
        } else {
            Value::Plain(tensor.into_data())
        };
        self.by_id.insert(param.id, value);
    }
}
