//! The search network (supernet) of docs/ALGORITHM.md §1: stem, normal and reduction cells of mixed edges,
//! global pooling and a linear classifier.

use burn::tensor::activation::softmax;
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::kernels::Kernels;
use crate::mixed::{NodeInputs, node_sum};
use crate::ops::{Activation, BatchNorm, CandidateOp, Conv, ConvConfig, FactorizedReduce, ReluConvBn, SharedActivations};
use crate::params::{Builder, Fwd, Init, ParamSpec, Pid};
use crate::space::{CellKind, Primitive, SearchSpace, SpaceId};

/// Shape of the search network. Defaults are the paper's search setting (docs/ALGORITHM.md §1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// Search space.
    pub space: SpaceId,
    /// Initial channels C.
    pub channels: usize,
    /// Number of cells.
    pub layers: usize,
    /// Intermediate nodes per cell.
    pub nodes: usize,
    /// Classes of the data set.
    pub classes: usize,
    /// Input channels (3 for CIFAR/SVHN, 1 for digits).
    pub in_channels: usize,
    /// Input side length (square images).
    pub image_size: usize,
    /// Stem channel multiplier (3 in DARTS).
    pub stem_multiplier: usize,
    /// Activation before each convolution (ReLU; SiLU only for smooth gradient checks).
    pub activation: Activation,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            space: SpaceId::S5,
            channels: 16,
            layers: 8,
            nodes: 4,
            classes: 10,
            in_channels: 3,
            image_size: 32,
            stem_multiplier: 3,
            activation: Activation::Relu,
        }
    }
}

impl NetConfig {
    /// Checks every field; the error names the field, what was expected and what was found.
    pub fn validate(&self) -> Result<(), CoreError> {
        let positive = [
            ("channels", self.channels),
            ("layers", self.layers),
            ("nodes", self.nodes),
            ("classes", self.classes),
            ("in_channels", self.in_channels),
            ("stem_multiplier", self.stem_multiplier),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(CoreError::invalid(name, "must be at least 1, found 0"));
            }
        }
        use crate::limits::*;
        all_at_most(&[
            ("channels", self.channels, MAX_CHANNELS),
            ("layers", self.layers, MAX_LAYERS),
            ("nodes", self.nodes, MAX_NODES),
            ("classes", self.classes, MAX_CLASSES),
            ("in_channels", self.in_channels, MAX_IN_CHANNELS),
            ("stem_multiplier", self.stem_multiplier, MAX_STEM_MULTIPLIER),
            ("image_size", self.image_size, MAX_IMAGE_SIZE),
        ])?;
        if !self.channels.is_multiple_of(2) {
            return Err(CoreError::invalid(
                "channels",
                format!("must be even (FactorizedReduce halves it), found {}", self.channels),
            ));
        }
        let reductions = self.reduction_layers().len();
        let div = 1usize << reductions;
        if self.image_size < div * 2 || !self.image_size.is_multiple_of(div) {
            return Err(CoreError::invalid(
                "image_size",
                format!(
                    "must be a multiple of {div} and at least {} for {} reduction cells, found {}",
                    div * 2,
                    reductions,
                    self.image_size
                ),
            ));
        }
        SearchSpace::new(self.space, self.nodes)?;
        Ok(())
    }

    /// Indices of the reduction cells: layers/3 and 2·layers/3 (deduplicated for tiny networks).
    pub fn reduction_layers(&self) -> Vec<usize> {
        let mut r = vec![self.layers / 3, 2 * self.layers / 3];
        r.dedup();
        r.retain(|&i| i < self.layers);
        r
    }
}

/// One mixed edge: the candidate ops of its op list.
#[derive(Clone, Debug)]
pub struct MixedEdge {
    /// The op list of this edge.
    pub prims: Vec<Primitive>,
    ops: Vec<CandidateOp>,
}

/// A search cell.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Normal or reduction.
    pub kind: CellKind,
    pre0: Pre0,
    pre1: ReluConvBn,
    edges: Vec<MixedEdge>,
    nodes: usize,
}

#[derive(Clone, Debug)]
enum Pre0 {
    Reduce(FactorizedReduce),
    Conv(ReluConvBn),
}

/// Architecture weights α of both cell types, `[edges, K]` each (docs/ALGORITHM.md §1).
#[derive(Clone, Debug)]
pub struct Alpha {
    /// α of normal cells.
    pub normal: Tensor<2>,
    /// α of reduction cells.
    pub reduce: Tensor<2>,
}

impl Alpha {
    /// 1e-3 · N(0, 1) from the host generator.
    pub fn init(edges: usize, k: usize, rng: &mut crate::rng::Rng, device: &burn::tensor::Device) -> Self {
        let mut draw = || {
            let v: Vec<f32> = rng.normal_vec(edges * k).into_iter().map(|x| 1e-3 * x).collect();
            Tensor::from_data(TensorData::new(v, [edges, k]), device)
        };
        let normal = draw();
        let reduce = draw();
        Alpha { normal, reduce }
    }

    /// Both tensors as gradient leaves on the autodiff device.
    pub fn leaves(&self) -> Alpha {
        Alpha { normal: self.normal.clone().autodiff().require_grad(), reduce: self.reduce.clone().autodiff().require_grad() }
    }

    /// Both tensors on the autodiff device as constants.
    pub fn constants(&self) -> Alpha {
        Alpha { normal: self.normal.clone().autodiff(), reduce: self.reduce.clone().autodiff() }
    }

    /// Gradients of leaves made by [`Alpha::leaves`], as plain tensors (zeros where absent).
    pub fn grads(&self, grads: &burn::tensor::Gradients) -> Alpha {
        let g = |t: &Tensor<2>| t.grad(grads).unwrap_or_else(|| t.clone().inner().zeros_like());
        Alpha { normal: g(&self.normal), reduce: g(&self.reduce) }
    }

    /// Both tensors flattened, apart: the two parameters α's optimiser steps.
    pub fn flat_pair(&self) -> [Tensor<1>; 2] {
        [self.normal.clone().reshape([-1]), self.reduce.clone().reshape([-1])]
    }

    /// The inverse of [`Alpha::flat_pair`] for `[edges, k]` tensors.
    pub fn from_flat_pair([normal, reduce]: [Tensor<1>; 2], edges: usize, k: usize) -> Alpha {
        Alpha { normal: normal.reshape([edges, k]), reduce: reduce.reshape([edges, k]) }
    }

    /// Both tensors flattened and concatenated: `[normal..., reduce...]`.
    pub fn flat(&self) -> Tensor<1> {
        let n = self.normal.dims().iter().product::<usize>();
        Tensor::cat(vec![self.normal.clone().reshape([n]), self.reduce.clone().reshape([n])], 0)
    }

    /// The inverse of [`Alpha::flat`] for `[edges, k]` tensors.
    pub fn from_flat(flat: Tensor<1>, edges: usize, k: usize) -> Alpha {
        let n = edges * k;
        Alpha {
            normal: flat.clone().narrow(0, 0, n).reshape([edges, k]),
            reduce: flat.narrow(0, n, n).reshape([edges, k]),
        }
    }

    /// The tensor of one cell type.
    pub fn of(&self, kind: CellKind) -> &Tensor<2> {
        match kind {
            CellKind::Normal => &self.normal,
            CellKind::Reduce => &self.reduce,
        }
    }

    /// Host copies `(normal, reduce)`, row-major.
    pub async fn read(&self) -> (Vec<f32>, Vec<f32>) {
        (crate::params::read(&self.normal).await, crate::params::read(&self.reduce).await)
    }

    /// Uploads host values of shape `[edges, k]`.
    pub fn from_host(normal: &[f32], reduce: &[f32], edges: usize, k: usize, device: &burn::tensor::Device) -> Self {
        let t = |v: &[f32]| Tensor::from_data(TensorData::new(v.to_vec(), [edges, k]), device);
        Alpha { normal: t(normal), reduce: t(reduce) }
    }
}

/// The search network. Holds structure only; weights come with each call.
#[derive(Clone, Debug)]
pub struct Supernet {
    /// Its configuration.
    pub config: NetConfig,
    /// Its search space.
    pub space: SearchSpace,
    /// Every trainable tensor, in [`Pid`] order.
    pub specs: Vec<ParamSpec>,
    /// Channels of each BatchNorm layer.
    pub bn_channels: Vec<usize>,
    stem: Conv,
    stem_bn: BatchNorm,
    cells: Vec<Cell>,
    classifier: (Pid, Pid),
    c_final: usize,
    /// Our kernels or the plain-tensor reference (the passes' [`Fwd::kernels`]).
    pub kernels: Kernels,
}

/// Which operations of each edge a forward computes (`[edge][op]`), for the normal and the
/// reduction cell; the others count as zero.
pub type ActiveOps<'a> = (&'a [Vec<bool>], &'a [Vec<bool>]);

impl Supernet {
    /// Builds the network structure for `config` (validated first).
    pub fn new(config: &NetConfig) -> Result<Self, CoreError> {
        config.validate()?;
        let space = SearchSpace::new(config.space, config.nodes)?;
        let mut b = Builder::default();
        b.activation = config.activation;
        let c = config.channels;
        let c_stem = config.stem_multiplier * c;
        let stem = b.scope("stem", |b| Conv::new(b, "0", ConvConfig::new(config.in_channels, c_stem, 3).with_pad(1)));
        let stem_bn = b.scope("stem", |b| BatchNorm::new(b, "1", c_stem, true));
        let (mut c_pp, mut c_p, mut c_cur) = (c_stem, c_stem, c);
        let mut reduction_prev = false;
        let reductions = config.reduction_layers();
        let mut cells = Vec::with_capacity(config.layers);
        for i in 0..config.layers {
            let reduction = reductions.contains(&i);
            if reduction {
                c_cur *= 2;
            }
            let kind = if reduction { CellKind::Reduce } else { CellKind::Normal };
            let cell = b.scope(format!("cells.{i}"), |b| {
                Cell::new(b, &space, CellShape { kind, nodes: config.nodes, c_pp, c_p, c: c_cur, reduction_prev })
            });
            cells.push(cell);
            reduction_prev = reduction;
            c_pp = c_p;
            c_p = config.nodes * c_cur;
        }
        let classifier = b.scope("classifier", |b| {
            (
                b.param("weight", &[config.classes, c_p], Init::FanIn(c_p)),
                b.param("bias", &[config.classes], Init::FanIn(c_p)),
            )
        });
        Ok(Supernet {
            config: config.clone(),
            space,
            specs: b.specs,
            bn_channels: b.bn_channels,
            stem,
            stem_bn,
            cells,
            classifier,
            c_final: c_p,
            kernels: Kernels::default(),
        })
    }

    /// Number of trainable scalars (α excluded), as the reference code counts them.
    pub fn num_params(&self) -> usize {
        self.specs.iter().map(ParamSpec::numel).sum()
    }

    /// Logits of a batch. `alpha` holds raw α; the softmax is taken here.
    ///
    /// # Shapes
    /// `[N, in_channels, S, S]` → `[N, classes]`.
    pub fn forward(&self, f: &mut Fwd, alpha: &Alpha, x: Tensor<4>) -> Tensor<2> {
        let w_normal = softmax(alpha.normal.clone(), 1);
        let w_reduce = softmax(alpha.reduce.clone(), 1);
        self.forward_weighted(f, &w_normal, &w_reduce, None, x)
    }

    /// Logits with explicit op weights `[edges, K]` per cell type instead of softmax(α), and
    /// optionally which (edge, op) pairs to compute at all (`active[e][k]`; the others count as
    /// zero): the forward of one sampled architecture for random search with weight sharing.
    pub fn forward_weighted(
        &self,
        f: &mut Fwd,
        w_normal: &Tensor<2>,
        w_reduce: &Tensor<2>,
        active: Option<ActiveOps<'_>>,
        x: Tensor<4>,
    ) -> Tensor<2> {
        let s = self.stem.forward(f, x);
        let s = self.stem_bn.forward(f, s);
        let (mut s0, mut s1) = (s.clone(), s);
        for cell in &self.cells {
            let (w, act) = match cell.kind {
                CellKind::Normal => (w_normal, active.map(|a| a.0)),
                CellKind::Reduce => (w_reduce, active.map(|a| a.1)),
            };
            let out = cell.forward(f, s0, s1.clone(), w, act);
            s0 = s1;
            s1 = out;
        }
        let [n, c, _, _] = s1.dims();
        debug_assert_eq!(c, self.c_final);
        let pooled: Tensor<2> = s1.mean_dims(&[2, 3]).reshape([n, c]);
        let (wp, bp) = self.classifier;
        let weight = f.get(wp, [self.config.classes, c]);
        let bias = f.get(bp, [self.config.classes]);
        pooled.matmul(weight.transpose()) + bias.unsqueeze_dim(0)
    }
}

/// Where a cell sits in the network: its type, node count, the channels of its two inputs, its
/// own channels per node, and whether the cell before it was a reduction cell.
struct CellShape {
    kind: CellKind,
    nodes: usize,
    c_pp: usize,
    c_p: usize,
    c: usize,
    reduction_prev: bool,
}

impl Cell {
    fn new(b: &mut Builder, space: &SearchSpace, shape: CellShape) -> Self {
        let CellShape { kind, nodes, c_pp, c_p, c, reduction_prev } = shape;
        let pre0 = b.scope("preprocess0", |b| {
            if reduction_prev {
                Pre0::Reduce(FactorizedReduce::new(b, c_pp, c, false))
            } else {
                Pre0::Conv(ReluConvBn::new(b, ConvConfig::new(c_pp, c, 1), false))
            }
        });
        let pre1 = b.scope("preprocess1", |b| ReluConvBn::new(b, ConvConfig::new(c_p, c, 1), false));
        let mut edges = Vec::new();
        let lists = space.ops(kind);
        let mut e = 0;
        for i in 0..nodes {
            for j in 0..i + 2 {
                let stride = if kind == CellKind::Reduce && j < 2 { 2 } else { 1 };
                let prims = lists[e].clone();
                let ops = b.scope(format!("_ops.{e}"), |b| {
                    prims
                        .iter()
                        .enumerate()
                        .map(|(k, &p)| b.scope(format!("_ops.{k}"), |b| CandidateOp::new(b, p, c, stride, false)))
                        .collect()
                });
                edges.push(MixedEdge { prims, ops });
                e += 1;
            }
        }
        Cell { kind, pre0, pre1, edges, nodes }
    }

    /// # Shapes
    /// `s0: [N, C_pp, H0, W0]`, `s1: [N, C_p, H, W]`, `w: [edges, K]` → `[N, nodes·C, H', W']`.
    fn forward(
        &self,
        f: &mut Fwd,
        s0: Tensor<4>,
        s1: Tensor<4>,
        w: &Tensor<2>,
        active: Option<&[Vec<bool>]>,
    ) -> Tensor<4> {
        let s0 = match &self.pre0 {
            Pre0::Reduce(fr) => fr.forward(f, s0),
            Pre0::Conv(rcb) => rcb.forward(f, s0),
        };
        let s1 = self.pre1.forward(f, s1);
        let mut states = vec![s0, s1];
        let mut activated = SharedActivations::default();
        let mut offset = 0;
        for i in 0..self.nodes {
            let mut outputs = Vec::with_capacity(i + 2);
            let mut masks = crate::droppath::DropPathMasks::new(f, states[0].dims()[0]);
            for (j, h) in states.iter().enumerate() {
                let e = offset + j;
                let edge = &self.edges[e];
                let on = |k: usize| active.is_none_or(|a| a[e][k]);
                let edge_outputs: Vec<_> = edge
                    .ops
                    .iter()
                    .enumerate()
                    .map(|(k, op)| (!op.is_zero() && on(k)).then(|| activated.forward(f, op, j, h)))
                    .collect();
                masks.push(f, edge_outputs.iter().any(Option::is_some));
                outputs.push(edge_outputs);
            }
            let node = if outputs.iter().all(|e| e.iter().all(Option::is_none)) {
                // Every op into this node is `none` (an RS-ws sample can be): the node is what a
                // Zero op of one of its edges makes, zeros of the node's shape.
                let (j, zero) = (0..i + 2)
                    .find_map(|j| self.edges[offset + j].ops.iter().find(|op| op.is_zero()).map(|op| (j, op)))
                    .expect("a node without outputs has a zero op on an edge");
                zero.forward(f, states[j].clone())
            } else {
                let masks = masks.into_tensor(&states[0].device());
                node_sum(NodeInputs { outputs, weights: w.clone().narrow(0, offset, i + 2), masks }, f.kernels)
            };
            offset += i + 2;
            states.push(node);
        }
        Tensor::cat(states.split_off(2), 1)
    }
}

/// Mean cross-entropy of logits against integer labels, and the number of correct argmax predictions.
pub fn cross_entropy(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let [n, k] = logits.dims();
    let mut onehot = vec![0f32; n * k];
    for (i, &l) in labels.iter().enumerate() {
        onehot[i * k + l] = 1.0;
    }
    let onehot = Tensor::<2>::from_data(TensorData::new(onehot, [n, k]), &logits.device());
    let logp = burn::tensor::activation::log_softmax(logits, 1);
    (logp * onehot).sum().neg().div_scalar(n as f64)
}

/// A batch's mean loss and its number of correct predictions in one read from the device (each
/// read waits for the device's queue: one per pass instead of two).
pub async fn read_loss_and_correct(logits: &Tensor<2>, loss: &Tensor<1>, labels: &[usize]) -> (f64, usize) {
    read_losses_and_correct(&[(logits, loss, labels)]).await[0]
}

/// [`read_loss_and_correct`] for several batches, in order, in one read from the device.
pub async fn read_losses_and_correct(batches: &[(&Tensor<2>, &Tensor<1>, &[usize])]) -> Vec<(f64, usize)> {
    let flat = |logits: &Tensor<2>| {
        let [n, k] = logits.dims();
        logits.clone().reshape([n * k])
    };
    let parts: Vec<Tensor<1>> = batches.iter().flat_map(|(logits, loss, _)| [flat(logits), (*loss).clone().reshape([1])]).collect();
    if parts.is_empty() {
        return Vec::new();
    }
    let values = crate::params::read(&Tensor::cat(parts, 0)).await;
    let mut rest = &values[..];
    batches
        .iter()
        .map(|(logits, _, labels)| {
            let [n, k] = logits.dims();
            let (v, tail) = rest.split_at(n * k + 1);
            rest = tail;
            (f64::from(v[n * k]), count_correct(&v[..n * k], k, labels))
        })
        .collect()
}

/// Rows of `v` (row-major, `k` columns) whose argmax equals the label (the first maximum on ties).
pub(crate) fn count_correct(v: &[f32], k: usize, labels: &[usize]) -> usize {
    (0..v.len() / k)
        .filter(|&i| {
            let row = &v[i * k..(i + 1) * k];
            let mut best = 0;
            for j in 1..k {
                if row[j] > row[best] {
                    best = j;
                }
            }
            best == labels[i]
        })
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(space: SpaceId, classes: usize) -> usize {
        let c = NetConfig { space, classes, ..NetConfig::default() };
        Supernet::new(&c).unwrap().num_params()
    }

    /// The reference implementation's counts for CIFAR input (3×32×32), C = 16, 8 cells, 4 nodes.
    #[test]
    fn parameter_counts_match_the_reference() {
        assert_eq!(count(SpaceId::S1, 10), 405_146);
        assert_eq!(count(SpaceId::S2, 10), 665_466);
        assert_eq!(count(SpaceId::S3, 10), 665_466);
        assert_eq!(count(SpaceId::S4, 10), 624_506);
        assert_eq!(count(SpaceId::S5, 10), 1_930_618);
        assert_eq!(count(SpaceId::S5, 100), 1_953_748);
    }

    #[test]
    fn parameter_names_follow_the_reference() {
        let net = Supernet::new(&NetConfig::default()).unwrap();
        let names: Vec<&str> = net.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[0], "stem.0.weight");
        assert!(names.contains(&"stem.1.weight"));
        assert!(names.contains(&"cells.0.preprocess0.op.1.weight"));
        assert!(names.contains(&"cells.0._ops.3._ops.4.op.1.weight"), "sep_conv_3x3's first depthwise conv");
        assert!(names.contains(&"cells.3.preprocess0.conv_1.weight"), "the cell after a reduction");
        assert!(names.contains(&"classifier.weight"));
    }

    #[test]
    fn invalid_shapes_are_rejected() {
        let bad = NetConfig { channels: 0, ..NetConfig::default() };
        assert!(Supernet::new(&bad).unwrap_err().to_string().contains("channels"));
        let odd = NetConfig { image_size: 30, ..NetConfig::default() };
        assert!(Supernet::new(&odd).unwrap_err().to_string().contains("image_size"));
    }
}
