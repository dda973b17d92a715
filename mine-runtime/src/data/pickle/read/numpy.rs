//! The objects a pickle may construct beyond plain Python values: numpy arrays and dtypes
//! (`_reconstruct`, `numpy.dtype`, `BUILD` with `ndarray.__setstate__`), and the allow-list of
//! globals that keeps anything else out.

use super::{Item, Machine, PickleError};
use crate::data::pickle::value::{DType, NdArray, PyValue};

/// Globals a MineStudio dataset may reference; anything else is refused.
const ALLOWED_GLOBALS: [&str; 4] = [
    "numpy.core.multiarray._reconstruct",
    "numpy._core.multiarray._reconstruct",
    "numpy.ndarray",
    "numpy.dtype",
];

impl Machine<'_> {
    pub(super) fn global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        let full = format!("{module}.{name}");
        if ALLOWED_GLOBALS.contains(&full.as_str()) {
            self.push(PyValue::Global(full));
            Ok(())
        } else {
            self.err(format!("global `{full}` is not allowed"))
        }
    }

    pub(super) fn reduce(&mut self) -> Result<(), PickleError> {
        let args = self.pop()?;
        let callable = self.pop()?;
        let PyValue::Tuple(args) = args else {
            return self.err("REDUCE arguments are not a tuple");
        };
        let value = match callable {
            PyValue::Global(g) if g.ends_with("._reconstruct") => match args.first() {
                Some(PyValue::Global(c)) if c == "numpy.ndarray" => PyValue::Array(NdArray {
                    shape: vec![0],
                    dtype: DType::UInt(1),
                    data: Vec::new(),
                }),
                _ => return self.err("_reconstruct of something other than numpy.ndarray"),
            },
            PyValue::Global(g) if g == "numpy.dtype" => match args.first() {
                Some(PyValue::Str(code)) => match DType::from_code(code) {
                    Some(d) => PyValue::DType(d),
                    None => return self.err(format!("unsupported numpy dtype `{code}`")),
                },
                _ => return self.err("numpy.dtype without a type code"),
            },
            other => return self.err(format!("cannot call a {}", other.type_name())),
        };
        self.push(value);
        Ok(())
    }

    pub(super) fn build(&mut self) -> Result<(), PickleError> {
        let state = self.pop()?;
        let pos = self.op_pos;
        let (target, slot) = match self.stack.pop() {
            Some(Item::Value(v, slot)) => (v, slot),
            _ => return self.err("BUILD without an object"),
        };
        let built = match (target, state) {
            (PyValue::Array(_), PyValue::Tuple(state)) => {
                build_array(state).map_err(|m| PickleError { pos, message: m })?
            }
            (PyValue::DType(d), PyValue::Tuple(state)) => {
                let order = state.get(1).and_then(PyValue::as_str).unwrap_or("|");
                if order == ">" && d.size() > 1 {
                    return self.err("big-endian numpy arrays are not supported");
                }
                PyValue::DType(d)
            }
            (t, s) => {
                return self.err(format!(
                    "BUILD of a {} with a {} state",
                    t.type_name(),
                    s.type_name()
                ));
            }
        };
        if let Some(idx) = slot {
            self.memo.insert(idx, built.clone());
        }
        self.stack.push(Item::Value(built, slot));
        Ok(())
    }
}

/// Fills an array from `ndarray.__setstate__`'s `(version, shape, dtype, is_fortran, data)`.
fn build_array(state: Vec<PyValue>) -> Result<PyValue, String> {
    let (shape, dtype, fortran, data) = match state.as_slice() {
        [PyValue::Int(_), shape, dtype, fortran, data] => (shape, dtype, fortran, data),
        [shape, dtype, fortran, data] => (shape, dtype, fortran, data),
        _ => return Err(format!("ndarray state has {} fields", state.len())),
    };
    let PyValue::Tuple(dims) = shape else {
        return Err("ndarray shape is not a tuple".into());
    };
    let shape: Vec<usize> = dims
        .iter()
        .map(|d| d.as_int().and_then(|v| usize::try_from(v).ok()))
        .collect::<Option<_>>()
        .ok_or("ndarray shape holds a non-integer")?;
    let PyValue::DType(dtype) = dtype else {
        return Err(format!("ndarray dtype is a {}", dtype.type_name()));
    };
    let PyValue::Bytes(data) = data else {
        return Err(format!(
            "ndarray data is a {} (object arrays are not supported)",
            data.type_name()
        ));
    };
    let count = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("ndarray shape overflows")?;
    if count.checked_mul(dtype.size()) != Some(data.len()) {
        return Err(format!(
            "ndarray of shape {shape:?} and dtype {} needs {} bytes, has {}",
            dtype.code(),
            count.saturating_mul(dtype.size()),
            data.len()
        ));
    }
    if fortran.as_int().unwrap_or(0) != 0 && shape.len() > 1 {
        return Err("Fortran-ordered arrays are not supported".into());
    }
    Ok(PyValue::Array(NdArray {
        shape,
        dtype: *dtype,
        data: data.clone(),
    }))
}
