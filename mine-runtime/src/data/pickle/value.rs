//! Decoded pickle values and numpy arrays.

/// Element type of a numpy array (the subset MineStudio datasets use).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    /// `bool` / `b1`.
    Bool,
    /// Signed integer of 1, 2, 4 or 8 bytes.
    Int(u8),
    /// Unsigned integer of 1, 2, 4 or 8 bytes.
    UInt(u8),
    /// IEEE float of 4 or 8 bytes.
    Float(u8),
}

impl DType {
    /// Parses a numpy type code such as `i8`, `f8`, `u1`, `b1`.
    pub fn from_code(code: &str) -> Option<Self> {
        let (kind, size) = code.split_at(1.min(code.len()));
        let size: u8 = size.parse().ok()?;
        match (kind, size) {
            ("b", 1) => Some(Self::Bool),
            ("i", 1 | 2 | 4 | 8) => Some(Self::Int(size)),
            ("u", 1 | 2 | 4 | 8) => Some(Self::UInt(size)),
            ("f", 4 | 8) => Some(Self::Float(size)),
            _ => None,
        }
    }

    /// The numpy type code (`i8`, `f8`, ...).
    pub fn code(self) -> String {
        match self {
            Self::Bool => "b1".to_string(),
            Self::Int(s) => format!("i{s}"),
            Self::UInt(s) => format!("u{s}"),
            Self::Float(s) => format!("f{s}"),
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            Self::Bool => 1,
            Self::Int(s) | Self::UInt(s) | Self::Float(s) => s as usize,
        }
    }
}

/// A numpy array: shape, element type and C-order little-endian element bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct NdArray {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Element bytes, C order, little-endian.
    pub data: Vec<u8>,
}

impl NdArray {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn element(&self, i: usize) -> [u8; 8] {
        let size = self.dtype.size();
        let mut out = [0u8; 8];
        out[..size].copy_from_slice(&self.data[i * size..(i + 1) * size]);
        out
    }

    /// Elements as `f64` (integers converted).
    pub fn to_f64(&self) -> Vec<f64> {
        (0..self.len())
            .map(|i| {
                let b = self.element(i);
                match self.dtype {
                    DType::Float(4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64,
                    DType::Float(_) => f64::from_le_bytes(b),
                    _ => self.int_at(b) as f64,
                }
            })
            .collect()
    }

    /// Elements as `i64` (floats truncated toward zero, like numpy's `astype`).
    pub fn to_i64(&self) -> Vec<i64> {
        (0..self.len())
            .map(|i| {
                let b = self.element(i);
                match self.dtype {
                    DType::Float(4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                    DType::Float(_) => f64::from_le_bytes(b) as i64,
                    _ => self.int_at(b),
                }
            })
            .collect()
    }

    fn int_at(&self, b: [u8; 8]) -> i64 {
        match self.dtype {
            DType::Bool | DType::UInt(1) => b[0] as i64,
            DType::Int(1) => b[0] as i8 as i64,
            DType::Int(2) => i16::from_le_bytes([b[0], b[1]]) as i64,
            DType::UInt(2) => u16::from_le_bytes([b[0], b[1]]) as i64,
            DType::Int(4) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            DType::UInt(4) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes(b),
        }
    }

    /// An `int64` array.
    pub fn from_i64(shape: Vec<usize>, values: &[i64]) -> Self {
        Self {
            shape,
            dtype: DType::Int(8),
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// A `float64` array.
    pub fn from_f64(shape: Vec<usize>, values: &[f64]) -> Self {
        Self {
            shape,
            dtype: DType::Float(8),
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

/// A decoded Python object.
#[derive(Clone, Debug, PartialEq)]
pub enum PyValue {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An int that fits `i64`.
    Int(i64),
    /// A float.
    Float(f64),
    /// A `str`.
    Str(String),
    /// A `bytes` / `bytearray`.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<PyValue>),
    /// A tuple.
    Tuple(Vec<PyValue>),
    /// A dict, in insertion order.
    Dict(Vec<(PyValue, PyValue)>),
    /// A numpy array.
    Array(NdArray),
    /// A numpy dtype object.
    DType(DType),
    /// A reference to an allowed global (`numpy.ndarray`, `numpy.dtype`, `_reconstruct`).
    Global(String),
}

impl PyValue {
    /// The Python type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float",
            Self::Str(_) => "str",
            Self::Bytes(_) => "bytes",
            Self::List(_) => "list",
            Self::Tuple(_) => "tuple",
            Self::Dict(_) => "dict",
            Self::Array(_) => "numpy.ndarray",
            Self::DType(_) => "numpy.dtype",
            Self::Global(_) => "global",
        }
    }

    /// The int value, if this is an int (or bool).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(v) => Some(*v),
            Self::Bool(b) => Some(*b as i64),
            _ => None,
        }
    }

    /// The float value of a float or int.
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Self::Float(v) => Some(*v),
            Self::Int(v) => Some(*v as f64),
            Self::Bool(b) => Some(*b as i64 as f64),
            _ => None,
        }
    }

    /// The string, if this is a `str`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Python's `repr` of the value for plain objects (`'a'`, `(1, 'b')`, `[1.5, None]`,
    /// `{'k': 1}`); arrays, dtypes and globals are described rather than reproduced.
    pub fn repr(&self) -> String {
        let seq = |items: &[PyValue]| items.iter().map(PyValue::repr).collect::<Vec<_>>();
        match self {
            Self::None => "None".into(),
            Self::Bool(true) => "True".into(),
            Self::Bool(false) => "False".into(),
            Self::Int(v) => v.to_string(),
            Self::Float(v) if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16 => {
                format!("{v:.1}")
            }
            Self::Float(v) => v.to_string(),
            Self::Str(s) => str_repr(s),
            Self::Bytes(b) => format!("b{}", str_repr(&String::from_utf8_lossy(b))),
            Self::List(items) => format!("[{}]", seq(items).join(", ")),
            Self::Tuple(items) if items.len() == 1 => format!("({},)", items[0].repr()),
            Self::Tuple(items) => format!("({})", seq(items).join(", ")),
            Self::Dict(items) => {
                let pairs: Vec<String> = items
                    .iter()
                    .map(|(k, v)| format!("{}: {}", k.repr(), v.repr()))
                    .collect();
                format!("{{{}}}", pairs.join(", "))
            }
            Self::Array(a) => format!("<{} array of shape {:?}>", a.dtype.code(), a.shape),
            Self::DType(d) => format!("dtype('{}')", d.code()),
            Self::Global(g) => format!("<global {g}>"),
        }
    }

    /// Looks up a string key in a dict.
    pub fn get(&self, key: &str) -> Option<&PyValue> {
        match self {
            Self::Dict(items) => items
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Python's `repr` of a `str`: single quotes unless the text holds one and no double quote.
fn str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}
