//! The candidate operations of docs/ALGORITHM.md §2 and the layers they are made of.
//!
//! Every layer is a small struct holding the indices of its weights; `forward` reads the values from
//! the [`Fwd`] context. Shapes follow PyTorch: activations `[N, C, H, W]`, conv weights
//! `[C_out, C_in / groups, k, k]`.

use burn::tensor::module::{batch_norm, conv2d};
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

use crate::batchnorm::{batch_norm_train, update_running};
use crate::depthwise::{DwGeom, depthwise_conv2d};
use crate::subsample::subsample;
use crate::kernels::{uses_cpu_kernels, uses_matmul_1x1};
use crate::pointwise::pointwise_conv;
use crate::params::{Bid, Builder, Fwd, Init, Mode, Pid};
pub use crate::params::Activation;
use crate::space::Primitive;

/// Output side length of a strided op with "same" padding: ceil(h / stride).
pub fn strided(h: usize, stride: usize) -> usize {
    h.div_ceil(stride)
}

/// The shape of a 2-D convolution: `kernel`×`kernel` from `c_in` to `c_out` channels; stride 1,
/// no padding, no dilation and one group unless set with the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvConfig {
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on every side.
    pub pad: usize,
    /// Dilation.
    pub dilation: usize,
    /// Groups (`c_in` for a depthwise convolution).
    pub groups: usize,
}

impl ConvConfig {
    /// A `kernel`×`kernel` convolution from `c_in` to `c_out` channels, stride 1, no padding.
    pub fn new(c_in: usize, c_out: usize, kernel: usize) -> Self {
        ConvConfig { c_in, c_out, kernel, stride: 1, pad: 0, dilation: 1, groups: 1 }
    }

    /// With stride `stride`.
    pub fn with_stride(self, stride: usize) -> Self {
        ConvConfig { stride, ..self }
    }

    /// With `pad` zeros on every side.
    pub fn with_pad(self, pad: usize) -> Self {
        ConvConfig { pad, ..self }
    }

    /// With dilation `dilation`.
    pub fn with_dilation(self, dilation: usize) -> Self {
        ConvConfig { dilation, ..self }
    }

    /// One group per input channel (depthwise).
    pub fn depthwise(self) -> Self {
        ConvConfig { groups: self.c_in, ..self }
    }
}

/// A 2-D convolution without bias.
#[derive(Clone, Debug)]
pub struct Conv {
    w: Pid,
    shape: [usize; 4],
    stride: usize,
    pad: usize,
    dilation: usize,
    groups: usize,
}

impl Conv {
    /// Declares the convolution `c` with its weight named `{name}.weight`.
    pub fn new(b: &mut Builder, name: &str, c: ConvConfig) -> Self {
        let ConvConfig { c_in, c_out, kernel: k, stride, pad, dilation, groups } = c;
        let shape = [c_out, c_in / groups, k, k];
        let w = b.param(&format!("{name}.weight"), &shape, Init::FanIn(c_in / groups * k * k));
        Conv { w, shape, stride, pad, dilation, groups }
    }

    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, H', W']`.
    ///
    /// A depthwise convolution goes through [`depthwise_conv2d`] (our kernels on the CPU backend
    /// and wgpu); a 1×1 convolution without padding where [`uses_matmul_1x1`] says so (the CPU
    /// backend, and wgpu outside the browser) is one matrix product `W · x[n]` per sample (on the
    /// CPU our [`pointwise_conv`], on wgpu Burn's batched matrix product, forward and backward),
    /// at stride s on every s-th row and column of `x` ([`subsample`]), unless [`Fwd::kernels`]
    /// forces the reference; everything else is Burn's
    /// `conv2d`. Burn's CPU backend runs a strided 1×1 convolution through a serial im2col and its
    /// backward as a transposed convolution; its CubeCL backend permutes input, weight and output
    /// between NCHW and NHWC around every convolution and its two gradients (a layout copy each).
    pub fn forward(&self, f: &Fwd, x: Tensor<4>) -> Tensor<4> {
        self.forward_from(f, x, 0)
    }

    /// [`forward`](Self::forward) on `x` without its first `skip` rows and columns (as
    /// FactorizedReduce's second convolution reads it).
    pub fn forward_from(&self, f: &Fwd, x: Tensor<4>, skip: usize) -> Tensor<4> {
        let [c_out, c_in_group, k, _] = self.shape;
        let w = f.get(self.w, self.shape);
        if k == 1 && self.pad == 0 && self.groups == 1 && uses_matmul_1x1(f.kernels, &x.device()) {
            let x = match (self.stride, skip) {
                (1, 0) => x,
                (s, skip) => subsample(x, s, skip, f.kernels),
            };
            let [n, c_in, h, wd] = x.dims();
            if uses_cpu_kernels(f.kernels, &x.device()) && x.dtype() == burn::tensor::DType::F32 {
                return pointwise_conv(x, w.reshape([c_out, c_in]));
            }
            let y = w.reshape([1, c_out, c_in]).matmul(x.reshape([n, c_in, h * wd]));
            return y.reshape([n, c_out, h, wd]);
        }
        let x = match skip {
            0 => x,
            _ => {
                let [_, _, h, wd] = x.dims();
                x.narrow(2, skip, h - skip).narrow(3, skip, wd - skip)
            }
        };
        if self.groups > 1 && self.groups == c_out && c_in_group == 1 {
            let g = DwGeom { kernel: k, stride: self.stride, pad: self.pad, dilation: self.dilation };
            return depthwise_conv2d(x, w, g, f.kernels);
        }
        let opts = ConvOptions::new([self.stride; 2], [self.pad; 2], [self.dilation; 2], self.groups);
        conv2d(x, w, None, opts)
    }
}

/// BatchNorm2d with optional affine parameters (search cells use none, docs/ALGORITHM.md §2).
#[derive(Clone, Debug)]
pub struct BatchNorm {
    stats: Bid,
    affine: Option<(Pid, Pid)>,
    channels: usize,
}

/// BatchNorm's ε, as PyTorch.
pub const BN_EPS: f64 = 1e-5;

impl BatchNorm {
    /// Declares a BatchNorm over `channels`.
    pub fn new(b: &mut Builder, name: &str, channels: usize, affine: bool) -> Self {
        let affine = affine.then(|| {
            b.scope(name, |b| {
                (b.param("weight", &[channels], Init::Ones), b.param("bias", &[channels], Init::Zeros))
            })
        });
        BatchNorm { stats: b.batch_norm(channels), affine, channels }
    }

    /// # Shapes
    /// `[N, C, H, W]` → same.
    pub fn forward(&self, f: &mut Fwd, x: Tensor<4>) -> Tensor<4> {
        let device = x.device();
        let c = self.channels;
        let (gamma, beta) = match self.affine {
            Some((g, b)) => (f.get(g, [c]), f.get(b, [c])),
            None => f.constants.identity_affine(c, &device),
        };
        match f.mode {
            Mode::Train => {
                let [n, _, h, w] = x.dims();
                let (out, mean, var) = batch_norm_train(x, gamma, beta, BN_EPS, f.kernels);
                if let Some(stats) = f.stats.as_deref_mut() {
                    let i = self.stats.0;
                    (stats.mean[i], stats.var[i]) = update_running(stats.mean[i].clone(), stats.var[i].clone(), mean, var, stats.momentum, n * h * w, f.kernels);
                }
                out
            }
            Mode::Eval => {
                let stats = f.stats.as_deref().expect("evaluation needs BatchNorm running statistics");
                let i = self.stats.0;
                let mean = stats.mean[i].clone().to_device(&device);
                let var = stats.var[i].clone().to_device(&device);
                batch_norm(x, gamma, beta, mean, var, BN_EPS)
            }
        }
    }
}

/// ReLU → Conv → BN (the cells' preprocessing, docs/ALGORITHM.md §1).
#[derive(Clone, Debug)]
pub struct ReluConvBn {
    act: Activation,
    conv: Conv,
    bn: BatchNorm,
}

impl ReluConvBn {
    /// Declares the block: the convolution `c`, then BatchNorm (with affine parameters if `affine`).
    pub fn new(b: &mut Builder, c: ConvConfig, affine: bool) -> Self {
        ReluConvBn { act: b.activation, conv: Conv::new(b, "op.1", c), bn: BatchNorm::new(b, "op.2", c.c_out, affine) }
    }

    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, H', W']`.
    pub fn forward(&self, f: &mut Fwd, x: Tensor<4>) -> Tensor<4> {
        let x = f.activate(self.act, x);
        let y = self.conv.forward(f, x);
        self.bn.forward(f, y)
    }
}

/// ReLU, then two 1×1 stride-2 convs (one on x shifted by a pixel), concatenated, then BN.
#[derive(Clone, Debug)]
pub struct FactorizedReduce {
    act: Activation,
    conv1: Conv,
    conv2: Conv,
    bn: BatchNorm,
}

impl FactorizedReduce {
    /// Declares the block; `c_out` must be even.
    pub fn new(b: &mut Builder, c_in: usize, c_out: usize, affine: bool) -> Self {
        assert!(c_out.is_multiple_of(2), "FactorizedReduce needs an even channel count, found {c_out}");
        FactorizedReduce {
            act: b.activation,
            conv1: Conv::new(b, "conv_1", ConvConfig::new(c_in, c_out / 2, 1).with_stride(2)),
            conv2: Conv::new(b, "conv_2", ConvConfig::new(c_in, c_out / 2, 1).with_stride(2)),
            bn: BatchNorm::new(b, "bn", c_out, affine),
        }
    }

    /// # Shapes
    /// `[N, C_in, H, W]` → `[N, C_out, H/2, W/2]` (H and W even).
    pub fn forward(&self, f: &mut Fwd, x: Tensor<4>) -> Tensor<4> {
        let x = f.activate(self.act, x);
        self.forward_activated(f, x)
    }

    /// [`forward`](Self::forward) on an input that already went through the block's activation.
    fn forward_activated(&self, f: &mut Fwd, x: Tensor<4>) -> Tensor<4> {
        let y = Tensor::cat(vec![self.conv1.forward(f, x.clone()), self.conv2.forward_from(f, x, 1)], 1);
        self.bn.forward(f, y)
    }
}

/// Depthwise k×k (possibly dilated), then pointwise 1×1, then BN, after a ReLU.
#[derive(Clone, Debug)]
pub struct DwPwBn {
    act: Activation,
    dw: Conv,
    pw: Conv,
    bn: BatchNorm,
}

impl DwPwBn {
    /// The block whose layers are named `op.{first + 1}` … `op.{first + 3}` (PyTorch's
    /// `nn.Sequential` indices): the depthwise convolution `dw`, a 1×1 to `c_out`, BatchNorm.
    fn new(b: &mut Builder, first: usize, dw: ConvConfig, c_out: usize, affine: bool) -> Self {
        DwPwBn {
            act: b.activation,
            dw: Conv::new(b, &format!("op.{}", first + 1), dw.depthwise()),
            pw: Conv::new(b, &format!("op.{}", first + 2), ConvConfig::new(dw.c_in, c_out, 1)),
            bn: BatchNorm::new(b, &format!("op.{}", first + 3), c_out, affine),
        }
    }

    fn forward(&self, f: &mut Fwd, x: Tensor<4>) -> Tensor<4> {
        let x = f.activate(self.act, x);
        self.forward_activated(f, x)
    }

    /// [`forward`](Self::forward) on an input that already went through the block's activation.
    fn forward_activated(&self, f: &mut Fwd, x: Tensor<4>) -> Tensor<4> {
        let y = self.dw.forward(f, x);
        let y = self.pw.forward(f, y);
        self.bn.forward(f, y)
    }
}

/// One candidate operation of an edge (docs/ALGORITHM.md §2). `c` channels in and out.
#[derive(Clone, Debug)]
pub enum CandidateOp {
    /// Zeros of the strided shape.
    Zero {
        /// Stride.
        stride: usize,
    },
    /// Standard normal noise of the strided shape.
    Noise {
        /// Stride.
        stride: usize,
    },
    /// Identity (skip at stride 1).
    Identity,
    /// Skip at stride 2.
    Reduce(FactorizedReduce),
    /// Max or average pooling 3×3, then BN in the search network (none in the evaluation network).
    Pool {
        /// Max (true) or average (false).
        max: bool,
        /// Stride.
        stride: usize,
        /// The BN after the pool.
        bn: Option<BatchNorm>,
    },
    /// One or two depthwise-pointwise blocks (sep conv: two; dil conv: one).
    Conv(Vec<DwPwBn>),
}

impl CandidateOp {
    /// Declares `prim` on `c` channels with `stride` for the search network; `affine` for the BN
    /// layers. Pools get a BN (the search code's `Sequential(pool, BN)`).
    pub fn new(b: &mut Builder, prim: Primitive, c: usize, stride: usize, affine: bool) -> Self {
        Self::build(b, prim, c, stride, affine, true)
    }

    /// `prim` for the evaluation network (docs/ALGORITHM.md §11): affine BN layers, and pools without a BN, as
    /// the DARTS evaluation code's `OPS` table.
    pub fn for_eval(b: &mut Builder, prim: Primitive, c: usize, stride: usize) -> Self {
        Self::build(b, prim, c, stride, true, false)
    }

    fn build(b: &mut Builder, prim: Primitive, c: usize, stride: usize, affine: bool, pool_bn: bool) -> Self {
        use Primitive::*;
        match prim {
            None => CandidateOp::Zero { stride },
            Noise => CandidateOp::Noise { stride },
            SkipConnect if stride == 1 => CandidateOp::Identity,
            SkipConnect => CandidateOp::Reduce(FactorizedReduce::new(b, c, c, affine)),
            MaxPool3x3 | AvgPool3x3 => CandidateOp::Pool {
                max: prim == MaxPool3x3,
                stride,
                // The search code wraps pools as Sequential(pool, BN): the BN is module "1".
                bn: pool_bn.then(|| BatchNorm::new(b, "1", c, false)),
            },
            SepConv3x3 | SepConv5x5 => {
                let k = if prim == SepConv3x3 { 3 } else { 5 };
                let p = k / 2;
                CandidateOp::Conv(vec![
                    DwPwBn::new(b, 0, ConvConfig::new(c, c, k).with_stride(stride).with_pad(p), c, affine),
                    DwPwBn::new(b, 4, ConvConfig::new(c, c, k).with_pad(p), c, affine),
                ])
            }
            DilConv3x3 | DilConv5x5 => {
                let k = if prim == DilConv3x3 { 3 } else { 5 };
                let dw = ConvConfig::new(c, c, k).with_stride(stride).with_pad(k - 1).with_dilation(2);
                CandidateOp::Conv(vec![DwPwBn::new(b, 0, dw, c, affine)])
            }
        }
    }

    /// Whether the op's output is identically zero (it can be skipped in sums).
    pub fn is_zero(&self) -> bool {
        matches!(self, CandidateOp::Zero { .. })
    }

    /// The activation the op applies to its input before anything else (the convolutions' and the
    /// strided skip's ReLU), if any. A cell applies it once per state and hands the result to every
    /// edge leaving that state ([`forward_activated`](Self::forward_activated)): the values are
    /// those of applying it per op, as the reference does, without recomputing it (and its
    /// backward) on every edge.
    pub fn leading_activation(&self) -> Option<Activation> {
        match self {
            CandidateOp::Reduce(fr) => Some(fr.act),
            CandidateOp::Conv(blocks) => blocks.first().map(|b| b.act),
            _ => None,
        }
    }

    /// The op on `x_act`, its input already passed through
    /// [`leading_activation`](Self::leading_activation); for ops without one, the plain
    /// [`forward`](Self::forward).
    pub fn forward_activated(&self, f: &mut Fwd, x_act: Tensor<4>) -> Tensor<4> {
        match self {
            CandidateOp::Reduce(fr) => fr.forward_activated(f, x_act),
            CandidateOp::Conv(blocks) => {
                let (first, rest) = blocks.split_first().expect("a convolution op has at least one block");
                let mut y = first.forward_activated(f, x_act);
                for blk in rest {
                    y = blk.forward(f, y);
                }
                y
            }
            _ => self.forward(f, x_act),
        }
    }

    /// # Shapes
    /// `[N, C, H, W]` → `[N, C, ceil(H/s), ceil(W/s)]`.
    pub fn forward(&self, f: &mut Fwd, x: Tensor<4>) -> Tensor<4> {
        match self {
            CandidateOp::Zero { stride } => {
                let [n, c, h, w] = x.dims();
                Tensor::zeros([n, c, strided(h, *stride), strided(w, *stride)], &x.device())
            }
            CandidateOp::Noise { stride } => {
                let [n, c, h, w] = x.dims();
                let shape = [n, c, strided(h, *stride), strided(w, *stride)];
                let values = f.rng.normal_vec(shape.iter().product());
                Tensor::from_data(TensorData::new(values, shape), &x.device())
            }
            CandidateOp::Identity => x,
            CandidateOp::Reduce(fr) => fr.forward(f, x),
            CandidateOp::Pool { max, stride, bn } => {
                let y = if *max {
                    f.max_pool3(x, *stride)
                } else {
                    crate::pool::avg_pool(x, crate::pool::Window::darts(*stride), f.kernels)
                };
                match bn {
                    Some(bn) => bn.forward(f, y),
                    None => y,
                }
            }
            CandidateOp::Conv(blocks) => {
                let mut y = x;
                for blk in blocks {
                    y = blk.forward(f, y);
                }
                y
            }
        }
    }
}

/// The activated copies of a cell's states (ReLU(h), the first layer of every convolution op and
/// of the strided skip), each made on first use and shared by all the ops leaving that state. The
/// values are those of applying the activation per op, as the reference code does; the activation
/// and its backward run once per state instead of once per op (in S5's normal cell, 5 times
/// instead of 56).
#[derive(Default)]
pub struct SharedActivations(Vec<Option<(Activation, Tensor<4>)>>);

impl SharedActivations {
    /// `op` on state `index` of the cell, whose value is `h`.
    pub fn forward(&mut self, f: &mut Fwd, op: &CandidateOp, index: usize, h: &Tensor<4>) -> Tensor<4> {
        let Some(act) = op.leading_activation() else { return op.forward(f, h.clone()) };
        if self.0.len() <= index {
            self.0.resize(index + 1, None);
        }
        let x_act = match &self.0[index] {
            Some((a, x)) if *a == act => x.clone(),
            _ => {
                let x = f.activate(act, h.clone());
                self.0[index] = Some((act, x.clone()));
                x
            }
        };
        op.forward_activated(f, x_act)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{BnStats, Weights, init_weights, to_vec};
    use crate::rng::Rng;
    use burn::tensor::Device;

    fn run(op: &CandidateOp, b: &Builder, w: Option<Weights>, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        let d = x.device();
        let mut rng = Rng::new(0);
        let w = w.unwrap_or_else(|| init_weights(&b.specs, &mut rng, &d));
        let mut stats = BnStats::new(&b.bn_channels, &d);
        let mut f = Fwd { w: &w, mode, stats: Some(&mut stats), rng: &mut rng, drop_prob: 0.0, tape: None, kernels: Default::default(), constants: Default::default() };
        op.forward(&mut f, x)
    }

    fn input(shape: [usize; 4], values: Vec<f32>) -> Tensor<4> {
        Tensor::from_data(TensorData::new(values, shape), &Device::flex())
    }

    #[test]
    fn every_primitive_has_the_expected_shape() {
        for prim in Primitive::ALL {
            for (stride, size, out) in [(1, 8, 8), (2, 8, 4), (1, 7, 7)] {
                let mut b = Builder::default();
                let op = CandidateOp::new(&mut b, prim, 4, stride, false);
                let x = input([2, 4, size, size], Rng::new(1).normal_vec(2 * 4 * size * size));
                let y = run(&op, &b, None, x, Mode::Train);
                assert_eq!(y.dims(), [2, 4, out, out], "{prim} stride {stride} on {size}×{size}");
            }
        }
    }

    const BN_SCALE: f32 = 0.999_995; // 1 / sqrt(1 + 1e-5): eval-mode BN with fresh statistics

    #[test]
    fn pools_match_hand_computed_values() {
        let x = input([1, 1, 3, 3], (1..=9).map(|v| v as f32).collect());
        let cases = [
            (Primitive::MaxPool3x3, 1, vec![5., 6., 6., 8., 9., 9., 8., 9., 9.]),
            // count_include_pad = false: the corner averages 4 values, the edge 6, the centre 9.
            (Primitive::AvgPool3x3, 1, vec![3., 3.5, 4., 4.5, 5., 5.5, 6., 6.5, 7.]),
            (Primitive::AvgPool3x3, 2, vec![3., 4., 6., 7.]),
            (Primitive::MaxPool3x3, 2, vec![5., 6., 8., 9.]),
        ];
        for (prim, stride, want) in cases {
            let mut b = Builder::default();
            let op = CandidateOp::new(&mut b, prim, 1, stride, false);
            let got = to_vec(&run(&op, &b, None, x.clone(), Mode::Eval));
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w * BN_SCALE).abs() < 1e-5, "{prim} stride {stride}: {got:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn factorized_reduce_matches_hand_computed_values() {
        // 1 input channel, 2 output channels: conv_1 sees even pixels, conv_2 odd (shifted) ones.
        let xs: Vec<f32> = (0..16).map(|v| if v % 5 == 0 { -(v as f32) } else { v as f32 }).collect();
        let x = input([1, 1, 4, 4], xs.clone());
        let mut b = Builder::default();
        let fr = FactorizedReduce::new(&mut b, 1, 2, false);
        let d = Device::flex();
        let w = Weights::from_host(&[vec![2.0], vec![-3.0]], &d);
        let mut rng = Rng::new(0);
        let mut stats = BnStats::new(&b.bn_channels, &d);
        let mut f = Fwd { w: &w, mode: Mode::Eval, stats: Some(&mut stats), rng: &mut rng, drop_prob: 0.0, tape: None, kernels: Default::default(), constants: Default::default() };
        let got = to_vec(&fr.forward(&mut f, x));
        let relu = |v: f32| v.max(0.0);
        let px = |r: usize, c: usize| relu(xs[r * 4 + c]);
        let want = [
            2.0 * px(0, 0), 2.0 * px(0, 2), 2.0 * px(2, 0), 2.0 * px(2, 2),
            -3.0 * px(1, 1), -3.0 * px(1, 3), -3.0 * px(3, 1), -3.0 * px(3, 3),
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w * BN_SCALE).abs() < 1e-4, "{got:?} vs {want:?}");
        }
    }

    /// The 1×1 convolution as a matrix product (at stride s on every s-th pixel, from pixel
    /// `skip` on) against Burn's `conv2d` (of the narrowed input): output and the gradients of
    /// input and weight, strides 1–3 on odd and even sides, skipping 0 or 1 pixel. Both sum the
    /// same C_in products per element, in different orders: 1e-5 of the largest value.
    #[test]
    fn pointwise_conv_matches_the_reference_at_every_stride() {
        use crate::kernels::Kernels;
        let d = Device::flex().autodiff();
        for (stride, side, skip) in [(1, 5, 0), (2, 8, 0), (2, 7, 0), (3, 7, 0), (1, 5, 1), (2, 8, 1), (2, 7, 1), (3, 8, 1)] {
            let mut b = Builder::default();
            let conv = Conv::new(&mut b, "conv", ConvConfig::new(6, 4, 1).with_stride(stride));
            let mut out = Vec::new();
            for kernels in [Kernels::Reference, Kernels::Auto] {
                let mut rng = Rng::new(4);
                let w = init_weights(&b.specs, &mut rng, &d);
                let w = Weights { tensors: w.tensors.into_iter().map(|t| t.require_grad()).collect() };
                let x = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(2 * 6 * side * side), [2, 6, side, side]), &d).require_grad();
                let f = Fwd { w: &w, mode: Mode::Train, stats: None, rng: &mut rng, drop_prob: 0.0, tape: None, kernels, constants: Default::default() };
                let y = conv.forward_from(&f, x.clone(), skip);
                let r = Tensor::<4>::from_data(TensorData::new(Rng::new(5).normal_vec(y.dims().iter().product()), y.dims()), &d);
                let grads = (y.clone() * r).sum().backward();
                let gx = x.grad(&grads).expect("x gradient");
                let gw = w.tensors[0].grad(&grads).expect("w gradient");
                out.push([to_vec(&y.inner()), to_vec(&gx), to_vec(&gw)]);
            }
            let want = (side - skip).div_ceil(stride);
            assert_eq!(out[1][0].len(), 2 * 4 * want * want, "stride {stride} on {side} from {skip}: output size");
            for (what, (r, k)) in ["y", "∂x", "∂w"].iter().zip(out[0].iter().zip(&out[1])) {
                let scale = r.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let diff = r.iter().zip(k).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
                assert_eq!(r.len(), k.len(), "stride {stride} on {side} from {skip}: {what} sizes");
                assert!(diff <= 1e-5 * scale, "stride {stride} on {side} from {skip}: {what} {diff:e} apart (largest {scale:e})");
            }
        }
    }

    #[test]
    fn noise_is_fresh_and_zero_is_zero() {
        let mut b = Builder::default();
        let noise = CandidateOp::new(&mut b, Primitive::Noise, 2, 1, false);
        let zero = CandidateOp::new(&mut b, Primitive::None, 2, 2, false);
        let x = input([1, 2, 4, 4], vec![1.0; 32]);
        let w = Weights { tensors: vec![] };
        let mut rng = Rng::new(3);
        let mut f = Fwd { w: &w, mode: Mode::Train, stats: None, rng: &mut rng, drop_prob: 0.0, tape: None, kernels: Default::default(), constants: Default::default() };
        let a = to_vec(&noise.forward(&mut f, x.clone()));
        let c = to_vec(&noise.forward(&mut f, x.clone()));
        assert_ne!(a, c, "each call draws new noise");
        assert!(a.iter().any(|v| *v != 1.0));
        let z = zero.forward(&mut f, x);
        assert_eq!(z.dims(), [1, 2, 2, 2]);
        assert!(to_vec(&z).iter().all(|v| *v == 0.0));
    }
}
