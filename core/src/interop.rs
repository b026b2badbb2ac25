//! Safetensors files shared with PyTorch: a DARTS search network's state dict with its α (the
//! reference code's parameter names, e.g. `cells.0._ops.3._ops.4.op.1.weight`, plus
//! `alphas_normal` / `alphas_reduce`) and a batch (`x` f32 N×C×H×W, `y` integer labels N).
//! Bytes in, values out: the caller reads the file and names it for error messages.

use safetensors::{Dtype, SafeTensors};

use crate::data::Batch;
use crate::error::CoreError;
use crate::network::{Alpha, NetConfig, Supernet};
use crate::params::{ParamSpec, Weights};
use crate::space::SpaceId;

/// A parsed safetensors buffer with the name of its source (for errors).
pub struct TensorFile<'a> {
    source: String,
    st: SafeTensors<'a>,
}

impl<'a> TensorFile<'a> {
    /// Parses `bytes`; `source` names the file in errors.
    pub fn parse(source: &str, bytes: &'a [u8]) -> Result<Self, CoreError> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| CoreError::data(source, format!("not a valid safetensors file: {e}")))?;
        Ok(TensorFile { source: source.to_string(), st })
    }

    /// Whether a tensor of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

    /// Names of every tensor.
    pub fn names(&self) -> Vec<String> {
        let mut n: Vec<String> = self.st.names().into_iter().map(str::to_string).collect();
        n.sort();
        n
    }

    /// Shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>, CoreError> {
        Ok(self.view(name)?.shape().to_vec())
    }

    fn view(&self, name: &str) -> Result<safetensors::tensor::TensorView<'a>, CoreError> {
        self.st.tensor(name).map_err(|_| CoreError::data(&self.source, format!("no tensor named '{name}'")))
    }

    /// Tensor `name` as f32 (F32, F64, F16 and BF16 are converted), with its shape; when `expect`
    /// is given the shape must equal it.
    pub fn f32(&self, name: &str, expect: Option<&[usize]>) -> Result<(Vec<f32>, Vec<usize>), CoreError> {
        let v = self.view(name)?;
        if let Some(e) = expect
            && v.shape() != e
        {
            return Err(CoreError::data(&self.source, format!("tensor '{name}' has shape {:?}, expected {e:?}", v.shape())));
        }
        let d = v.data();
        let values = match v.dtype() {
            Dtype::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
            Dtype::F64 => d.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect(),
            Dtype::F16 => d.chunks_exact(2).map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]]))).collect(),
            Dtype::BF16 => d.chunks_exact(2).map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)).collect(),
            other => {
                return Err(CoreError::data(&self.source, format!("tensor '{name}' has dtype {other:?}, expected a float type")));
            }
        };
        Ok((values, v.shape().to_vec()))
    }

    /// Tensor `name` as integers (I64, I32, U8, …), with its shape.
    pub fn ints(&self, name: &str) -> Result<(Vec<i64>, Vec<usize>), CoreError> {
        let v = self.view(name)?;
        let d = v.data();
        let values = match v.dtype() {
            Dtype::I64 => d.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect(),
            Dtype::I32 => d.chunks_exact(4).map(|c| i64::from(i32::from_le_bytes(c.try_into().unwrap()))).collect(),
            Dtype::I16 => d.chunks_exact(2).map(|c| i64::from(i16::from_le_bytes([c[0], c[1]]))).collect(),
            Dtype::I8 => d.iter().map(|&b| i64::from(b as i8)).collect(),
            Dtype::U8 => d.iter().map(|&b| i64::from(b)).collect(),
            other => {
                return Err(CoreError::data(&self.source, format!("tensor '{name}' has dtype {other:?}, expected an integer type")));
            }
        };
        Ok((values, v.shape().to_vec()))
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f32::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f32.powi(-24),
        31 => if frac == 0.0 { f32::INFINITY } else { f32::NAN },
        e => (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// The network settings a DARTS state dict implies for `space`: C from the stem (3C output
/// channels), input channels, cell count, nodes from α's rows (n(n+3)/2 edges) and classes from
/// the classifier. The image size cannot be read off a state dict; it is taken from `image_size`.
pub fn infer_config(file: &TensorFile, space: SpaceId, image_size: usize) -> Result<NetConfig, CoreError> {
    let bad = |m: String| CoreError::data(&file.source, m);
    let stem = file.shape("stem.0.weight")?;
    if stem.len() != 4 || stem[0] % 3 != 0 {
        return Err(bad(format!("'stem.0.weight' has shape {stem:?}, expected [3·C, in_channels, 3, 3]")));
    }
    let classifier = file.shape("classifier.weight")?;
    if classifier.len() != 2 {
        return Err(bad(format!("'classifier.weight' has shape {classifier:?}, expected [classes, features]")));
    }
    let alphas = file.shape("alphas_normal")?;
    if alphas.len() != 2 {
        return Err(bad(format!("'alphas_normal' has shape {alphas:?}, expected [edges, ops]")));
    }
    let edges = alphas[0];
    let nodes = (1..=32).find(|n| n * (n + 3) / 2 == edges).ok_or_else(|| {
        bad(format!("'alphas_normal' has {edges} rows, which is n(n+3)/2 for no node count n"))
    })?;
    let layers = file
        .names()
        .iter()
        .filter_map(|n| n.strip_prefix("cells.")?.split('.').next()?.parse::<usize>().ok())
        .max()
        .map_or(0, |m| m + 1);
    Ok(NetConfig {
        space,
        channels: stem[0] / 3,
        in_channels: stem[1],
        layers,
        nodes,
        classes: classifier[0],
        image_size,
        ..NetConfig::default()
    })
}

/// Weights and α of `net` from a DARTS state dict. Every trainable tensor of `net` must be present
/// with its shape; a trainable tensor (`weight`/`bias`) the network does not have means the file
/// was made for another configuration and is an error too. BatchNorm running statistics are
/// ignored (curvature uses batch statistics).
pub fn load_darts_state(file: &TensorFile, net: &Supernet, device: &burn::tensor::Device) -> Result<(Weights, Alpha), CoreError> {
    let c = &net.config;
    let what = format!("a {} network with C = {}, {} cells, {} nodes", c.space, c.channels, c.layers, c.nodes);
    let weights = load_named(file, &net.specs, &what, device)?;
    let known: std::collections::HashSet<&str> = net.specs.iter().map(|s| s.name.as_str()).collect();
    let unexpected: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| (n.ends_with(".weight") || n.ends_with(".bias")) && !known.contains(n.as_str()))
        .collect();
    if !unexpected.is_empty() {
        return Err(CoreError::data(
            &file.source,
            format!("{} trainable tensors the configured network does not have, e.g. '{}' (wrong space, C, cells or nodes?)", unexpected.len(), unexpected[0]),
        ));
    }
    let (edges, k) = (net.space.edges(), net.space.ops_per_edge());
    let (an, _) = file.f32("alphas_normal", Some(&[edges, k]))?;
    let (ar, _) = file.f32("alphas_reduce", Some(&[edges, k]))?;
    Ok((weights, Alpha::from_host(&an, &ar, edges, k, device)))
}

/// Every tensor of `specs` from `file`, by its name and with its shape; `what` describes the
/// model in the error for a missing one.
pub fn load_named(file: &TensorFile, specs: &[ParamSpec], what: &str, device: &burn::tensor::Device) -> Result<Weights, CoreError> {
    let mut values = Vec::with_capacity(specs.len());
    for spec in specs {
        if !file.contains(&spec.name) {
            return Err(CoreError::data(&file.source, format!("missing parameter '{}' (shape {:?}) for {what}", spec.name, spec.shape)));
        }
        values.push(file.f32(&spec.name, Some(&spec.shape))?.0);
    }
    Ok(Weights::from_host(&values, device))
}

/// A batch from tensors `x` (float, N×C×H×W, already normalised) and `y` (integer labels, N),
/// checked against the network's input channels, image size and class count.
pub fn load_batch(file: &TensorFile, config: &NetConfig) -> Result<Batch, CoreError> {
    let (x, xs) = file.f32("x", None)?;
    let (y, ys) = file.ints("y")?;
    let bad = |m: String| CoreError::data(&file.source, m);
    let want = [config.in_channels, config.image_size, config.image_size];
    if xs.len() != 4 || xs[1..] != want {
        return Err(bad(format!("'x' has shape {xs:?}, expected [N, {}, {}, {}]", want[0], want[1], want[2])));
    }
    if ys != [xs[0]] {
        return Err(bad(format!("'y' has shape {ys:?}, expected [{}] (one label per image)", xs[0])));
    }
    let labels = y
        .iter()
        .map(|&l| usize::try_from(l).ok().filter(|&l| l < config.classes))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| bad(format!("'y' holds a label outside 0..{}", config.classes)))?;
    Ok(Batch { x, shape: [xs[0], xs[1], xs[2], xs[3]], y: labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_decodes() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x3555), 0.333_251_95);
        assert!(f16_to_f32(0x7c00).is_infinite());
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let e = TensorFile::parse("model.safetensors", b"not a tensor file").err().unwrap();
        assert!(e.to_string().starts_with("model.safetensors: not a valid safetensors file"), "{e}");
    }
}
