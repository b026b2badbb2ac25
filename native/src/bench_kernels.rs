//! `rdarts bench --kernels`: our kernels against the plain-tensor reference, measured side by side
//! in one run on one device: the kernels alone (forward, forward + backward; the depthwise
//! convolution and the node sum) and the whole search step (first and second order) with
//! the kernels on and off. Repetitions of the two variants alternate, so drifting machine load hits
//! both alike; ratios are reference / kernel medians (above 1: the kernels are faster).

use anyhow::{Result, bail};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rdarts_core::architect::Order;
use rdarts_core::backend::Backend;
use rdarts_core::kernels::Kernels;
use rdarts_core::depthwise::{self, DwGeom, depthwise_conv2d};
use rdarts_core::mixed::{self, NodeInputs, node_sum};
use rdarts_core::rng::Rng;
use rdarts_core::search::Search;
use rdarts_core::space::{CellKind, SearchSpace, SpaceId};
use serde::Serialize;

use crate::measure::{BenchArgs, Measurement, Samples, report, step_config, step_data, summarise};

/// Incoming edges of the largest node of a 4-node cell.
const NODE_EDGES: usize = 5;

/// A reference/kernel pair and their ratio.
#[derive(Serialize, Debug)]
struct Ratio {
    case: String,
    reference_median_s: f64,
    kernel_median_s: f64,
    /// reference / kernel: above 1, the kernels are faster.
    speedup: f64,
}

/// Times `run(choice)` for both implementations, alternating, and prints both and their ratio.
fn side_by_side(a: &BenchArgs, backend: &Backend, case: &str, shape: [usize; 4], mut run: impl FnMut(Kernels)) -> Ratio {
    let mut samples = [Samples::default(), Samples::default()];
    for rep in 0..a.warmup + a.reps {
        for (i, choice) in [Kernels::Reference, Kernels::Auto].into_iter().enumerate() {
            let start = std::time::Instant::now();
            run(choice);
            if rep >= a.warmup {
                samples[i].record(start);
            }
        }
    }
    let [r, k] = samples;
    let r: Measurement = summarise(format!("{case} reference"), &backend.description, r, shape);
    let k: Measurement = summarise(format!("{case} kernel"), &backend.description, k, shape);
    report(&r, a.json);
    report(&k, a.json);
    let ratio = Ratio { case: case.to_string(), reference_median_s: r.median_s, kernel_median_s: k.median_s, speedup: r.median_s / k.median_s };
    if a.json {
        println!("{}", serde_json::to_string(&ratio).expect("serialises"));
    } else {
        println!("{:<32} reference / kernel = {:.2}×", ratio.case, ratio.speedup);
    }
    ratio
}

/// One node's inputs: `NODE_EDGES` edges of `k` ops on `[n, c, s, s]`, op logits and drop-path
/// masks `[NODE_EDGES, n]`.
struct Node {
    ys: Vec<Vec<Tensor<4>>>,
    alpha: Tensor<2>,
    masks: Tensor<2>,
}

impl Node {
    fn new(k: usize, shape: [usize; 4], device: &Device) -> Self {
        let mut rng = Rng::new(3);
        let numel = shape.iter().product();
        let ys = (0..NODE_EDGES)
            .map(|_| (0..k).map(|_| Tensor::from_data(TensorData::new(rng.normal_vec(numel), shape), device)).collect())
            .collect();
        let alpha = Tensor::from_data(TensorData::new(rng.normal_vec(NODE_EDGES * k), [NODE_EDGES, k]), device);
        let m: Vec<f32> = (0..NODE_EDGES * shape[0]).map(|_| if rng.uniform() < 0.8 { 1.25 } else { 0.0 }).collect();
        let masks = Tensor::from_data(TensorData::new(m, [NODE_EDGES, shape[0]]), device);
        Node { ys, alpha, masks }
    }

    /// The node sum with drop-path masks on the device of `alpha`; the inputs and α as gradient
    /// leaves when `leaf`.
    fn sum(&self, choice: Kernels, leaf: bool) -> (Tensor<4>, Vec<Tensor<4>>, Tensor<2>) {
        let lift = |t: &Tensor<4>| if leaf { t.clone().autodiff().require_grad() } else { t.clone() };
        let alpha = if leaf { self.alpha.clone().autodiff().require_grad() } else { self.alpha.clone() };
        let w = softmax(alpha.clone(), 1);
        let mut leaves = Vec::new();
        let outputs = self
            .ys
            .iter()
            .map(|ys| {
                let outputs: Vec<Option<Tensor<4>>> = ys.iter().map(|y| Some(lift(y))).collect();
                leaves.extend(outputs.iter().flatten().cloned());
                outputs
            })
            .collect();
        let masks = if leaf { self.masks.clone().autodiff() } else { self.masks.clone() };
        let node = NodeInputs { outputs, weights: w, masks: Some(masks) };
        (node_sum(node, choice), leaves, alpha)
    }
}

/// The depthwise convolutions of DARTS' candidate ops on `[n, c, s, s]`: separable 3×3 and 5×5,
/// dilated 3×3 and 5×5 (stride 1, as in normal cells).
const DEPTHWISE: [(&str, DwGeom); 4] = [
    ("sep 3x3", DwGeom { kernel: 3, stride: 1, pad: 1, dilation: 1 }),
    ("sep 5x5", DwGeom { kernel: 5, stride: 1, pad: 2, dilation: 1 }),
    ("dil 3x3", DwGeom { kernel: 3, stride: 1, pad: 2, dilation: 2 }),
    ("dil 5x5", DwGeom { kernel: 5, stride: 1, pad: 4, dilation: 2 }),
];

/// The depthwise convolution alone, forward and forward + backward, for each geometry.
fn depthwise_cases(a: &BenchArgs, backend: &Backend, shape: [usize; 4], node_shape: [usize; 4], ratios: &mut Vec<Ratio>) {
    let device = backend.device.clone();
    let [n, c, s, _] = node_shape;
    let mut rng = Rng::new(3);
    let x: Tensor<4> = Tensor::from_data(TensorData::new(rng.normal_vec(n * c * s * s), node_shape), &device);
    for (name, g) in DEPTHWISE {
        let w: Tensor<4> = Tensor::from_data(TensorData::new(rng.normal_vec(c * g.kernel * g.kernel), [c, 1, g.kernel, g.kernel]), &device);
        ratios.push(side_by_side(a, backend, &format!("depthwise {name} forward"), shape, |choice| {
            std::hint::black_box(depthwise_conv2d(x.clone(), w.clone(), g, choice));
            device.sync().expect("device sync");
        }));
        ratios.push(side_by_side(a, backend, &format!("depthwise {name} fwd+bwd"), shape, |choice| {
            let (xl, wl) = (x.clone().autodiff().require_grad(), w.clone().autodiff().require_grad());
            let grads = depthwise_conv2d(xl.clone(), wl.clone(), g, choice).sum().backward();
            std::hint::black_box((xl.grad(&grads), wl.grad(&grads)));
            device.sync().expect("device sync");
        }));
    }
}

/// Runs the comparison; fails on a backend without kernels of ours.
pub fn bench_kernels(a: &BenchArgs, backend: &Backend) -> Result<()> {
    let node_sums = mixed::uses_kernel(Kernels::Auto, &backend.device);
    let depthwise = depthwise::uses_kernel(Kernels::Auto, &backend.device);
    if !node_sums && !depthwise {
        bail!("--kernels compares our kernels with the reference; {backend} has none");
    }
    let shape = [a.batch_size, a.init_channels, a.layers, a.image_size];
    let node_shape = [a.batch_size, a.init_channels, a.image_size, a.image_size];
    let device = backend.device.clone();
    let mut ratios = Vec::new();
    if depthwise {
        depthwise_cases(a, backend, shape, node_shape, &mut ratios);
    }
    for space in a.spaces.iter().filter(|_| node_sums) {
        let space: SpaceId = space.parse()?;
        let k = SearchSpace::new(space, 4)?.ops(CellKind::Normal).iter().map(Vec::len).max().unwrap_or(1);
        let node = Node::new(k, node_shape, &device);
        let label = format!("node sum {space} ({NODE_EDGES}×{k} inputs)").to_lowercase();
        ratios.push(side_by_side(a, backend, &format!("{label} forward"), shape, |choice| {
            let (out, _, _) = node.sum(choice, false);
            std::hint::black_box(out);
            device.sync().expect("device sync");
        }));
        ratios.push(side_by_side(a, backend, &format!("{label} fwd+bwd"), shape, |choice| {
            let (out, leaves, alpha) = node.sum(choice, true);
            let grads = out.sum().backward();
            std::hint::black_box((alpha.grad(&grads), leaves[0].grad(&grads)));
            device.sync().expect("device sync");
        }));
    }
    let (data, train, val) = step_data(a);
    for space in &a.spaces {
        let space: SpaceId = space.parse()?;
        for order in a.orders.iter().map(|&o| Order::from(o)) {
            let config = step_config(a, space, order);
            let mut searches = [Kernels::Reference, Kernels::Auto].map(|choice| {
                let mut s = Search::new(config.clone(), data.clone(), &device).expect("valid bench config");
                s.set_kernels(choice);
                s
            });
            let case = format!("step {space} {order:?}-order").to_lowercase();
            ratios.push(side_by_side(a, backend, &case, shape, |choice| {
                let s = &mut searches[usize::from(choice == Kernels::Auto)];
                let lr = s.config().lr;
                rdarts_core::block_on(s.step(&train, &val, lr, 0.0)).expect("step");
                rdarts_core::block_on(s.sync());
            }));
        }
    }
    if !a.json {
        println!("\nreference / kernel (above 1: the kernels are faster)");
        for r in &ratios {
            println!("  {:<40} {:>6.2}×", r.case, r.speedup);
        }
    }
    Ok(())
}
