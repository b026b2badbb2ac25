//! Decoders of the data sets' own file formats, from bytes (docs/ALGORITHM.md §5; the file layouts documented by
//! each set's authors). Every decoder returns an error naming the file and the problem, and never
//! panics on any input (a property test feeds them arbitrary and mutated bytes).

pub mod mat;
pub mod numpy;
pub mod pickle;

use std::io::Read;

use crate::data::{DataKind, Dataset};
use crate::error::CoreError;

/// The most bytes any one decoded array or inflated stream may hold (the largest file of the data
/// sets rdarts reads, SVHN's `extra_32x32.mat`, is 1.3 GB). Sizes are checked against it, and
/// against what the file's own headers promise, before anything is allocated or inflated.
pub const MAX_DATA_BYTES: u64 = 4 << 30;

/// Reads exactly `len` bytes from `r` (at most [`MAX_DATA_BYTES`]), growing the buffer only as data
/// arrives, so a header that promises more than the file holds costs nothing.
pub(crate) fn read_promised(r: &mut impl Read, len: u64, what: &str) -> Result<Vec<u8>, String> {
    if len > MAX_DATA_BYTES {
        return Err(format!("{what} of {len} bytes is over the limit of {MAX_DATA_BYTES} bytes"));
    }
    let mut out = Vec::new();
    r.take(len).read_to_end(&mut out).map_err(|e| format!("corrupt compressed data in {what}: {e}"))?;
    if (out.len() as u64) < len {
        return Err(format!("{what} needs {len} bytes, found {}", out.len()));
    }
    Ok(out)
}

/// The bytes of a file, through a gzip decoder when it starts with gzip's magic number.
fn maybe_gunzip<'a>(bytes: &'a [u8]) -> Box<dyn Read + 'a> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    }
}

/// Decodes an IDX file (MNIST format, gzipped or not): magic `0 0 type rank`, big-endian u32
/// dimensions, then the data. Returns the dimensions and the payload. Gzipped files are inflated
/// only as far as the header promises, and the promise is checked against [`MAX_DATA_BYTES`].
pub fn decode_idx(name: &str, bytes: &[u8], dtype: u8, rank: usize) -> Result<(Vec<usize>, Vec<u8>), CoreError> {
    let err = |m: String| CoreError::data(name, m);
    let mut r = maybe_gunzip(bytes);
    let mut head = Vec::new();
    (&mut r).take(4).read_to_end(&mut head).map_err(|e| err(format!("corrupt gzip data: {e}")))?;
    if head.len() < 4 {
        return Err(err(format!("file too short for an IDX header ({} bytes)", head.len())));
    }
    let expected = [0, 0, dtype, rank as u8];
    if head[..4] != expected {
        return Err(err(format!("wrong IDX magic number: expected {:02x?}, found {:02x?}", expected, &head[..4])));
    }
    let dims = read_promised(&mut r, 4 * rank as u64, "the IDX header").map_err(|_| err("truncated IDX header".into()))?;
    let dims: Vec<usize> = dims.chunks_exact(4).map(|d| u32::from_be_bytes(d.try_into().unwrap()) as usize).collect();
    let count = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    let Some(count) = count.filter(|&c| c <= MAX_DATA_BYTES) else {
        return Err(err(format!("IDX dimensions {dims:?} promise more than {MAX_DATA_BYTES} bytes")));
    };
    let payload = read_promised(&mut r, count, "the IDX data")
        .map_err(|m| err(format!("IDX dimensions {dims:?}: {m}")))?;
    let mut extra = [0u8; 1];
    if r.read(&mut extra).map_err(|e| err(format!("corrupt gzip data: {e}")))? != 0 {
        return Err(err(format!("IDX dimensions {dims:?} need {count} data bytes, the file has more")));
    }
    Ok((dims, payload))
}

/// The embedded default set: 10 000 real MNIST digits (see core/data/README.md), padded to 32×32.
pub fn embedded_digits() -> Dataset {
    const IMAGES: &[u8] = include_bytes!("../../data/digits-images-idx3-ubyte.gz");
    const LABELS: &[u8] = include_bytes!("../../data/digits-labels-idx1-ubyte.gz");
    idx_dataset(DataKind::Mnist, "embedded digits", IMAGES, LABELS).expect("the embedded digits are valid")
}

/// A 1-channel set from IDX image and label files, padded to 32×32 (MNIST, Fashion-MNIST).
pub fn idx_dataset(kind: DataKind, name: &str, images: &[u8], labels: &[u8]) -> Result<Dataset, CoreError> {
    let (dims, pixels) = decode_idx(&format!("{name} images"), images, 0x08, 3)?;
    let (ldims, labels) = decode_idx(&format!("{name} labels"), labels, 0x08, 1)?;
    if ldims[0] != dims[0] {
        return Err(CoreError::data(name, format!("{} images but {} labels", dims[0], ldims[0])));
    }
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if h != w || h > 32 || h == 0 {
        return Err(CoreError::data(name, format!("expected square images of at most 32×32, found {h}×{w}")));
    }
    let pad = (32 - h) / 2;
    let size = h + 2 * pad;
    let mut out = vec![0u8; n * size * size];
    for i in 0..n {
        for r in 0..h {
            let src = &pixels[(i * h + r) * w..(i * h + r + 1) * w];
            let dst = (i * size + r + pad) * size + pad;
            out[dst..dst + w].copy_from_slice(src);
        }
    }
    kind.dataset(name, out, labels, 1, size)
}

/// Decodes one CIFAR binary file: records of label byte(s) then 3072 pixel bytes (channel-major
/// 32×32 planes). CIFAR-10 has 1 label byte; CIFAR-100 has 2 (coarse, fine) and the fine one is used.
pub fn decode_cifar_bin(kind: DataKind, name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
    let label_bytes = if kind == DataKind::Cifar100 { 2 } else { 1 };
    let record = label_bytes + 3 * 32 * 32;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(CoreError::data(
            name,
            format!(
                "size {} is not a whole number of {record}-byte {kind:?} records (truncated, or not the binary version?)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / record;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * 3072);
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[label_bytes - 1];
        if label as usize >= kind.classes() {
            return Err(CoreError::data(name, format!("record {i}: label {label} is out of range 0..{}", kind.classes() - 1)));
        }
        labels.push(label);
        pixels.extend_from_slice(&rec[label_bytes..]);
    }
    Ok((pixels, labels))
}

/// Decodes one CIFAR python-format file (a pickled dict with `data`, a uint8 array N×3072, and
/// `labels` (CIFAR-10) or `fine_labels` (CIFAR-100)).
pub fn decode_cifar_py(kind: DataKind, name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
    let v = pickle::decode(name, bytes)?;
    let err = |m: String| CoreError::data(name, m);
    let data = v.get("data").ok_or_else(|| err("no 'data' entry in the pickled dict".into()))?;
    let arr = numpy::as_byte_array(data).map_err(|m| err(format!("'data': {m}")))?;
    if arr.shape.len() != 2 || arr.shape[1] != 3072 {
        return Err(err(format!("'data' has shape {:?}, expected [N, 3072]", arr.shape)));
    }
    let key = if kind == DataKind::Cifar100 { "fine_labels" } else { "labels" };
    let labels = match v.get(key) {
        Some(pickle::Value::List(l)) => l,
        Some(_) => return Err(err(format!("'{key}' is not a list"))),
        None => return Err(err(format!("no '{key}' entry in the pickled dict"))),
    };
    if labels.len() != arr.shape[0] {
        return Err(err(format!("{} images but {} labels", arr.shape[0], labels.len())));
    }
    let mut out = Vec::with_capacity(labels.len());
    for (i, l) in labels.iter().enumerate() {
        match l {
            pickle::Value::Int(x) if *x >= 0 && (*x as usize) < kind.classes() => out.push(*x as u8),
            other => return Err(err(format!("label {i} is {other:?}, expected 0..{}", kind.classes() - 1))),
        }
    }
    Ok((arr.data, out))
}

/// Joins decoded CIFAR files into one set.
pub fn cifar_dataset(kind: DataKind, name: &str, parts: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Dataset, CoreError> {
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (p, l) in parts {
        pixels.extend(p);
        labels.extend(l);
    }
    kind.dataset(name, pixels, labels, 3, 32)
}

/// Decodes SVHN's `*_32x32.mat`: `X` uint8 32×32×3×N (column-major) and `y` N×1 with labels
/// 1..10, where 10 stands for the digit 0.
pub fn svhn_dataset(name: &str, bytes: &[u8]) -> Result<Dataset, CoreError> {
    let err = |m: String| CoreError::data(name, m);
    let arrays = mat::decode(bytes).map_err(|m| err(format!("MAT-file: {m}")))?;
    let x = arrays.iter().find(|a| a.name == "X").ok_or_else(|| err("no variable 'X'".into()))?;
    let y = arrays.iter().find(|a| a.name == "y").ok_or_else(|| err("no variable 'y'".into()))?;
    if x.dims.len() != 4 || x.dims[0] != 32 || x.dims[1] != 32 || x.dims[2] != 3 {
        return Err(err(format!("'X' has dimensions {:?}, expected [32, 32, 3, N]", x.dims)));
    }
    let n = x.dims[3];
    if y.data.len() != n {
        return Err(err(format!("{n} images but {} labels", y.data.len())));
    }
    let mat::MatData::U8(xs) = &x.data else {
        return Err(err("'X' is not stored as uint8".into()));
    };
    // Column-major (r, c, ch, i) → row-major (i, ch, r, c).
    let mut pixels = vec![0u8; n * 3072];
    for i in 0..n {
        for ch in 0..3 {
            for c in 0..32 {
                for r in 0..32 {
                    pixels[i * 3072 + ch * 1024 + r * 32 + c] = xs[r + 32 * c + 1024 * ch + 3072 * i];
                }
            }
        }
    }
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let v = y.data.get(i);
        if !((1.0..=10.0).contains(&v) && v.fract() == 0.0) {
            return Err(err(format!("label {i} is {v}, expected 1..10")));
        }
        labels.push((v as u8) % 10);
    }
    DataKind::Svhn.dataset(name, pixels, labels, 3, 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn idx_bytes(magic: [u8; 4], dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn idx_round_trip_and_errors() {
        let px: Vec<u8> = (0..2 * 28 * 28).map(|i| (i % 251) as u8).collect();
        let images = idx_bytes([0, 0, 8, 3], &[2, 28, 28], &px);
        let labels = idx_bytes([0, 0, 8, 1], &[2], &[3, 7]);
        let ds = idx_dataset(DataKind::FashionMnist, "t", &images, &labels).unwrap();
        assert_eq!(ds.labels, vec![3, 7]);
        assert_eq!(ds.mean, vec![0.2860]);
        // Pixel (r, c) of image 1 lands at (r + 2, c + 2).
        assert_eq!(ds.pixels[1024 + 2 * 32 + 2], px[784]);
        assert_eq!(ds.pixels[1024 + 29 * 32 + 29], px[784 + 27 * 28 + 27]);
        // Gzipped files read the same.
        let gz = |b: &[u8]| {
            use std::io::Write;
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let again = idx_dataset(DataKind::FashionMnist, "t", &gz(&images), &gz(&labels)).unwrap();
        assert_eq!(again.pixels, ds.pixels);

        let wrong_magic = idx_bytes([0, 0, 8, 2], &[2, 28], &px[..56]);
        let e = idx_dataset(DataKind::Mnist, "t", &wrong_magic, &labels).unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        let e = idx_dataset(DataKind::Mnist, "t", &images[..images.len() - 1], &labels).unwrap_err().to_string();
        assert!(e.contains("needs 1568 bytes, found 1567"), "{e}");
        let bad_label = idx_bytes([0, 0, 8, 1], &[2], &[3, 12]);
        let e = idx_dataset(DataKind::Mnist, "t", &images, &bad_label).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let mismatch = idx_bytes([0, 0, 8, 1], &[1], &[3]);
        assert!(idx_dataset(DataKind::Mnist, "t", &images, &mismatch).unwrap_err().to_string().contains("2 images but 1 labels"));
        let e = idx_dataset(DataKind::Mnist, "t", &gz(&images)[..50], &labels).unwrap_err().to_string();
        assert!(e.contains("gzip"), "{e}");
    }

    fn cifar_records(kind: DataKind, labels: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for (i, &l) in labels.iter().enumerate() {
            if kind == DataKind::Cifar100 {
                bytes.push(l / 5); // coarse label
            }
            bytes.push(l);
            bytes.extend((0..3072).map(|j| ((j + i) % 256) as u8));
        }
        bytes
    }

    #[test]
    fn cifar_binary_decodes_and_rejects_bad_files() {
        for (kind, labels) in [(DataKind::Cifar10, vec![0u8, 1, 9]), (DataKind::Cifar100, vec![0u8, 57, 99])] {
            let mut bytes = cifar_records(kind, &labels);
            let (px, got) = decode_cifar_bin(kind, "b", &bytes).unwrap();
            assert_eq!(got, labels, "{kind:?} uses the fine label");
            assert_eq!(px.len(), 3 * 3072);
            assert_eq!(px[3072], 1);
            assert_eq!(px[2 * 3072 + 5], 7);
            let ds = cifar_dataset(kind, "b", vec![(px, got)]).unwrap();
            assert_eq!(ds.classes, kind.classes());
            let e = decode_cifar_bin(kind, "data_batch_1.bin", &bytes[..bytes.len() - 10]).unwrap_err().to_string();
            assert!(e.starts_with("data_batch_1.bin:") && e.contains("records"), "{e}");
            let last = if kind == DataKind::Cifar100 { 1 } else { 0 };
            bytes[last] = 200;
            assert!(decode_cifar_bin(kind, "b", &bytes).unwrap_err().to_string().contains("label 200"));
        }
        // CIFAR-100 records are one byte longer: a CIFAR-10 file is rejected as CIFAR-100.
        let ten = cifar_records(DataKind::Cifar10, &[1, 2]);
        assert!(decode_cifar_bin(DataKind::Cifar100, "b", &ten).is_err());
    }
}
