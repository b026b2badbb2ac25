//! A reader for the subset of Python's pickle format that data sets use: dicts, lists, tuples,
//! numbers, strings and bytes, and the calls NumPy arrays are pickled as (interpreted by
//! [`super::numpy`]). Nothing is executed: globals are recorded by name only.
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

/// How deeply containers may nest (a data set's pickle nests 3–5 deep). Deeper nesting is refused
/// before it is built: dropping a value recurses once per level.
pub const MAX_DEPTH: usize = 64;

/// The values a pickle makes the reader build may total at most this many times the file's size,
/// plus [`SLACK`] bytes, counting every copy DUP and the memo make (a CIFAR batch builds about 2×).
/// Without a bound, a few hundred bytes of DUP and memo gets can demand any amount of memory.
pub const EXPANSION: usize = 8;

/// See [`EXPANSION`].
pub const SLACK: usize = 1 << 20;

/// Bytes charged per value besides its payload.
const NODE: usize = std::mem::size_of::<Value>();

/// A value on the stack or in the memo, with its nesting depth and the bytes it holds.
#[derive(Clone)]
struct Entry {
    v: Value,
    depth: usize,
    size: usize,
}

enum Item {
    Mark,
    V(Entry),
}

/// What the reader has built so far, against its limit.
struct Budget {
    used: usize,
    limit: usize,
}

impl Budget {
    fn charge(&mut self, bytes: usize) -> Result<(), String> {
        self.used = self.used.saturating_add(bytes);
        if self.used > self.limit {
            return Err(format!(
                "the pickle builds more than {} bytes of values ({EXPANSION}× its size + 1 MiB; copies made by DUP and \
                 the memo count)",
                self.limit
            ));
        }
        Ok(())
    }

    /// A value without children holding `payload` bytes.
    fn leaf(&mut self, v: Value, payload: usize) -> Result<Item, String> {
        let size = NODE.saturating_add(payload);
        self.charge(size)?;
        Ok(Item::V(Entry { v, depth: 0, size }))
    }

    /// A container of `children`, built by `make`.
    fn node(&mut self, children: Vec<Entry>, make: impl FnOnce(Vec<Value>) -> Result<Value, String>) -> Result<Item, String> {
        let depth = 1 + children.iter().map(|c| c.depth).max().unwrap_or(0);
        if depth > MAX_DEPTH {
            return Err(format!("values nest more than {MAX_DEPTH} deep"));
        }
        let size = children.iter().fold(NODE, |a, c| a.saturating_add(c.size));
        self.charge(NODE)?;
        Ok(Item::V(Entry { v: make(children.into_iter().map(|c| c.v).collect())?, depth, size }))
    }

    /// A copy of `e` (DUP, memo put, memo get).
    fn copy(&mut self, e: &Entry) -> Result<Entry, String> {
        self.charge(e.size)?;
        Ok(e.clone())
    }
}

/// Adds `child` to the container `parent` (APPEND, SETITEM, BUILD, …) with `add`.
fn grow(parent: &mut Entry, children: Vec<Entry>, add: impl FnOnce(&mut Value, Vec<Value>) -> Result<(), String>) -> Result<(), String> {
    for c in &children {
        let depth = parent.depth.max(c.depth + 1);
        if depth > MAX_DEPTH {
            return Err(format!("values nest more than {MAX_DEPTH} deep"));
        }
        parent.depth = depth;
        parent.size = parent.size.saturating_add(c.size);
    }
    add(&mut parent.v, children.into_iter().map(|c| c.v).collect())
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

/// Decodes one pickle. `name` is used in error messages. What it builds is bounded by
/// [`EXPANSION`] and [`MAX_DEPTH`].
pub fn decode(name: &str, bytes: &[u8]) -> Result<Value, CoreError> {
    run(bytes).map_err(|(pos, msg)| CoreError::data(name, format!("pickle: {msg} (at byte {pos})")))
}

fn pop_entry(stack: &mut Vec<Item>) -> Result<Entry, String> {
    match stack.pop() {
        Some(Item::V(v)) => Ok(v),
        Some(Item::Mark) => Err("unexpected mark".into()),
        None => Err("stack underflow".into()),
    }
}

fn pop_mark(stack: &mut Vec<Item>) -> Result<Vec<Entry>, String> {
    let i = stack.iter().rposition(|x| matches!(x, Item::Mark)).ok_or("no mark")?;
    let items = stack.split_off(i + 1);
    stack.pop();
    Ok(items.into_iter().filter_map(|x| if let Item::V(v) = x { Some(v) } else { None }).collect())
}

/// The container on top of the stack, for APPEND, SETITEM and BUILD.
fn top<'s>(stack: &'s mut [Item], what: &str) -> Result<&'s mut Entry, String> {
    match stack.last_mut() {
        Some(Item::V(e)) => Ok(e),
        _ => Err(format!("{what} on nothing")),
    }
}

fn run(bytes: &[u8]) -> Result<Value, (usize, String)> {
    let mut r = Reader { b: bytes, pos: 0 };
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: std::collections::HashMap<usize, Entry> = std::collections::HashMap::new();
    let mut budget = Budget { used: 0, limit: bytes.len().saturating_mul(EXPANSION).saturating_add(SLACK) };
    loop {
        let at = r.pos;
        let op = r.u8().map_err(|m| (at, m))?;
        match step(op, &mut r, &mut stack, &mut memo, &mut budget) {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(m) => return Err((at, m)),
        }
    }
}

/// Runs one opcode; `Some` at STOP.
fn step(
    op: u8,
    r: &mut Reader<'_>,
    stack: &mut Vec<Item>,
    memo: &mut std::collections::HashMap<usize, Entry>,
    budget: &mut Budget,
) -> Result<Option<Value>, String> {
    let item = match op {
        0x80 => {
            let proto = r.u8()?;
            if proto > 5 {
                return Err(format!("unsupported protocol {proto}"));
            }
            return Ok(None);
        }
        0x95 => {
            r.take(8)?; // FRAME: length hint only
            return Ok(None);
        }
        b'.' => return Ok(Some(pop_entry(stack)?.v)),
        b'(' => {
            budget.charge(NODE)?;
            Item::Mark
        }
        b'0' => {
            pop_entry(stack)?;
            return Ok(None);
        }
        b'1' => {
            pop_mark(stack)?;
            return Ok(None);
        }
        b'2' => match stack.last() {
            Some(Item::V(e)) => Item::V(budget.copy(e)?),
            _ => return Err("DUP of nothing".into()),
        },
        b'N' => budget.leaf(Value::None, 0)?,
        0x88 => budget.leaf(Value::Bool(true), 0)?,
        0x89 => budget.leaf(Value::Bool(false), 0)?,
        b'J' => budget.leaf(Value::Int(i32::from_le_bytes(r.take(4)?.try_into().unwrap()) as i64), 0)?,
        b'K' => budget.leaf(Value::Int(r.u8()? as i64), 0)?,
        b'M' => budget.leaf(Value::Int(r.u16()? as i64), 0)?,
        b'I' | b'L' => {
            let s = text(r.line()?)?;
            let s = s.trim_end_matches('L');
            let v = match s {
                "00" => Value::Bool(false),
                "01" => Value::Bool(true),
                _ => Value::Int(s.parse().map_err(|_| format!("bad integer '{s}'"))?),
            };
            budget.leaf(v, 0)?
        }
        0x8a | 0x8b => {
            let n = if op == 0x8a { r.u8()? as usize } else { r.u32()? };
            let b = r.take(n)?;
            if n > 8 {
                return Err(format!("integer of {n} bytes is too large"));
            }
            let mut buf = if b.last().is_some_and(|&x| x & 0x80 != 0) { [0xffu8; 8] } else { [0u8; 8] };
            buf[..n].copy_from_slice(b);
            budget.leaf(Value::Int(i64::from_le_bytes(buf)), 0)?
        }
        b'G' => budget.leaf(Value::Float(f64::from_be_bytes(r.take(8)?.try_into().unwrap())), 0)?,
        b'F' => {
            let s = text(r.line()?)?;
            budget.leaf(Value::Float(s.parse().map_err(|_| format!("bad float '{s}'"))?), 0)?
        }
        b'U' | b'T' | b'C' | b'B' | 0x8e | 0x96 => {
            let n = match op {
                b'U' | b'C' => r.u8()? as usize,
                b'T' | b'B' => r.u32()?,
                _ => r.u64()?,
            };
            let b = r.take(n)?;
            budget.leaf(Value::Bytes(b.to_vec()), n)?
        }
        b'X' | 0x8c | 0x8d => {
            let n = match op {
                0x8c => r.u8()? as usize,
                b'X' => r.u32()?,
                _ => r.u64()?,
            };
            let s = text(r.take(n)?)?;
            budget.leaf(Value::Str(s), n)?
        }
        b'S' => {
            let raw = r.line()?;
            let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or_default();
            budget.leaf(Value::Bytes(inner.to_vec()), inner.len())?
        }
        b'V' => {
            let s = text(r.line()?)?;
            let n = s.len();
            budget.leaf(Value::Str(s), n)?
        }
        b'}' => budget.leaf(Value::Dict(Vec::new()), 0)?,
        b']' => budget.leaf(Value::List(Vec::new()), 0)?,
        b')' => budget.leaf(Value::Tuple(Vec::new()), 0)?,
        b'd' => {
            let items = pop_mark(stack)?;
            budget.node(items, |v| Ok(Value::Dict(pairs(v)?)))?
        }
        b'l' => {
            let items = pop_mark(stack)?;
            budget.node(items, |v| Ok(Value::List(v)))?
        }
        b't' => {
            let items = pop_mark(stack)?;
            budget.node(items, |v| Ok(Value::Tuple(v)))?
        }
        0x85..=0x87 => {
            let n = (op - 0x84) as usize;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(pop_entry(stack)?);
            }
            items.reverse();
            budget.node(items, |v| Ok(Value::Tuple(v)))?
        }
        b'a' | b'e' => {
            let items = if op == b'a' { vec![pop_entry(stack)?] } else { pop_mark(stack)? };
            grow(top(stack, "APPEND")?, items, |list, v| match list {
                Value::List(l) => {
                    l.extend(v);
                    Ok(())
                }
                _ => Err("APPEND to a non-list".into()),
            })?;
            return Ok(None);
        }
        b's' | b'u' => {
            let items = if op == b's' {
                let v = pop_entry(stack)?;
                vec![pop_entry(stack)?, v]
            } else {
                pop_mark(stack)?
            };
            grow(top(stack, "SETITEM")?, items, |dict, v| match dict {
                Value::Dict(d) => {
                    d.extend(pairs(v)?);
                    Ok(())
                }
                _ => Err("SETITEM on a non-dict".into()),
            })?;
            return Ok(None);
        }
        b'p' | b'q' | b'r' | 0x94 => {
            let idx = match op {
                b'p' => text(r.line()?)?.parse().map_err(|_| "bad memo index".to_string())?,
                b'q' => r.u8()? as usize,
                b'r' => r.u32()?,
                _ => memo.len(),
            };
            let Some(Item::V(e)) = stack.last() else { return Err("memoize of nothing".into()) };
            let copy = budget.copy(e)?;
            memo.insert(idx, copy);
            return Ok(None);
        }
        b'g' | b'h' | b'j' => {
            let idx = match op {
                b'g' => text(r.line()?)?.parse().map_err(|_| "bad memo index".to_string())?,
                b'h' => r.u8()? as usize,
                _ => r.u32()?,
            };
            let e = memo.get(&idx).ok_or_else(|| format!("memo {idx} is empty"))?;
            Item::V(budget.copy(e)?)
        }
        b'c' => {
            let module = text(r.line()?)?;
            let name = text(r.line()?)?;
            let n = module.len() + name.len();
            budget.leaf(Value::Global(module, name), n)?
        }
        0x93 => {
            let name = pop_entry(stack)?;
            let module = pop_entry(stack)?;
            match (module.v, name.v) {
                (Value::Str(m), Value::Str(n)) => {
                    let len = m.len() + n.len();
                    budget.leaf(Value::Global(m, n), len)?
                }
                _ => return Err("STACK_GLOBAL needs two strings".into()),
            }
        }
        b'R' | 0x81 => {
            let args = pop_entry(stack)?;
            let callable = pop_entry(stack)?;
            budget.node(vec![callable, args], |mut v| {
                let args = v.pop().unwrap_or(Value::None);
                let callable = v.pop().unwrap_or(Value::None);
                Ok(Value::Object { callable: Box::new(callable), args: Box::new(args), state: None })
            })?
        }
        b'b' => {
            let st = pop_entry(stack)?;
            grow(top(stack, "BUILD")?, vec![st], |obj, mut v| match obj {
                Value::Object { state, .. } => {
                    *state = v.pop().map(Box::new);
                    Ok(())
                }
                _ => Err("BUILD on a non-object".into()),
            })?;
            return Ok(None);
        }
        other => return Err(format!("unsupported opcode 0x{other:02x}")),
    };
    stack.push(item);
    Ok(None)
}

fn pairs(items: Vec<Value>) -> Result<Vec<(Value, Value)>, String> {
    if !items.len().is_multiple_of(2) {
        return Err("odd number of dict items".into());
    }
    let mut it = items.into_iter();
    let mut out = Vec::new();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        out.push((k, v));
    }
    Ok(out)
}
