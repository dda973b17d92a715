//! A small pickle (protocols 2 to 5) reader and writer for MineStudio's LMDB values.
//!
//! Plain Python objects (ints, floats, strings, bytes, lists, tuples, dicts) plus numpy arrays
//! written by `ndarray.__reduce__` (`numpy.core.multiarray._reconstruct` + `BUILD`) are
//! supported; any other global is rejected with an error naming it.

mod read;
mod value;
mod write;

pub use read::{PickleError, loads};
pub use value::{DType, NdArray, PyValue};
pub use write::dumps;
