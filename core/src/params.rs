//! Trainable weights as a flat list of tensors, and the forward-pass context.
//!
//! A network is a tree of plain structs that refer to its weights by index ([`Pid`]); the weights
//! themselves live in one `Vec<Tensor<1>>` ([`Weights`]). This keeps the bi-level optimisation
//! simple and explicit: the unrolled weights w' of second-order DARTS, the perturbed weights w±,
//! a restored checkpoint, or a set of gradient leaves are just other vectors passed to the same
//! `forward`. Optimisers, gradient clipping and checkpoints work on the vector.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Index of a trainable tensor in [`Weights`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pid(pub usize);

/// Index of a BatchNorm layer's running statistics in [`BnStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bid(pub usize);

/// How a trainable tensor is initialised (PyTorch's defaults, so parameter statistics match).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Init {
    /// Uniform in [-1/sqrt(fan_in), 1/sqrt(fan_in)]: PyTorch's default for conv and linear layers.
    FanIn(usize),
    /// All ones (BatchNorm γ).
    Ones,
    /// All zeros (BatchNorm β).
    Zeros,
    /// Uniform in [-bound, bound] (the recurrent models' `INITRANGE`).
    Uniform(f64),
}

/// Shape, name and initialisation of one trainable tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    /// Dotted path, e.g. `cells.3.edges.5.sep_conv_3x3.pw1`.
    pub name: String,
    /// Logical shape (PyTorch layout).
    pub shape: Vec<usize>,
    /// Initialisation.
    pub init: Init,
}

impl ParamSpec {
    /// Number of scalars.
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }
}

/// Collects parameter and BatchNorm declarations while a network is built.
#[derive(Debug, Default)]
pub struct Builder {
    /// Declared parameters, in [`Pid`] order.
    pub specs: Vec<ParamSpec>,
    /// Channel count of each BatchNorm layer, in [`Bid`] order.
    pub bn_channels: Vec<usize>,
    /// Activation of the blocks being declared.
    pub activation: Activation,
    prefix: Vec<String>,
}

impl Builder {
    /// Runs `f` with `name` appended to the current name prefix.
    pub fn scope<R>(&mut self, name: impl Into<String>, f: impl FnOnce(&mut Self) -> R) -> R {
        self.prefix.push(name.into());
        let r = f(self);
        self.prefix.pop();
        r
    }

    /// Declares a trainable tensor.
    pub fn param(&mut self, name: &str, shape: &[usize], init: Init) -> Pid {
        let mut full = self.prefix.join(".");
        if !full.is_empty() {
            full.push('.');
        }
        full.push_str(name);
        self.specs.push(ParamSpec { name: full, shape: shape.to_vec(), init });
        Pid(self.specs.len() - 1)
    }

    /// Declares the running statistics of a BatchNorm layer over `channels`.
    pub fn batch_norm(&mut self, channels: usize) -> Bid {
        self.bn_channels.push(channels);
        Bid(self.bn_channels.len() - 1)
    }
}

/// Draws initial values for every spec from `rng` (host side, so every backend starts equal).
pub fn init_weights(specs: &[ParamSpec], rng: &mut Rng, device: &Device) -> Weights {
    let tensors = specs
        .iter()
        .map(|s| {
            let n = s.numel();
            let values: Vec<f32> = match s.init {
                Init::FanIn(fan_in) => {
                    let bound = 1.0 / (fan_in as f64).sqrt();
                    (0..n).map(|_| rng.uniform_range(-bound, bound) as f32).collect()
                }
                Init::Uniform(bound) => (0..n).map(|_| rng.uniform_range(-bound, bound) as f32).collect(),
                Init::Ones => vec![1.0; n],
                Init::Zeros => vec![0.0; n],
            };
            tensor1(values, device)
        })
        .collect();
    Weights { tensors }
}

/// The activation in front of every convolution block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// ReLU, as DARTS.
    #[default]
    Relu,
    /// x · sigmoid(x): smooth everywhere. Only for finite-difference checks of second-order
    /// quantities, which ReLU's kinks make meaningless at small steps.
    Silu,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Activation::Relu => burn::tensor::activation::relu(x),
            Activation::Silu => burn::tensor::activation::silu(x),
        }
    }
}

/// Uploads a host vector as a rank-1 tensor.
pub fn tensor1(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::from_data(TensorData::new(values, [n]), device)
}

/// Reads a tensor back to the host as f32 values, without blocking: the only kind of read WebGPU
/// allows in a browser. Every read on the search's path goes through here (or [`read_scalar`]).
pub async fn read<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    HOST_READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    READS_HERE.with(|n| n.set(n.get() + 1));
    let data = t.to_data_async().await.expect("reading a tensor back from the device");
    data.convert::<f32>().try_into_vec::<f32>().expect("f32 tensor data")
}

/// Reads from the device to the host so far, in this process (every read goes through [`read`]).
/// Each one waits for the device's queue to drain: on a GPU, the fewer per step the better.
pub fn host_reads() -> u64 {
    HOST_READS.load(std::sync::atomic::Ordering::Relaxed)
}

static HOST_READS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// [`host_reads`] made by the calling thread only (what a test counts while other tests run).
pub fn host_reads_on_this_thread() -> u64 {
    READS_HERE.with(std::cell::Cell::get)
}

thread_local! {
    static READS_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Reads a one-element tensor back to the host, without blocking.
pub async fn read_scalar<const D: usize>(t: &Tensor<D>) -> f64 {
    let v = read(t).await;
    debug_assert_eq!(v.len(), 1);
    v[0] as f64
}

/// Reads a list of tensors back to the host, without blocking.
pub async fn read_all(ts: &[Tensor<1>]) -> Vec<Vec<f32>> {
    let mut out = Vec::with_capacity(ts.len());
    for t in ts {
        out.push(read(t).await);
    }
    out
}

/// Runs one of this crate's `async` functions to completion: the one blocking adapter, for the
/// entry points of native front ends and tests. In a browser only futures that are ready at once
/// (the CPU backend's) can be waited for this way — WebGPU's reads must be awaited.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    burn::tensor::read_sync(f)
}

/// A tensor's values on the host, blocking: for this crate's unit tests only (the API's reads
/// are async).
#[cfg(test)]
pub(crate) fn to_vec<const D: usize>(t: &Tensor<D>) -> Vec<f32> {
    block_on(read(t))
}

/// The values of every trainable tensor, flattened, in [`Pid`] order, on the plain (non-autodiff)
/// device. Passes that need gradients take [`Weights::leaves`].
#[derive(Clone, Debug)]
pub struct Weights {
    /// One flat tensor per parameter.
    pub tensors: Vec<Tensor<1>>,
}

impl Weights {
    /// Gradient leaves: the same values on the autodiff device, requiring a gradient.
    pub fn leaves(&self) -> Weights {
        Weights { tensors: self.tensors.iter().map(|t| t.clone().autodiff().require_grad()).collect() }
    }

    /// The same values on the autodiff device as constants (no gradient retained).
    pub fn constants(&self) -> Weights {
        Weights { tensors: self.tensors.iter().map(|t| t.clone().autodiff()).collect() }
    }

    /// Gradients of these leaves (plain tensors), zeros where a parameter did not take part.
    pub fn grads(&self, grads: &burn::tensor::Gradients) -> Vec<Tensor<1>> {
        self.tensors
            .iter()
            .map(|t| t.grad(grads).unwrap_or_else(|| t.clone().inner().zeros_like()))
            .collect()
    }

    /// `self + s · v`, elementwise over the list.
    pub fn axpy(&self, s: f64, v: &[Tensor<1>]) -> Weights {
        Weights { tensors: self.tensors.iter().zip(v).map(|(w, d)| w.clone() + d.clone().mul_scalar(s)).collect() }
    }

    /// All values on the host, one vector per parameter.
    pub async fn read(&self) -> Vec<Vec<f32>> {
        read_all(&self.tensors).await
    }

    /// Uploads host values (one vector per parameter).
    pub fn from_host(values: &[Vec<f32>], device: &Device) -> Weights {
        Weights { tensors: values.iter().map(|v| tensor1(v.clone(), device)).collect() }
    }
}

/// Squared L2 norm of a list of tensors, as one device scalar. With our WGSL kernels (`choice`
/// and a CubeCL device), a chain of launches adding five tensors' sums of squares each
/// (`optim::sum_squares`); elsewhere the tensors joined into one, then one square and one sum
/// (on a GPU a launch per tensor for the join).
pub fn sq_norm(ts: &[Tensor<1>], choice: crate::kernels::Kernels) -> Tensor<1> {
    #[cfg(feature = "wgpu")]
    if let Some(first) = ts.first()
        && crate::kernels::uses_wgsl_kernels(choice, &first.device())
        && first.dtype() == burn::tensor::DType::F32
    {
        return crate::optim::sum_squares(ts);
    }
    #[cfg(not(feature = "wgpu"))]
    let _ = choice;
    Tensor::cat(ts.to_vec(), 0).powi_scalar(2).sum()
}

/// Running mean and (unbiased) variance of every BatchNorm layer, updated by training-mode passes.
#[derive(Clone, Debug)]
pub struct BnStats {
    /// Running means.
    pub mean: Vec<Tensor<1>>,
    /// Running variances.
    pub var: Vec<Tensor<1>>,
    /// PyTorch's momentum convention: new = (1 − m) · old + m · batch.
    pub momentum: f64,
}

impl BnStats {
    /// Zeros for means, ones for variances (PyTorch's initial values), on a plain device.
    pub fn new(channels: &[usize], device: &Device) -> Self {
        BnStats {
            mean: channels.iter().map(|&c| Tensor::zeros([c], device)).collect(),
            var: channels.iter().map(|&c| Tensor::ones([c], device)).collect(),
            momentum: 0.1,
        }
    }
}

/// Whether BatchNorm uses batch statistics (training) or running statistics (evaluation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; drop-path and noise active.
    Train,
    /// Running statistics; no drop-path.
    Eval,
}

/// Everything a forward pass reads besides its input.
pub struct Fwd<'a> {
    /// The weights to use.
    pub w: &'a Weights,
    /// Train or eval.
    pub mode: Mode,
    /// Running statistics to read (eval) or update (train, when present).
    pub stats: Option<&'a mut BnStats>,
    /// Host randomness for noise and drop-path.
    pub rng: &'a mut Rng,
    /// Drop-path probability applied to each edge output (training only).
    pub drop_prob: f64,
    /// Records or replays the kink pattern of ReLU and max-pool (see [`KinkTape`]); `None` for
    /// the ordinary piecewise-smooth forward.
    pub tape: Option<&'a mut KinkTape>,
    /// Our kernels or Burn's plain tensor ops for the node sums, depthwise and 1×1 convolutions
    /// and training-mode BatchNorm (see [`crate::kernels`]).
    pub kernels: crate::kernels::Kernels,
    /// Constant tensors the pass makes once and shares (see [`Constants`]).
    pub constants: Constants,
}

/// Constant tensors shared within one forward pass: the scale of ones and the shift of zeros that
/// a BatchNorm without affine parameters (every one in a search cell) normalises with, one pair
/// per channel count. Made once per pass instead of once per BatchNorm: each is a fill launch on
/// a GPU, two for each of a search step's hundreds of BatchNorms.
#[derive(Debug, Default)]
pub struct Constants {
    identity: Vec<(usize, Device, Tensor<1>, Tensor<1>)>,
}

impl Constants {
    /// Ones and zeros of length `c` on `device` (made on the first call for that length and
    /// device).
    pub fn identity_affine(&mut self, c: usize, device: &Device) -> (Tensor<1>, Tensor<1>) {
        let pos = match self.identity.iter().position(|(len, dev, ..)| *len == c && dev == device) {
            Some(pos) => pos,
            None => {
                self.identity.push((c, device.clone(), Tensor::ones([c], device), Tensor::zeros([c], device)));
                self.identity.len() - 1
            }
        };
        let (.., ones, zeros) = &self.identity[pos];
        (ones.clone(), zeros.clone())
    }
}

/// The kink pattern of one forward pass: which ReLU inputs were positive and which input won each
/// max-pool window. Recorded at a base point and replayed at nearby points, it makes the network a
/// smooth function that agrees with the real one at the base point in value and gradient, and whose
/// second derivatives are those double backprop computes (ReLU'' = 0, max-pool routing fixed). Finite
/// differences of gradients then converge to the autodiff Hessian instead of counting the gradient
/// jumps of units that cross a kink between the two evaluation points (docs/ALGORITHM.md §6, `hessian`).
#[derive(Debug, Default)]
pub struct KinkTape {
    kinks: Vec<Kink>,
    pos: usize,
    replay: bool,
}

#[derive(Debug)]
enum Kink {
    /// `true` where the ReLU input was ≤ 0 (output held at zero): a quarter of a float's memory
    /// where booleans take a byte (the CPU backend), widened to the replay's factor per pass.
    Relu(Tensor<4, burn::tensor::Bool>),
    /// The replay's factor itself, 0 where the ReLU input was ≤ 0 and 1 elsewhere: on wgpu, where
    /// a boolean takes four bytes as a float does, and the widening would cost two launches per
    /// replayed ReLU.
    ReluFactor(Tensor<4>),
    /// Flat index (h·W + w, unpadded input) of each window's maximum, `[N, C, Ho·Wo]`, and the output shape.
    MaxPool(Tensor<3, burn::tensor::Int>, [usize; 4]),
    /// The same indices as floats, `[N, C, Ho, Wo]`, as our max-pool kernel writes them (wgpu;
    /// see [`crate::pool`]).
    MaxPoolWinners(Tensor<4>),
}

impl KinkTape {
    /// An empty tape that records the next forward pass.
    pub fn new() -> Self {
        Self::default()
    }

    /// Switches to replaying the recorded pattern from the start (call before each replayed pass).
    pub fn rewind(&mut self) {
        self.replay = true;
        self.pos = 0;
    }

    /// Number of recorded kinks (ReLU and max-pool applications).
    pub fn len(&self) -> usize {
        self.kinks.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.kinks.is_empty()
    }

    fn next(&mut self) -> &Kink {
        let k = self.kinks.get(self.pos).expect("replayed forward pass has more kinks than the recorded one");
        self.pos += 1;
        k
    }
}

impl Fwd<'_> {
    /// ScheduledDropPath's per-sample mask `[n, 1, 1, 1]`: 0 with probability `drop_prob`, else
    /// 1/(1 − `drop_prob`), one draw per sample from the pass's stream (docs/ALGORITHM.md §9).
    pub fn drop_path_mask(&mut self, n: usize, device: &Device) -> Tensor<4> {
        self.keep_mask([n, 1, 1, 1], self.drop_prob, device)
    }

    /// A dropout mask of `shape` drawn from the pass's stream, one draw per entry: 0 with
    /// probability `p`, else 1/(1 − `p`).
    pub fn keep_mask<const D: usize>(&mut self, shape: [usize; D], p: f64, device: &Device) -> Tensor<D> {
        Tensor::from_data(TensorData::new(self.keep_values(shape.iter().product(), p), shape), device)
    }

    /// The values of a dropout mask of `count` entries, as [`Fwd::keep_mask`] draws them.
    pub fn keep_values(&mut self, count: usize, p: f64) -> Vec<f32> {
        let keep = 1.0 - p;
        (0..count).map(|_| if self.rng.uniform() < keep { (1.0 / keep) as f32 } else { 0.0 }).collect()
    }

    /// `act(x)`; with ReLU and a tape, records or replays which inputs were cut to zero.
    pub fn activate(&mut self, act: Activation, x: Tensor<4>) -> Tensor<4> {
        match (act, self.tape.as_deref_mut()) {
            // Replay multiplies by the recorded 0/1 pattern: one vectorised pass forward and one
            // backward, where a boolean mask fill is a scalar loop on the CPU backend (measured:
            // a fifth of λmax's time at the paper's shape). The pattern is kept as booleans
            // (a quarter of f32's memory) and widened per pass.
            (Activation::Relu, Some(tape)) if tape.replay => match tape.next() {
                Kink::Relu(off) => x * off.clone().bool_not().float(),
                Kink::ReluFactor(keep) => x * keep.clone(),
                Kink::MaxPool(..) | Kink::MaxPoolWinners(_) => panic!("kink tape out of step: expected a ReLU"),
            },
            (Activation::Relu, Some(tape)) => {
                // A NaN input stays NaN in the replay whatever its factor, so `x > 0` makes it.
                tape.kinks.push(if crate::kernels::is_cube(&x.device()) {
                    Kink::ReluFactor(x.clone().greater_elem(0.0).float())
                } else {
                    Kink::Relu(x.clone().lower_equal_elem(0.0))
                });
                crate::relu::relu(x, self.kernels)
            }
            (Activation::Relu, None) => crate::relu::relu(x, self.kernels),
            (act, _) => act.apply(x),
        }
    }

    /// 3×3 max-pool with padding 1 and the given stride; with a tape, records or replays the winners.
    pub fn max_pool3(&mut self, x: Tensor<4>, stride: usize) -> Tensor<4> {
        use burn::tensor::module::max_pool2d_with_indices;
        use burn::tensor::ops::MaxPoolOptions;
        let window = crate::pool::Window::darts(stride);
        let Some(tape) = self.tape.as_deref_mut() else { return crate::pool::max_pool(x, window, self.kernels) };
        let [n, c, h, w] = x.dims();
        if tape.replay {
            return match tape.next() {
                Kink::MaxPool(idx, shape) => x.reshape([n, c, h * w]).gather(2, idx.clone()).reshape(*shape),
                Kink::MaxPoolWinners(winners) => crate::pool::gather_winners(x, winners.clone(), window),
                Kink::Relu(_) | Kink::ReluFactor(_) => panic!("kink tape out of step: expected a max-pool"),
            };
        }
        if crate::pool::kernel_for(&x, self.kernels) {
            let (y, winners) = crate::pool::max_pool_with_winners(x, window);
            tape.kinks.push(Kink::MaxPoolWinners(winners));
            return y;
        }
        let o = MaxPoolOptions::new([3, 3]).with_stride([stride; 2]).with_padding([1, 1]);
        let (y, idx) = max_pool2d_with_indices(x, o);
        let shape = y.dims();
        tape.kinks.push(Kink::MaxPool(idx.reshape([n, c, shape[2] * shape[3]]), shape));
        y
    }
}

impl Fwd<'_> {
    /// The parameter `p` reshaped to rank `D`.
    pub fn get<const D: usize>(&self, p: Pid, shape: [usize; D]) -> Tensor<D> {
        self.w.tensors[p.0].clone().reshape(shape)
    }
}
