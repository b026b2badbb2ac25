//! The file form of every rdarts state: one safetensors buffer of named f32 vectors whose
//! metadata holds a JSON document with a format name and version. Search snapshots and training
//! checkpoints both use it, each with its own format name and version. A CRC-32 of the metadata,
//! of the tensor table (names, types, shapes, offsets) and of every tensor byte (stored beside the
//! metadata as `rdarts_crc32`) catches a file damaged after it was written: a flipped bit in a
//! weight is otherwise a valid, silently different state, and one in the last tensor's name of a
//! numbered list (`bn.mean.00044` → `bn.mean>00044`) a valid, silently shorter one.

use std::collections::HashMap;

use crate::error::CoreError;
use crate::interop::TensorFile;

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Metadata key of the checksum.
const CHECKSUM_KEY: &str = "rdarts_crc32";

/// CRC-32 of the metadata JSON, the tensor table of `header` (in name order) and the tensor
/// bytes (everything after the safetensors header).
fn checksum(meta_json: &str, header: &safetensors::tensor::Metadata, data: &[u8]) -> String {
    let mut h = crc32fast::Hasher::new();
    h.update(meta_json.as_bytes());
    let mut table: Vec<_> = header.tensors().into_iter().collect();
    table.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, info) in table {
        h.update(format!("{name:?} {} {:?} {:?};", info.dtype, info.shape, info.data_offsets).as_bytes());
    }
    h.update(data);
    format!("{:08x}", h.finalize())
}

/// The tensor `name` of a training checkpoint read from `source`, checked to hold `len` values,
/// all finite (training never writes a NaN or an infinity: one means the file is corrupt).
pub fn training_tensor(file: &TensorFile, source: &str, name: &str, len: usize) -> Result<Vec<f32>, CoreError> {
    let bad = |m: String| CoreError::data(source, m);
    let (v, _) = file.f32(name, None)?;
    if v.len() != len {
        return Err(bad(format!("'{name}' has {} values, expected {len}", v.len())));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad(format!("'{name}' holds a NaN or an infinity (training never writes such a state: the file is corrupt)")));
    }
    Ok(v)
}

/// Named f32 vectors and a JSON metadata string as one safetensors buffer (the metadata under
/// the key `rdarts`, its checksum under `rdarts_crc32`).
pub fn pack(named: &[(String, Vec<f32>)], meta_json: &str) -> Vec<u8> {
    let bytes: Vec<(String, Vec<u8>, usize)> = named.iter().map(|(n, v)| (n.clone(), le_bytes(v), v.len())).collect();
    let views = || -> Vec<(String, safetensors::tensor::TensorView)> {
        bytes
            .iter()
            .map(|(n, b, len)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![*len], b).expect("sizes agree")))
            .collect()
    };
    let serialize = |info: HashMap<String, String>| safetensors::serialize(views(), Some(info.into_iter().collect())).expect("in-memory serialisation");
    let mut info = HashMap::from([("rdarts".to_string(), meta_json.to_string())]);
    // Neither the data section nor the tensor table depends on the metadata: serialise once to
    // find them, then again with their checksum.
    let draft = serialize(info.clone());
    let (_, header) = safetensors::SafeTensors::read_metadata(&draft).expect("just serialised");
    let data = &draft[data_start(&draft).expect("just serialised")..];
    info.insert(CHECKSUM_KEY.to_string(), checksum(meta_json, &header, data));
    serialize(info)
}

/// Where a safetensors buffer's tensor bytes begin (after its 8-byte length and JSON header).
fn data_start(bytes: &[u8]) -> Option<usize> {
    let n = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    usize::try_from(n).ok()?.checked_add(8).filter(|&s| s <= bytes.len())
}

/// The metadata JSON of a [`pack`]ed buffer after checking its checksum, `format` and `version`,
/// and the parsed tensors.
pub fn unpack<'a>(source: &str, bytes: &'a [u8], format: &str, version: u32) -> Result<(String, TensorFile<'a>), CoreError> {
    let bad = |m: String| CoreError::data(source, m);
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(format!("not an rdarts checkpoint (unreadable header: {e})")))?;
    let info = header.metadata().clone().unwrap_or_default();
    let meta_json = info.get("rdarts").ok_or_else(|| bad("not an rdarts checkpoint (no 'rdarts' metadata)".into()))?.clone();
    let probe: serde_json::Value = serde_json::from_str(&meta_json).map_err(|e| bad(format!("corrupt metadata: {e}")))?;
    let (found, found_version) = (probe["format"].as_str().unwrap_or(""), probe["version"].as_u64().unwrap_or(0));
    if found != format {
        return Err(bad(format!("format '{found}', expected '{format}'")));
    }
    if found_version != u64::from(version) {
        return Err(bad(format!("checkpoint format version {found_version}; this rdarts reads version {version} (written by another rdarts version)")));
    }
    let stored = info.get(CHECKSUM_KEY).ok_or_else(|| bad(format!("no checksum ('{CHECKSUM_KEY}' metadata): the file is corrupt")))?;
    let start = data_start(bytes).ok_or_else(|| bad("truncated header".into()))?;
    let computed = checksum(&meta_json, &header, &bytes[start..]);
    if *stored != computed {
        return Err(bad(format!("checksum mismatch (stored {stored}, computed {computed}): the file was damaged after it was written")));
    }
    Ok((meta_json, TensorFile::parse(source, bytes)?))
}
