//! A reader for the subset of Python's pickle format that data sets use: dicts, lists, tuples,
//! numbers, strings and bytes, and NumPy arrays (pickled through `numpy.core.multiarray._reconstruct`
//! and `ndarray.__setstate__`). Nothing is executed: globals are recorded by name only, and only the
//! NumPy array pattern is interpreted.
//!
//! Opcodes follow CPython's `pickletools` documentation (protocols 0–5).

use crate::error::CoreError;

/// A decoded pickle value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `None`.
    None,
    /// `True` / `False`.
    Bool(bool),
    /// An integer that fits in i64.
    Int(i64),
    /// A float.
    Float(f64),
    /// `bytes` (or a Python 2 `str` read as bytes).
    Bytes(Vec<u8>),
    /// `str`.
    Str(String),
    /// `list`.
    List(Vec<Value>),
    /// `tuple`.
    Tuple(Vec<Value>),
    /// `dict`, in insertion order.
    Dict(Vec<(Value, Value)>),
    /// A global reference `module.name` (never resolved).
    Global(String, String),
    /// `callable(*args)`, possibly followed by `BUILD(state)`.
    Object {
        /// What was called.
        callable: Box<Value>,
        /// Its arguments.
        args: Box<Value>,
        /// The state passed by BUILD, if any.
        state: Option<Box<Value>>,
    },
}

impl Value {
    /// Looks up a dict entry by a key given as text, matching `str` and `bytes` keys.
    pub fn get(&self, key: &str) -> Option<&Value> {
        let Value::Dict(items) = self else { return None };
        items.iter().find_map(|(k, v)| (k.as_bytes().as_deref() == Some(key.as_bytes())).then_some(v))
    }

    /// The bytes of a `bytes` value, of a `str` read as Latin-1, or of `_codecs.encode(s, 'latin1')`
    /// (how Python 3 writes bytes in protocols 0–2).
    pub fn as_bytes(&self) -> Option<Vec<u8>> {
        match self {
            Value::Bytes(b) => Some(b.clone()),
            Value::Str(s) => s.chars().map(|c| u8::try_from(c as u32).ok()).collect(),
            Value::Object { callable, args, .. } => match (&**callable, &**args) {
                (Value::Global(m, n), Value::Tuple(a)) if m == "_codecs" && n == "encode" && !a.is_empty() => {
                    a[0].as_bytes()
                }
                _ => None,
            },
            _ => None,
        }
    }
}

/// A NumPy array of bytes (dtype uint8 / int8 / bool) with its shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ByteArray {
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major (C order) data.
    pub data: Vec<u8>,
}

/// Interprets a value as a pickled NumPy array of one-byte elements: protocols 0–4 pickle arrays as
/// `_reconstruct(...)` followed by `__setstate__((version, shape, dtype, is_fortran, raw))`,
/// protocol 5 as `_frombuffer(raw, dtype, shape, order)`.
pub fn as_byte_array(v: &Value) -> Result<ByteArray, String> {
    let Value::Object { callable, args, state } = v else {
        return Err("expected a NumPy array".into());
    };
    let Value::Global(module, func) = &**callable else {
        return Err("expected a NumPy array".into());
    };
    if !module.starts_with("numpy") {
        return Err(format!("expected a NumPy array, found a call of {module}.{func}"));
    }
    let (shape, dtype, fortran, raw) = match (func.as_str(), state.as_deref()) {
        ("_reconstruct", Some(Value::Tuple(st))) => {
            let st = if st.len() == 5 { &st[1..] } else { &st[..] };
            if st.len() != 4 {
                return Err(format!("NumPy array state has {} fields, expected 4 or 5", st.len()));
            }
            (&st[0], &st[1], matches!(st[2], Value::Bool(true)), &st[3])
        }
        ("_frombuffer", _) => match &**args {
            Value::Tuple(a) if a.len() == 4 => {
                let order = a[3].as_bytes().unwrap_or_default();
                (&a[2], &a[1], order == b"F", &a[0])
            }
            _ => return Err("_frombuffer needs 4 arguments".into()),
        },
        _ => return Err(format!("unsupported NumPy reconstruction {module}.{func}")),
    };
    let Value::Tuple(dims) = shape else { return Err("NumPy shape is not a tuple".into()) };
    let mut shape = Vec::new();
    for d in dims {
        match d {
            Value::Int(n) if *n >= 0 => shape.push(*n as usize),
            _ => return Err("NumPy shape holds a non-integer".into()),
        }
    }
    let dtype = match dtype {
        Value::Object { args, .. } => match &**args {
            Value::Tuple(a) if !a.is_empty() => a[0].as_bytes().map(|b| String::from_utf8_lossy(&b).into_owned()),
            _ => None,
        },
        _ => None,
    }
    .unwrap_or_default();
    if !matches!(dtype.as_str(), "u1" | "i1" | "b1") {
        return Err(format!("NumPy dtype '{dtype}' is not a one-byte type (expected u1)"));
    }
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err("Fortran-ordered NumPy arrays are not supported".into());
    }
    let data = raw.as_bytes().ok_or("NumPy raw data is not bytes")?;
    let count = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("NumPy shape overflows")?;
    if data.len() != count {
        return Err(format!("NumPy shape {shape:?} needs {count} bytes, found {}", data.len()));
    }
    Ok(ByteArray { shape, data })
}

enum Item {
    Mark,
    V(Value),
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.b.len()).ok_or("unexpected end of data")?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<usize, String> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()) as usize)
    }
    fn u32(&mut self) -> Result<usize, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()) as usize)
    }
    fn u64(&mut self) -> Result<usize, String> {
        usize::try_from(u64::from_le_bytes(self.take(8)?.try_into().unwrap())).map_err(|_| "length overflows".to_string())
    }
    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = &self.b[self.pos..];
        let n = rest.iter().position(|&c| c == b'\n').ok_or("unterminated text argument")?;
        let s = &rest[..n];
        self.pos += n + 1;
        Ok(s)
    }
}

fn text(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "invalid UTF-8 in a string".to_string())
}

/// Decodes one pickle. `name` is used in error messages.
pub fn decode(name: &str, bytes: &[u8]) -> Result<Value, CoreError> {
    run(bytes).map_err(|(pos, msg)| CoreError::data(name, format!("pickle: {msg} (at byte {pos})")))
}

fn run(bytes: &[u8]) -> Result<Value, (usize, String)> {
    let mut r = Reader { b: bytes, pos: 0 };
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: std::collections::HashMap<usize, Value> = std::collections::HashMap::new();
    loop {
        let at = r.pos;
        let e = |m: String| (at, m);
        let op = r.u8().map_err(e)?;
        let pop = |stack: &mut Vec<Item>| -> Result<Value, (usize, String)> {
            match stack.pop() {
                Some(Item::V(v)) => Ok(v),
                Some(Item::Mark) => Err((at, "unexpected mark".into())),
                None => Err((at, "stack underflow".into())),
            }
        };
        let pop_mark = |stack: &mut Vec<Item>| -> Result<Vec<Value>, (usize, String)> {
            let i = stack.iter().rposition(|x| matches!(x, Item::Mark)).ok_or((at, "no mark".to_string()))?;
            let items = stack.split_off(i + 1);
            stack.pop();
            Ok(items.into_iter().map(|x| if let Item::V(v) = x { v } else { Value::None }).collect())
        };
        match op {
            0x80 => {
                let proto = r.u8().map_err(e)?;
                if proto > 5 {
                    return Err(e(format!("unsupported protocol {proto}")));
                }
            }
            0x95 => {
                r.take(8).map_err(e)?; // FRAME: length hint only
            }
            b'.' => return pop(&mut stack),
            b'(' => stack.push(Item::Mark),
            b'0' => {
                pop(&mut stack)?;
            }
            b'1' => {
                pop_mark(&mut stack)?;
            }
            b'2' => {
                let v = match stack.last() {
                    Some(Item::V(v)) => v.clone(),
                    _ => return Err(e("DUP of nothing".into())),
                };
                stack.push(Item::V(v));
            }
            b'N' => stack.push(Item::V(Value::None)),
            0x88 => stack.push(Item::V(Value::Bool(true))),
            0x89 => stack.push(Item::V(Value::Bool(false))),
            b'J' => {
                let v = i32::from_le_bytes(r.take(4).map_err(e)?.try_into().unwrap());
                stack.push(Item::V(Value::Int(v as i64)));
            }
            b'K' => {
                let v = r.u8().map_err(e)?;
                stack.push(Item::V(Value::Int(v as i64)));
            }
            b'M' => {
                let v = r.u16().map_err(e)?;
                stack.push(Item::V(Value::Int(v as i64)));
            }
            b'I' | b'L' => {
                let s = text(r.line().map_err(e)?).map_err(e)?;
                let s = s.trim_end_matches('L');
                let v = match s {
                    "00" => Value::Bool(false),
                    "01" => Value::Bool(true),
                    _ => Value::Int(s.parse().map_err(|_| e(format!("bad integer '{s}'")))?),
                };
                stack.push(Item::V(v));
            }
            0x8a | 0x8b => {
                let n = if op == 0x8a { r.u8().map_err(e)? as usize } else { r.u32().map_err(e)? };
                let b = r.take(n).map_err(e)?;
                if n > 8 {
                    return Err(e(format!("integer of {n} bytes is too large")));
                }
                let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) { [0xffu8; 8] } else { [0u8; 8] };
                buf[..n].copy_from_slice(b);
                stack.push(Item::V(Value::Int(i64::from_le_bytes(buf))));
            }
            b'G' => {
                let v = f64::from_be_bytes(r.take(8).map_err(e)?.try_into().unwrap());
                stack.push(Item::V(Value::Float(v)));
            }
            b'F' => {
                let s = text(r.line().map_err(e)?).map_err(e)?;
                stack.push(Item::V(Value::Float(s.parse().map_err(|_| e(format!("bad float '{s}'")))?)));
            }
            b'U' | b'T' | b'C' | b'B' | 0x8e | 0x96 => {
                let n = match op {
                    b'U' | b'C' => r.u8().map_err(e)? as usize,
                    b'T' | b'B' => r.u32().map_err(e)?,
                    _ => r.u64().map_err(e)?,
                };
                stack.push(Item::V(Value::Bytes(r.take(n).map_err(e)?.to_vec())));
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    0x8c => r.u8().map_err(e)? as usize,
                    b'X' => r.u32().map_err(e)?,
                    _ => r.u64().map_err(e)?,
                };
                stack.push(Item::V(Value::Str(text(r.take(n).map_err(e)?).map_err(e)?)));
            }
            b'S' => {
                let raw = r.line().map_err(e)?;
                let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
                stack.push(Item::V(Value::Bytes(inner.to_vec())));
            }
            b'V' => {
                let s = text(r.line().map_err(e)?).map_err(e)?;
                stack.push(Item::V(Value::Str(s)));
            }
            b'}' => stack.push(Item::V(Value::Dict(Vec::new()))),
            b']' => stack.push(Item::V(Value::List(Vec::new()))),
            b')' => stack.push(Item::V(Value::Tuple(Vec::new()))),
            b'd' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Item::V(Value::Dict(pairs(items).map_err(e)?)));
            }
            b'l' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Item::V(Value::List(items)));
            }
            b't' => {
                let items = pop_mark(&mut stack)?;
                stack.push(Item::V(Value::Tuple(items)));
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(pop(&mut stack)?);
                }
                items.reverse();
                stack.push(Item::V(Value::Tuple(items)));
            }
            b'a' => {
                let v = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Item::V(Value::List(l))) => l.push(v),
                    _ => return Err(e("APPEND to a non-list".into())),
                }
            }
            b'e' => {
                let items = pop_mark(&mut stack)?;
                match stack.last_mut() {
                    Some(Item::V(Value::List(l))) => l.extend(items),
                    _ => return Err(e("APPENDS to a non-list".into())),
                }
            }
            b's' => {
                let v = pop(&mut stack)?;
                let k = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Item::V(Value::Dict(d))) => d.push((k, v)),
                    _ => return Err(e("SETITEM on a non-dict".into())),
                }
            }
            b'u' => {
                let items = pop_mark(&mut stack)?;
                let p = pairs(items).map_err(e)?;
                match stack.last_mut() {
                    Some(Item::V(Value::Dict(d))) => d.extend(p),
                    _ => return Err(e("SETITEMS on a non-dict".into())),
                }
            }
            b'p' => {
                let idx: usize = text(r.line().map_err(e)?).map_err(e)?.parse().map_err(|_| e("bad memo index".into()))?;
                memo_put(&stack, &mut memo, idx).map_err(e)?;
            }
            b'q' | b'r' => {
                let idx = if op == b'q' { r.u8().map_err(e)? as usize } else { r.u32().map_err(e)? };
                memo_put(&stack, &mut memo, idx).map_err(e)?;
            }
            0x94 => {
                let idx = memo.len();
                memo_put(&stack, &mut memo, idx).map_err(e)?;
            }
            b'g' | b'h' | b'j' => {
                let idx = match op {
                    b'g' => text(r.line().map_err(e)?).map_err(e)?.parse().map_err(|_| e("bad memo index".into()))?,
                    b'h' => r.u8().map_err(e)? as usize,
                    _ => r.u32().map_err(e)?,
                };
                let v = memo.get(&idx).cloned().ok_or_else(|| e(format!("memo {idx} is empty")))?;
                stack.push(Item::V(v));
            }
            b'c' => {
                let module = text(r.line().map_err(e)?).map_err(e)?;
                let name = text(r.line().map_err(e)?).map_err(e)?;
                stack.push(Item::V(Value::Global(module, name)));
            }
            0x93 => {
                let name = pop(&mut stack)?;
                let module = pop(&mut stack)?;
                match (module, name) {
                    (Value::Str(m), Value::Str(n)) => stack.push(Item::V(Value::Global(m, n))),
                    _ => return Err(e("STACK_GLOBAL needs two strings".into())),
                }
            }
            b'R' | 0x81 => {
                let args = pop(&mut stack)?;
                let callable = pop(&mut stack)?;
                stack.push(Item::V(Value::Object { callable: Box::new(callable), args: Box::new(args), state: None }));
            }
            b'b' => {
                let st = pop(&mut stack)?;
                match stack.last_mut() {
                    Some(Item::V(Value::Object { state, .. })) => *state = Some(Box::new(st)),
                    _ => return Err(e("BUILD on a non-object".into())),
                }
            }
            other => return Err(e(format!("unsupported opcode 0x{other:02x}"))),
        }
    }
}

fn memo_put(stack: &[Item], memo: &mut std::collections::HashMap<usize, Value>, idx: usize) -> Result<(), String> {
    match stack.last() {
        Some(Item::V(v)) => {
            memo.insert(idx, v.clone());
            Ok(())
        }
        _ => Err("memoize of nothing".into()),
    }
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if items.len() % 2 != 0 {
        return Err("odd number of dict items".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}
