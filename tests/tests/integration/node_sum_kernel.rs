//! The node-sum kernels against the plain-tensor reference, the WGSL ones on wgpu (lavapipe in CI)
//! and the CPU loops on the CPU backend: the
//! node output and the gradients of every candidate output and of α (through the softmax), on
//! random inputs of several shapes, drop-path on and off, with absent (zero) ops: the same ones
//! on every edge (a search's nodes, whose coefficients the kernel path makes from the node's
//! weight block at once) or different ones per edge, an edge without any (an RS-ws sample's,
//! made edge by edge).
//!
//! Both sides run on the same wgpu device, so the differences are the kernels' summation order
//! alone: the output sums ≤ 40 float32 products per element (reference: a chain of adds; kernel:
//! one loop), the input gradients are single products (identical up to one rounding), and the α
//! gradient reduces N·C·H·W products per coefficient (reference: Burn's `sum`; kernel: strided
//! partial sums and a workgroup tree). Float32 rounding of such sums is ≲ 1e-6 relative to the sum
//! of magnitudes; measured differences are printed. Tolerances, elementwise: output and input
//! gradients 1e-5 · max|reference| + 1e-7; α gradients 1e-4 · max|reference| + 1e-6 (the long
//! reductions also cancel, so the entry can be far smaller than the terms summed).

use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rdarts_core::kernels::Kernels;
use rdarts_core::mixed::{NodeInputs, node_sum, node_sum_reference, uses_kernel};
use rdarts_core::rng::Rng;
use rdarts_tests::{cpu, max_abs, max_abs_diff, to_vec, wgpu};

/// A node's inputs: E edges of K ops on `[N, C, H, W]` outputs.
struct Case {
    edges: usize,
    ops: usize,
    shape: [usize; 4],
    drop_path: bool,
    /// Ops left out on every edge (the `none` op of a space, or an inactive sampled op).
    absent: &'static [usize],
    /// Ops left out on edge e as well (`ragged[e]`; edges past its end lose none).
    ragged: &'static [&'static [usize]],
}

struct Results {
    out: Vec<f32>,
    grad_y: Vec<Vec<f32>>,
    grad_alpha: Vec<f32>,
}

fn run(case: &Case, seed: u64, device: &Device, choice: Option<Kernels>) -> Results {
    let dev = device.clone().autodiff();
    let mut rng = Rng::new(seed);
    let [n, c, h, w] = case.shape;
    let numel = n * c * h * w;
    let alpha = Tensor::<2>::from_data(TensorData::new(rng.normal_vec(case.edges * case.ops), [case.edges, case.ops]), &dev)
        .require_grad();
    let weights = softmax(alpha.clone(), 1);
    let mut ys = Vec::new();
    let mut outputs = Vec::new();
    let mut masks = Vec::new();
    for e in 0..case.edges {
        let ragged = case.ragged.get(e).copied().unwrap_or(&[]);
        let edge: Vec<Option<Tensor<4>>> = (0..case.ops)
            .map(|k| {
                (!case.absent.contains(&k) && !ragged.contains(&k)).then(|| {
                    let y = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(numel), case.shape), &dev).require_grad();
                    ys.push(y.clone());
                    y
                })
            })
            .collect();
        outputs.push(edge);
        // keep probability 0.7, scaled by 1/keep; sample 0 always dropped on edge 0, so a zero
        // row occurs in every drop-path case.
        let keep = 0.7f32;
        masks.extend((0..n).map(|i| if (e == 0 && i == 0) || rng.uniform() >= keep as f64 { 0.0 } else { 1.0 / keep }));
    }
    let masks = case.drop_path.then(|| Tensor::<2>::from_data(TensorData::new(masks, [case.edges, n]), &dev));
    let node = NodeInputs { outputs, weights, masks };
    let upstream = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(numel), case.shape), &dev);
    let out = match choice {
        Some(choice) => node_sum(node, choice),
        None => node_sum_reference(node),
    };
    let out_host = to_vec(&out.clone().inner());
    let grads = (out * upstream).sum().backward();
    Results {
        out: out_host,
        grad_y: ys.iter().map(|y| to_vec(&y.grad(&grads).expect("every input gets a gradient"))).collect(),
        grad_alpha: to_vec(&alpha.grad(&grads).expect("α gets a gradient")),
    }
}

fn cases() -> Vec<Case> {
    vec![
        // One element: the smallest grid.
        Case { edges: 2, ops: 2, shape: [1, 1, 1, 1], drop_path: false, absent: &[], ragged: &[] },
        // S = 5·7·7 = 245 and N·S = 735: neither a multiple of the workgroup size (256).
        Case { edges: 3, ops: 8, shape: [3, 5, 7, 7], drop_path: false, absent: &[0], ragged: &[] },
        Case { edges: 3, ops: 8, shape: [3, 5, 7, 7], drop_path: true, absent: &[0], ragged: &[] },
        // S = 1024: exactly four workgroups per sample.
        Case { edges: 2, ops: 5, shape: [2, 16, 8, 8], drop_path: true, absent: &[], ragged: &[] },
        // The largest node of a 4-node cell: 5 edges × 8 ops, batch 16 of 16×16 maps with C = 4.
        Case { edges: 5, ops: 8, shape: [16, 4, 16, 16], drop_path: true, absent: &[0, 3], ragged: &[] },
        Case { edges: 5, ops: 8, shape: [16, 4, 16, 16], drop_path: false, absent: &[0, 3], ragged: &[] },
        // Odd sizes everywhere.
        Case { edges: 4, ops: 3, shape: [5, 3, 17, 19], drop_path: true, absent: &[1], ragged: &[] },
        // Different ops per edge (RS-ws samples), one edge without any: coefficients edge by edge.
        Case { edges: 3, ops: 4, shape: [3, 2, 5, 6], drop_path: true, absent: &[], ragged: &[&[], &[1, 2], &[0, 1, 2, 3]] },
        Case { edges: 3, ops: 4, shape: [3, 2, 5, 6], drop_path: false, absent: &[], ragged: &[&[3], &[0, 1, 2, 3], &[0, 2]] },
    ]
}

fn compare(name: &str, reference: &[f32], kernel: &[f32], rel: f32, abs: f32) {
    let tol = rel * max_abs(reference) + abs;
    let diff = max_abs_diff(reference, kernel);
    eprintln!("  {name}: max |Δ| = {diff:.3e} (tol {tol:.3e}, max |ref| {:.3e})", max_abs(reference));
    assert!(diff <= tol, "{name}: kernel and reference differ by {diff:.3e} > {tol:.3e}");
}

/// The kernels on `device` against the reference on the same device, every case.
fn kernels_match_on(device: &burn::tensor::Device) {
    assert!(uses_kernel(Kernels::Auto, device), "the device must take the kernel path");
    for (i, case) in cases().iter().enumerate() {
        eprintln!("case {i}: {} edges × {} ops, {:?}, drop-path {}", case.edges, case.ops, case.shape, case.drop_path);
        let r = run(case, 100 + i as u64, device, None);
        let k = run(case, 100 + i as u64, device, Some(Kernels::Auto));
        compare("output", &r.out, &k.out, 1e-5, 1e-7);
        assert_eq!(r.grad_y.len(), k.grad_y.len());
        let (ry, ky): (Vec<f32>, Vec<f32>) = (r.grad_y.concat(), k.grad_y.concat());
        compare("∂/∂y", &ry, &ky, 1e-5, 1e-7);
        compare("∂/∂α", &r.grad_alpha, &k.grad_alpha, 1e-4, 1e-6);
    }
}

#[test]
fn kernels_match_the_reference_in_value_and_every_gradient() {
    let Some(gpu) = wgpu() else { return };
    kernels_match_on(&gpu);
}

/// The CPU arm (our loops on the Flex backend), same cases and tolerances: its sums run in the
/// same kind of order (one loop over the inputs; eight-lane partial sums for ∂/∂coef).
#[test]
fn cpu_kernels_match_the_reference_in_value_and_every_gradient() {
    kernels_match_on(&cpu());
}

#[test]
fn forcing_the_reference_skips_the_kernels() {
    for device in [Some(cpu()), wgpu()].into_iter().flatten() {
        assert!(!uses_kernel(Kernels::Reference, &device), "the setting forces the reference");
        let case = &cases()[2];
        let r = run(case, 7, &device, None);
        let forced = run(case, 7, &device, Some(Kernels::Reference));
        assert_eq!(r.out, forced.out);
        assert_eq!(r.grad_alpha, forced.grad_alpha);
    }
}

/// Past 65 535 workgroups in one dimension the grid folds into a second one: N·S = 2²⁴ + 3
/// outputs (65 537 workgroups of 256) for the element kernels, M·N = 70 000 pairs for the
/// reduction kernel. Checked against values computed on the host.
#[test]
fn large_grids_fold_into_two_dimensions() {
    let Some(gpu) = wgpu() else { return };
    let dev = gpu.autodiff();
    let direct = |m: usize, n: usize, s: usize| {
        let y: Vec<f32> = (0..m * n * s).map(|i| ((i % 7) as f32) - 3.0).collect();
        let coef: Vec<f32> = (0..m * n).map(|i| 0.5 + (i % 3) as f32).collect();
        let dout: Vec<f32> = (0..n * s).map(|i| ((i % 5) as f32) - 2.0).collect();
        let yt = Tensor::<3>::from_data(TensorData::new(y.clone(), [m, n, s]), &dev).require_grad();
        let ct = Tensor::<2>::from_data(TensorData::new(coef.clone(), [m, n]), &dev).require_grad();
        let out = rdarts_core::mixed::extension::node_sum(yt.clone(), ct.clone());
        let g = Tensor::<2>::from_data(TensorData::new(dout.clone(), [n, s]), &dev);
        let out_host = to_vec(&out.clone().inner());
        let grads = (out * g).sum().backward();
        let dy = to_vec(&yt.grad(&grads).unwrap());
        let dc = to_vec(&ct.grad(&grads).unwrap());
        for i in (0..n * s).step_by(9973).chain([n * s - 1]) {
            let nn = i / s;
            let want: f32 = (0..m).map(|mm| coef[mm * n + nn] * y[mm * n * s + i]).sum();
            assert_eq!(out_host[i], want, "output {i}");
            for mm in 0..m {
                assert_eq!(dy[mm * n * s + i], coef[mm * n + nn] * dout[i], "dy {mm},{i}");
            }
        }
        for p in (0..m * n).step_by(997).chain([m * n - 1]) {
            let nn = p % n;
            let want: f64 = (0..s).map(|ss| f64::from(y[p * s + ss]) * f64::from(dout[nn * s + ss])).sum();
            assert!((f64::from(dc[p]) - want).abs() <= 1e-6 * want.abs().max(1.0) * (s as f64).sqrt(), "dcoef {p}: {} vs {want}", dc[p]);
        }
    };
    direct(1, 1, (1 << 24) + 3);
    direct(2, 35_000, 3);
}
