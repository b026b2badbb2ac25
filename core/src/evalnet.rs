//! The evaluation network of a found genotype (docs/ALGORITHM.md §11; the DARTS evaluation code's
//! `NetworkCIFAR`): a stem, `layers` cells built from the genotype (reductions at 1/3 and 2/3),
//! an optional auxiliary head at 2/3 depth, global pooling and a linear classifier. Ops have
//! affine BatchNorm, pools no BatchNorm; drop-path applies to each op output except identities.
//! Parameter names follow the reference (`cells.0._ops.0.op.1.weight`, `auxiliary_head.…`).

use burn::tensor::module::avg_pool2d;
use burn::tensor::ops::AvgPoolOptions;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::genotype::Genotype;
use crate::ops::{Activation, BatchNorm, CandidateOp, Conv, ConvConfig, FactorizedReduce, ReluConvBn, SharedActivations};
use crate::params::{Builder, Fwd, Init, Mode, ParamSpec, Pid};
use crate::space::Primitive;

/// Shape of the evaluation network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalConfig {
    /// Initial channels C.
    pub channels: usize,
    /// Number of cells.
    pub layers: usize,
    /// Classes.
    pub classes: usize,
    /// Input channels.
    pub in_channels: usize,
    /// Input side length.
    pub image_size: usize,
    /// Build the auxiliary head at 2/3 depth.
    pub auxiliary: bool,
}

impl Default for EvalConfig {
    /// The paper's CIFAR-10 network: C = 36, 20 cells, auxiliary head.
    fn default() -> Self {
        EvalConfig { channels: 36, layers: 20, classes: 10, in_channels: 3, image_size: 32, auxiliary: true }
    }
}

struct EvalCell {
    pre0: Pre0,
    pre1: ReluConvBn,
    ops: Vec<(CandidateOp, usize, bool)>,
    concat: Vec<usize>,
}

enum Pre0 {
    Reduce(FactorizedReduce),
    Conv(ReluConvBn),
}

struct AuxHead {
    conv1: Conv,
    bn1: BatchNorm,
    conv2: Conv,
    bn2: BatchNorm,
    classifier: (Pid, Pid),
}

/// The evaluation network (structure only; weights come with each call, as for the supernet).
pub struct EvalNet {
    /// Its shape.
    pub config: EvalConfig,
    /// The genotype it realises.
    pub genotype: Genotype,
    /// Every trainable tensor, in order.
    pub specs: Vec<ParamSpec>,
    /// Channels of each BatchNorm layer.
    pub bn_channels: Vec<usize>,
    stem: Conv,
    stem_bn: BatchNorm,
    cells: Vec<EvalCell>,
    aux: Option<AuxHead>,
    classifier: (Pid, Pid),
    c_final: usize,
    aux_after: usize,
}

pub(crate) fn reductions(layers: usize) -> [usize; 2] {
    [layers / 3, 2 * layers / 3]
}

impl EvalNet {
    /// Builds the network for `genotype`. The auxiliary head needs at least 8×8 features at 2/3
    /// depth (its 5×5 pool with stride 3 and 2×2 convolution end at 1×1).
    pub fn new(config: &EvalConfig, genotype: &Genotype) -> Result<Self, CoreError> {
        genotype.validate(None)?;
        let check = |ok: bool, field: &str, msg: String| if ok { Ok(()) } else { Err(CoreError::invalid(field, msg)) };
        check(config.channels > 0 && config.channels.is_multiple_of(2), "channels", format!("must be even and positive, found {}", config.channels))?;
        check(config.layers >= 3, "layers", format!("must be at least 3, found {}", config.layers))?;
        check(config.classes >= 2, "classes", format!("must be at least 2, found {}", config.classes))?;
        crate::limits::all_at_most(&[("channels", config.channels, crate::limits::MAX_CHANNELS), ("layers", config.layers, crate::limits::MAX_LAYERS)])?;
        // Each reduction halves the side, and FactorizedReduce needs an even side to halve.
        check(
            config.image_size >= 8 && config.image_size.is_multiple_of(4) && config.image_size <= crate::limits::MAX_IMAGE_SIZE,
            "image_size",
            format!("must be a multiple of 4 (two reduction cells), at least 8 and at most {}, found {}", crate::limits::MAX_IMAGE_SIZE, config.image_size),
        )?;
        let mut size = config.image_size;
        let red = reductions(config.layers);
        for i in 0..config.layers {
            if red.contains(&i) {
                size = size.div_ceil(2);
            }
            if i == red[1] && config.auxiliary && size < 8 {
                return Err(CoreError::invalid(
                    "auxiliary",
                    format!("the auxiliary head needs at least 8×8 features at 2/3 depth, found {size}×{size} (turn it off for {}×{} inputs)", config.image_size, config.image_size),
                ));
            }
        }
        let mut b = Builder::default();
        b.activation = Activation::Relu;
        let c = config.channels;
        let c_stem = 3 * c;
        let stem = b.scope("stem", |b| Conv::new(b, "0", ConvConfig::new(config.in_channels, c_stem, 3).with_pad(1)));
        let stem_bn = b.scope("stem", |b| BatchNorm::new(b, "1", c_stem, true));
        let (mut c_pp, mut c_p, mut c_cur) = (c_stem, c_stem, c);
        let mut reduction_prev = false;
        let mut cells = Vec::new();
        let mut c_aux = 0;
        for i in 0..config.layers {
            let reduction = red.contains(&i);
            if reduction {
                c_cur *= 2;
            }
            let (gene, concat) = if reduction { (&genotype.reduce, &genotype.reduce_concat) } else { (&genotype.normal, &genotype.normal_concat) };
            let cell = b.scope(format!("cells.{i}"), |b| {
                let pre0 = b.scope("preprocess0", |b| {
                    if reduction_prev { Pre0::Reduce(FactorizedReduce::new(b, c_pp, c_cur, true)) } else { Pre0::Conv(ReluConvBn::new(b, ConvConfig::new(c_pp, c_cur, 1), true)) }
                });
                let pre1 = b.scope("preprocess1", |b| ReluConvBn::new(b, ConvConfig::new(c_p, c_cur, 1), true));
                let ops = gene
                    .iter()
                    .enumerate()
                    .map(|(j, &(p, input))| {
                        let stride = if reduction && input < 2 { 2 } else { 1 };
                        let op = b.scope(format!("_ops.{j}"), |b| CandidateOp::for_eval(b, p, c_cur, stride));
                        (op, input, p == Primitive::SkipConnect && stride == 1)
                    })
                    .collect();
                EvalCell { pre0, pre1, ops, concat: concat.clone() }
            });
            cells.push(cell);
            reduction_prev = reduction;
            c_pp = c_p;
            c_p = concat.len() * c_cur;
            if i == red[1] {
                c_aux = c_p;
            }
        }
        let aux = config.auxiliary.then(|| {
            b.scope("auxiliary_head", |b| {
                let (conv1, bn1, conv2, bn2) = b.scope("features", |b| {
                    (
                        Conv::new(b, "2", ConvConfig::new(c_aux, 128, 1)),
                        BatchNorm::new(b, "3", 128, true),
                        Conv::new(b, "5", ConvConfig::new(128, 768, 2)),
                        BatchNorm::new(b, "6", 768, true),
                    )
                });
                let classifier = b.scope("classifier", |b| {
                    (b.param("weight", &[config.classes, 768], Init::FanIn(768)), b.param("bias", &[config.classes], Init::FanIn(768)))
                });
                AuxHead { conv1, bn1, conv2, bn2, classifier }
            })
        });
        let classifier = b.scope("classifier", |b| {
            (b.param("weight", &[config.classes, c_p], Init::FanIn(c_p)), b.param("bias", &[config.classes], Init::FanIn(c_p)))
        });
        Ok(EvalNet {
            config: config.clone(),
            genotype: genotype.clone(),
            specs: b.specs,
            bn_channels: b.bn_channels,
            stem,
            stem_bn,
            cells,
            aux,
            classifier,
            c_final: c_p,
            aux_after: red[1],
        })
    }

    /// Trainable scalars without the auxiliary head, as the DARTS evaluation code counts them
    /// (`count_parameters_in_MB` skips names containing "auxiliary").
    pub fn num_params(&self) -> usize {
        self.specs.iter().filter(|s| !s.name.contains("auxiliary")).map(ParamSpec::numel).sum()
    }

    /// Trainable scalars of the auxiliary head alone.
    pub fn num_aux_params(&self) -> usize {
        self.specs.iter().filter(|s| s.name.contains("auxiliary")).map(ParamSpec::numel).sum()
    }

    /// Logits, and in training mode with an auxiliary head its logits too. `drop_prob` is the
    /// drop-path probability of this epoch (training mode only).
    pub fn forward(&self, f: &mut Fwd, x: Tensor<4>) -> (Tensor<2>, Option<Tensor<2>>) {
        let s = self.stem.forward(f, x);
        let s = self.stem_bn.forward(f, s);
        let (mut s0, mut s1) = (s.clone(), s);
        let mut aux_logits = None;
        for (i, cell) in self.cells.iter().enumerate() {
            let out = cell.forward(f, s0, s1.clone());
            s0 = s1;
            s1 = out;
            if i == self.aux_after && f.mode == Mode::Train
                && let Some(aux) = &self.aux
            {
                aux_logits = Some(aux.forward(f, s1.clone(), self.config.classes));
            }
        }
        let [n, c, _, _] = s1.dims();
        debug_assert_eq!(c, self.c_final);
        let pooled: Tensor<2> = s1.mean_dims(&[2, 3]).reshape([n, c]);
        (linear(f, pooled, self.classifier, self.config.classes, c), aux_logits)
    }
}

fn linear(f: &Fwd, x: Tensor<2>, (w, b): (Pid, Pid), out: usize, inp: usize) -> Tensor<2> {
    x.matmul(f.get(w, [out, inp]).transpose()) + f.get(b, [out]).unsqueeze_dim(0)
}

impl AuxHead {
    fn forward(&self, f: &mut Fwd, x: Tensor<4>, classes: usize) -> Tensor<2> {
        let x = f.activate(Activation::Relu, x);
        let x = avg_pool2d(x, AvgPoolOptions::new([5, 5]).with_stride([3, 3]).with_padding([0, 0]).with_count_include_pad(false));
        let x = self.conv1.forward(f, x);
        let x = self.bn1.forward(f, x);
        let x = f.activate(Activation::Relu, x);
        let x = self.conv2.forward(f, x);
        let x = self.bn2.forward(f, x);
        let x = f.activate(Activation::Relu, x);
        let [n, c, h, w] = x.dims();
        linear(f, x.reshape([n, c * h * w]), self.classifier, classes, 768)
    }
}

impl EvalCell {
    fn forward(&self, f: &mut Fwd, s0: Tensor<4>, s1: Tensor<4>) -> Tensor<4> {
        let s0 = match &self.pre0 {
            Pre0::Reduce(fr) => fr.forward(f, s0),
            Pre0::Conv(rcb) => rcb.forward(f, s0),
        };
        let s1 = self.pre1.forward(f, s1);
        let mut states = vec![s0, s1];
        let mut activated = SharedActivations::default();
        for pair in self.ops.chunks(2) {
            let mut sum: Option<Tensor<4>> = None;
            for (op, input, identity) in pair {
                let mut h = activated.forward(f, op, *input, &states[*input]);
                if f.mode == Mode::Train && f.drop_prob > 0.0 && !identity {
                    h = drop_path(f, h);
                }
                sum = Some(match sum {
                    Some(s) => s + h,
                    None => h,
                });
            }
            states.push(sum.expect("two ops per node"));
        }
        Tensor::cat(self.concat.iter().map(|&i| states[i].clone()).collect(), 1)
    }
}

/// Zeroes whole samples with probability `f.drop_prob` and scales the others by 1/(1 − p).
fn drop_path(f: &mut Fwd, h: Tensor<4>) -> Tensor<4> {
    let mask = f.drop_path_mask(h.dims()[0], &h.device());
    h * mask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DARTS-V2, the DARTS paper's published genotype.
    pub const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

    #[test]
    fn darts_v2_on_cifar10_has_the_published_parameter_count() {
        let g: Genotype = DARTS_V2.parse().unwrap();
        let net = EvalNet::new(&EvalConfig::default(), &g).unwrap();
        eprintln!("DARTS-V2, C = 36, 20 cells: {} parameters, auxiliary head {}", net.num_params(), net.num_aux_params());
        assert_eq!(net.num_params(), 3_349_342);
        // 1×1 conv C_aux→128, BN(128), 2×2 conv 128→768, BN(768), linear 768→10, with C_aux = 4·144.
        assert_eq!(net.num_aux_params(), 576 * 128 + 2 * 128 + 128 * 768 * 4 + 2 * 768 + 768 * 10 + 10);
        assert!(net.specs.iter().any(|s| s.name == "cells.0._ops.0.op.1.weight"));
        assert!(net.specs.iter().any(|s| s.name == "auxiliary_head.features.5.weight"));
    }

    #[test]
    fn the_auxiliary_head_needs_eight_by_eight_features() {
        let g: Genotype = DARTS_V2.parse().unwrap();
        let small = EvalConfig { image_size: 28, layers: 8, channels: 8, in_channels: 1, ..EvalConfig::default() };
        let e = EvalNet::new(&small, &g).err().unwrap().to_string();
        assert!(e.contains("8×8") && e.contains("7×7"), "{e}");
        assert!(EvalNet::new(&EvalConfig { auxiliary: false, ..small }, &g).is_ok());
    }
}
