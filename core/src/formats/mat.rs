//! A reader for MATLAB level-5 MAT-files (the format of SVHN's `train_32x32.mat`), enough to read
//! numeric arrays by name: the 128-byte header, data elements in long and small format,
//! `miCOMPRESSED` (zlib) elements and `miMATRIX` numeric arrays. Layout: MathWorks, "MAT-File
//! Format", chapter 1 (Level 5).

/// A numeric array: its name, dimensions (MATLAB order) and values in column-major order.
#[derive(Clone, Debug, PartialEq)]
pub struct MatArray {
    /// Variable name.
    pub name: String,
    /// Dimensions.
    pub dims: Vec<usize>,
    /// MATLAB class code (6 = double, 9 = uint8, …).
    pub class: u8,
    /// The values as stored (uint8 kept exact, others converted to f64).
    pub data: MatData,
}

/// Values of a [`MatArray`].
#[derive(Clone, Debug, PartialEq)]
pub enum MatData {
    /// Stored as 8-bit unsigned integers.
    U8(Vec<u8>),
    /// Any other numeric type, converted.
    F64(Vec<f64>),
}

impl MatData {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            MatData::U8(v) => v.len(),
            MatData::F64(v) => v.len(),
        }
    }
    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Value `i` as f64.
    pub fn get(&self, i: usize) -> f64 {
        match self {
            MatData::U8(v) => v[i] as f64,
            MatData::F64(v) => v[i],
        }
    }
}

const MI_INT8: u32 = 1;
const MI_UINT8: u32 = 2;
const MI_INT16: u32 = 3;
const MI_UINT16: u32 = 4;
const MI_INT32: u32 = 5;
const MI_UINT32: u32 = 6;
const MI_SINGLE: u32 = 7;
const MI_DOUBLE: u32 = 9;
const MI_INT64: u32 = 12;
const MI_UINT64: u32 = 13;
const MI_MATRIX: u32 = 14;
const MI_COMPRESSED: u32 = 15;

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    big: bool,
}

impl<'a> Cursor<'a> {
    fn u32_at(&self, at: usize) -> Result<u32, String> {
        let s: [u8; 4] = self.b.get(at..at + 4).ok_or("truncated element tag")?.try_into().unwrap();
        Ok(if self.big { u32::from_be_bytes(s) } else { u32::from_le_bytes(s) })
    }
    /// Reads one data element: (type, payload). Advances past padding to 8 bytes.
    fn element(&mut self) -> Result<(u32, &'a [u8]), String> {
        let first = self.u32_at(self.pos)?;
        let (ty, size, start, padded) = if first >> 16 != 0 {
            // Small data element: size in the upper 16 bits, data in the next 4 bytes.
            let size = (first >> 16) as usize;
            if size > 4 {
                return Err(format!("small data element of {size} bytes"));
            }
            (first & 0xffff, size, self.pos + 4, 8)
        } else {
            let size = self.u32_at(self.pos + 4)? as usize;
            let padded = if first == MI_COMPRESSED { 8 + size } else { 8 + size.div_ceil(8) * 8 };
            (first, size, self.pos + 8, padded)
        };
        let payload = self.b.get(start..start + size).ok_or_else(|| {
            format!("element of type {ty} needs {size} bytes at offset {start}, the file has {}", self.b.len())
        })?;
        self.pos = (self.pos + padded).min(self.b.len());
        Ok((ty, payload))
    }
}

fn numbers(ty: u32, p: &[u8], big: bool) -> Result<MatData, String> {
    // Values other than uint8 widen to f64: up to 8 bytes per byte read.
    if ty != MI_UINT8 && (p.len() as u64).saturating_mul(8) > super::MAX_DATA_BYTES {
        return Err(format!("an array of {} bytes is over the limit once widened to f64", p.len()));
    }
    macro_rules! conv {
        ($t:ty, $n:expr) => {{
            if p.len() % $n != 0 {
                return Err(format!("{} bytes is not a whole number of {}-byte values", p.len(), $n));
            }
            p.chunks_exact($n)
                .map(|c| {
                    let a: [u8; $n] = c.try_into().unwrap();
                    (if big { <$t>::from_be_bytes(a) } else { <$t>::from_le_bytes(a) }) as f64
                })
                .collect()
        }};
    }
    Ok(match ty {
        MI_UINT8 => MatData::U8(p.to_vec()),
        MI_INT8 => MatData::F64(p.iter().map(|&x| x as i8 as f64).collect()),
        MI_INT16 => MatData::F64(conv!(i16, 2)),
        MI_UINT16 => MatData::F64(conv!(u16, 2)),
        MI_INT32 => MatData::F64(conv!(i32, 4)),
        MI_UINT32 => MatData::F64(conv!(u32, 4)),
        MI_SINGLE => MatData::F64(conv!(f32, 4)),
        MI_DOUBLE => MatData::F64(conv!(f64, 8)),
        MI_INT64 => MatData::F64(conv!(i64, 8)),
        MI_UINT64 => MatData::F64(conv!(u64, 8)),
        other => return Err(format!("unsupported numeric data type {other}")),
    })
}

fn matrix(p: &[u8], big: bool) -> Result<Option<MatArray>, String> {
    let mut c = Cursor { b: p, pos: 0, big };
    let (ty, flags) = c.element()?;
    if ty != MI_UINT32 || flags.len() < 8 {
        return Err("array flags missing".into());
    }
    let class = flags[if big { 3 } else { 0 }];
    if !(6..=15).contains(&class) {
        return Ok(None); // cell, struct, object, char, sparse: not numeric arrays
    }
    let (ty, dims) = c.element()?;
    if ty != MI_INT32 {
        return Err("array dimensions missing".into());
    }
    let dims: Vec<usize> = match numbers(MI_INT32, dims, big)? {
        MatData::F64(v) => v.into_iter().map(|d| d.max(0.0) as usize).collect(),
        MatData::U8(_) => unreachable!(),
    };
    let (_, name) = c.element()?;
    let name = String::from_utf8_lossy(name).into_owned();
    let (ty, real) = c.element()?;
    let data = numbers(ty, real, big)?;
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or("dimensions overflow")?;
    if data.len() != count {
        return Err(format!("'{name}': dimensions {dims:?} need {count} values, found {}", data.len()));
    }
    Ok(Some(MatArray { name, dims, class, data }))
}

/// Reads every numeric array of a level-5 MAT-file.
pub fn decode(bytes: &[u8]) -> Result<Vec<MatArray>, String> {
    if bytes.len() < 128 {
        return Err(format!("file too short for a MAT-file header ({} bytes)", bytes.len()));
    }
    if bytes.starts_with(b"MATLAB 7.3") || bytes.starts_with(b"\x89HDF") {
        return Err("MATLAB v7.3 (HDF5) files are not supported; save with -v7".into());
    }
    let big = match &bytes[126..128] {
        b"IM" => false,
        b"MI" => true,
        other => return Err(format!("not a level-5 MAT-file (endian indicator {other:?})")),
    };
    let mut out = Vec::new();
    let mut c = Cursor { b: bytes, pos: 128, big };
    while c.pos < bytes.len() {
        let (ty, payload) = c.element()?;
        match ty {
            MI_MATRIX => out.extend(matrix(payload, big)?),
            MI_COMPRESSED => {
                // Inflate the inner element's tag, then only as many bytes as it promises.
                let mut z = flate2::read::ZlibDecoder::new(payload);
                let tag = super::read_promised(&mut z, 8, "a compressed element's tag")?;
                let inner = Cursor { b: &tag, pos: 0, big };
                let size = if inner.u32_at(0)? >> 16 != 0 { 0 } else { inner.u32_at(4)? as u64 };
                let mut inflated = tag;
                inflated.extend(super::read_promised(&mut z, size, "a compressed element")?);
                let mut inner = Cursor { b: &inflated, pos: 0, big };
                let (ity, ipayload) = inner.element()?;
                if ity == MI_MATRIX {
                    out.extend(matrix(ipayload, big)?);
                }
            }
            _ => {}
        }
    }
    Ok(out)
}
