//! The file form of every rdarts state: one safetensors buffer of named f32 vectors whose
//! metadata holds a JSON document with a format name and version. Search snapshots and training
//! checkpoints both use it, each with its own format name and version.

use std::collections::HashMap;

use crate::error::CoreError;
use crate::interop::TensorFile;

fn le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Named f32 vectors and a JSON metadata string as one safetensors buffer (the metadata under
/// the key `rdarts`).
pub fn pack(named: &[(String, Vec<f32>)], meta_json: &str) -> Vec<u8> {
    let bytes: Vec<(String, Vec<u8>, usize)> = named.iter().map(|(n, v)| (n.clone(), le_bytes(v), v.len())).collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, b, len)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![*len], b).expect("sizes agree")))
        .collect();
    let mut info = HashMap::new();
    info.insert("rdarts".to_string(), meta_json.to_string());
    safetensors::serialize(views, Some(info.into_iter().collect())).expect("in-memory serialisation")
}

/// The metadata JSON of a [`pack`]ed buffer after checking its `format` and `version`, and the
/// parsed tensors.
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
    Ok((meta_json, TensorFile::parse(source, bytes)?))
}

