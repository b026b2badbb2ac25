//! NumPy arrays inside pickles: the `_reconstruct` + `__setstate__` pattern of protocols 0–4 and
//! protocol 5's `_frombuffer`, for arrays of one-byte elements (the images of CIFAR's python
//! version). The values come from [`super::pickle`]; nothing is executed.

use super::pickle::Value;

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
