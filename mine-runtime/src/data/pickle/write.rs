//! Pickling (protocol 4) of plain values and numpy arrays, readable by Python's `pickle.loads`.

use super::value::{DType, NdArray, PyValue};

/// Encodes a value as a protocol-4 pickle.
///
/// Arrays are written the way numpy's `ndarray.__reduce__` does
/// (`numpy.core.multiarray._reconstruct` + `BUILD`), so numpy 1.x and 2.x both load them.
pub fn dumps(value: &PyValue) -> Vec<u8> {
    let mut out = vec![0x80, 4];
    write(&mut out, value);
    out.push(b'.');
    out
}

fn short_str(out: &mut Vec<u8>, s: &str) {
    if s.len() < 256 {
        out.push(0x8c);
        out.push(s.len() as u8);
    } else {
        out.push(b'X');
        out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    if b.len() < 256 {
        out.push(b'C');
        out.push(b.len() as u8);
    } else if let Ok(n) = u32::try_from(b.len()) {
        out.push(b'B');
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(0x8e);
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    }
    out.extend_from_slice(b);
}

fn int(out: &mut Vec<u8>, v: i64) {
    if (0..256).contains(&v) {
        out.push(b'K');
        out.push(v as u8);
    } else if let Ok(v) = i32::try_from(v) {
        out.push(b'J');
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(0x8a);
        out.push(8);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

fn tuple(out: &mut Vec<u8>, items: &[PyValue]) {
    match items.len() {
        0 => out.push(b')'),
        1..=3 => {
            items.iter().for_each(|i| write(out, i));
            out.push(0x84 + items.len() as u8);
        }
        _ => {
            out.push(b'(');
            items.iter().for_each(|i| write(out, i));
            out.push(b't');
        }
    }
}

fn global(out: &mut Vec<u8>, module: &str, name: &str) {
    short_str(out, module);
    short_str(out, name);
    out.push(0x93);
}

fn dtype(out: &mut Vec<u8>, d: DType) {
    global(out, "numpy", "dtype");
    short_str(out, &d.code());
    out.extend_from_slice(&[0x89, 0x88, 0x87, b'R']);
    let order = if d.size() == 1 { "|" } else { "<" };
    tuple(
        out,
        &[
            PyValue::Int(3),
            PyValue::Str(order.into()),
            PyValue::None,
            PyValue::None,
            PyValue::None,
            PyValue::Int(-1),
            PyValue::Int(-1),
            PyValue::Int(0),
        ],
    );
    out.push(b'b');
}

fn array(out: &mut Vec<u8>, a: &NdArray) {
    global(out, "numpy.core.multiarray", "_reconstruct");
    global(out, "numpy", "ndarray");
    tuple(out, &[PyValue::Int(0)]);
    bytes(out, b"b");
    out.extend_from_slice(&[0x87, b'R']);
    out.push(b'(');
    int(out, 1);
    let shape: Vec<PyValue> = a.shape.iter().map(|&d| PyValue::Int(d as i64)).collect();
    tuple(out, &shape);
    dtype(out, a.dtype);
    out.push(0x89);
    bytes(out, &a.data);
    out.push(b't');
    out.push(b'b');
}

fn write(out: &mut Vec<u8>, value: &PyValue) {
    match value {
        PyValue::None => out.push(b'N'),
        PyValue::Bool(true) => out.push(0x88),
        PyValue::Bool(false) => out.push(0x89),
        PyValue::Int(v) => int(out, *v),
        PyValue::Float(v) => {
            out.push(b'G');
            out.extend_from_slice(&v.to_be_bytes());
        }
        PyValue::Str(s) => short_str(out, s),
        PyValue::Bytes(b) => bytes(out, b),
        PyValue::List(items) => {
            out.push(b']');
            if !items.is_empty() {
                out.push(b'(');
                items.iter().for_each(|i| write(out, i));
                out.push(b'e');
            }
        }
        PyValue::Tuple(items) => tuple(out, items),
        PyValue::Dict(items) => {
            out.push(b'}');
            if !items.is_empty() {
                out.push(b'(');
                for (k, v) in items {
                    write(out, k);
                    write(out, v);
                }
                out.push(b'u');
            }
        }
        PyValue::Array(a) => array(out, a),
        PyValue::DType(d) => dtype(out, *d),
        PyValue::Global(g) => {
            let (m, n) = g.rsplit_once('.').unwrap_or(("builtins", g));
            global(out, m, n);
        }
    }
}
