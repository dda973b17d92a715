//! The unpickling machine: a stack machine over the opcodes Python 3 writes with protocols 2-5.

use std::collections::HashMap;

mod numpy;

use super::value::PyValue;

/// Why a pickle could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("at byte {pos}: {message}")]
pub struct PickleError {
    /// Byte offset of the failing opcode.
    pub pos: usize,
    /// What went wrong.
    pub message: String,
}

/// Nesting or size limits keep hostile input from exhausting memory.
const MAX_MEMO: u32 = 1 << 20;

#[derive(Clone, Debug)]
enum Item {
    Mark,
    Value(PyValue, Option<u32>),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    op_pos: usize,
    stack: Vec<Item>,
    memo: HashMap<u32, PyValue>,
}

/// Decodes one pickle.
pub fn loads(data: &[u8]) -> Result<PyValue, PickleError> {
    Machine {
        data,
        pos: 0,
        op_pos: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
    }
    .run()
}

impl<'a> Machine<'a> {
    fn err<T>(&self, message: impl Into<String>) -> Result<T, PickleError> {
        Err(PickleError {
            pos: self.op_pos,
            message: message.into(),
        })
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => self.err(format!("truncated: wanted {n} more bytes")),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, PickleError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, PickleError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn len64(&mut self) -> Result<usize, PickleError> {
        let n = self.u64()?;
        usize::try_from(n).or_else(|_| self.err("length overflows"))
    }

    fn string(&mut self, n: usize) -> Result<PyValue, PickleError> {
        let b = self.take(n)?;
        match std::str::from_utf8(b) {
            Ok(s) => Ok(PyValue::Str(s.to_string())),
            Err(_) => self.err("string is not valid UTF-8"),
        }
    }

    fn push(&mut self, v: PyValue) {
        self.stack.push(Item::Value(v, None));
    }

    fn pop(&mut self) -> Result<PyValue, PickleError> {
        match self.stack.pop() {
            Some(Item::Value(v, _)) => Ok(v),
            Some(Item::Mark) => self.err("unexpected MARK on the stack"),
            None => self.err("stack underflow"),
        }
    }

    fn pop_mark(&mut self) -> Result<Vec<PyValue>, PickleError> {
        let Some(mark) = self.stack.iter().rposition(|i| matches!(i, Item::Mark)) else {
            return self.err("no MARK on the stack");
        };
        let items = self.stack.split_off(mark + 1);
        self.stack.pop();
        Ok(items
            .into_iter()
            .map(|i| match i {
                Item::Value(v, _) => v,
                Item::Mark => PyValue::None,
            })
            .collect())
    }

    fn top_mut(&mut self) -> Result<&mut PyValue, PickleError> {
        match self.stack.last_mut() {
            Some(Item::Value(v, _)) => Ok(v),
            _ => Err(PickleError {
                pos: self.op_pos,
                message: "expected a value on the stack".into(),
            }),
        }
    }

    fn memo_put(&mut self, idx: u32) -> Result<(), PickleError> {
        if idx > MAX_MEMO {
            return self.err("memo index too large");
        }
        match self.stack.last_mut() {
            Some(Item::Value(v, slot)) => {
                *slot = Some(idx);
                let v = v.clone();
                self.memo.insert(idx, v);
                Ok(())
            }
            _ => self.err("nothing to memoize"),
        }
    }

    fn memo_get(&mut self, idx: u32) -> Result<(), PickleError> {
        match self.memo.get(&idx) {
            Some(v) => {
                let v = v.clone();
                self.stack.push(Item::Value(v, Some(idx)));
                Ok(())
            }
            None => self.err(format!("memo key {idx} missing")),
        }
    }

    fn append(&mut self, items: Vec<PyValue>) -> Result<(), PickleError> {
        match self.top_mut()? {
            PyValue::List(list) => {
                list.extend(items);
                Ok(())
            }
            other => {
                let t = other.type_name();
                self.err(format!("APPEND to a {t}"))
            }
        }
    }

    fn set_items(&mut self, items: Vec<PyValue>) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return self.err("odd number of dict items");
        }
        let pos = self.op_pos;
        match self.top_mut()? {
            PyValue::Dict(dict) => {
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    if let Some(slot) = dict.iter_mut().find(|(old, _)| *old == k) {
                        slot.1 = v;
                    } else {
                        dict.push((k, v));
                    }
                }
                Ok(())
            }
            other => Err(PickleError {
                pos,
                message: format!("SETITEM on a {}", other.type_name()),
            }),
        }
    }

    fn run(mut self) -> Result<PyValue, PickleError> {
        loop {
            self.op_pos = self.pos;
            let op = self.u8()?;
            match op {
                0x80 => {
                    let proto = self.u8()?;
                    if proto > 5 {
                        return self.err(format!("pickle protocol {proto} is not supported"));
                    }
                }
                0x95 => {
                    self.u64()?;
                }
                b'.' => return self.pop(),
                b'(' => self.stack.push(Item::Mark),
                b'0' => {
                    self.stack.pop();
                }
                b'1' => {
                    self.pop_mark()?;
                }
                b'2' => {
                    let top = self.pop()?;
                    self.push(top.clone());
                    self.push(top);
                }
                b'N' => self.push(PyValue::None),
                0x88 => self.push(PyValue::Bool(true)),
                0x89 => self.push(PyValue::Bool(false)),
                b'J' => {
                    let v = self.u32()? as i32;
                    self.push(PyValue::Int(v as i64));
                }
                b'K' => {
                    let v = self.u8()?;
                    self.push(PyValue::Int(v as i64));
                }
                b'M' => {
                    let b = self.take(2)?;
                    self.push(PyValue::Int(u16::from_le_bytes([b[0], b[1]]) as i64));
                }
                0x8a | 0x8b => {
                    let n = if op == 0x8a {
                        self.u8()? as usize
                    } else {
                        self.u32()? as usize
                    };
                    let b = self.take(n)?;
                    if n > 8 {
                        return self.err("integer wider than 64 bits");
                    }
                    let mut a = if b.last().is_some_and(|x| x & 0x80 != 0) {
                        [0xffu8; 8]
                    } else {
                        [0u8; 8]
                    };
                    a[..n].copy_from_slice(b);
                    self.push(PyValue::Int(i64::from_le_bytes(a)));
                }
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push(PyValue::Float(f64::from_be_bytes(a)));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    let s = self.string(n)?;
                    self.push(s);
                }
                0x8d => {
                    let n = self.len64()?;
                    let s = self.string(n)?;
                    self.push(s);
                }
                b'C' => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(PyValue::Bytes(b));
                }
                b'B' => {
                    let n = self.u32()? as usize;
                    let b = self.take(n)?.to_vec();
                    self.push(PyValue::Bytes(b));
                }
                0x8e | 0x96 => {
                    let n = self.len64()?;
                    let b = self.take(n)?.to_vec();
                    self.push(PyValue::Bytes(b));
                }
                b']' => self.push(PyValue::List(Vec::new())),
                b'}' => self.push(PyValue::Dict(Vec::new())),
                b')' => self.push(PyValue::Tuple(Vec::new())),
                b't' => {
                    let items = self.pop_mark()?;
                    self.push(PyValue::Tuple(items));
                }
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push(PyValue::List(items));
                }
                b'd' => {
                    let items = self.pop_mark()?;
                    self.push(PyValue::Dict(Vec::new()));
                    self.set_items(items)?;
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    let mut items = Vec::with_capacity(n);
                    for _ in 0..n {
                        items.push(self.pop()?);
                    }
                    items.reverse();
                    self.push(PyValue::Tuple(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    self.append(vec![v])?;
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    self.append(items)?;
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    self.set_items(vec![k, v])?;
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    self.set_items(items)?;
                }
                0x94 => {
                    let idx = self.memo.len() as u32;
                    self.memo_put(idx)?;
                }
                b'q' => {
                    let idx = self.u8()? as u32;
                    self.memo_put(idx)?;
                }
                b'r' => {
                    let idx = self.u32()?;
                    self.memo_put(idx)?;
                }
                b'h' => {
                    let idx = self.u8()? as u32;
                    self.memo_get(idx)?;
                }
                b'j' => {
                    let idx = self.u32()?;
                    self.memo_get(idx)?;
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(&module, &name)?;
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (PyValue::Str(m), PyValue::Str(n)) => self.global(&m, &n)?,
                        _ => return self.err("STACK_GLOBAL needs two strings"),
                    }
                }
                b'R' => self.reduce()?,
                b'b' => self.build()?,
                other => return self.err(format!("unsupported opcode 0x{other:02x}")),
            }
        }
    }

    fn line(&mut self) -> Result<String, PickleError> {
        let rest = &self.data[self.pos..];
        let Some(end) = rest.iter().position(|&b| b == b'\n') else {
            return self.err("unterminated line");
        };
        let s = String::from_utf8_lossy(&rest[..end]).into_owned();
        self.pos += end + 1;
        Ok(s)
    }
}
