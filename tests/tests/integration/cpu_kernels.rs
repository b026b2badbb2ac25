//! Our CPU kernels against the plain-tensor reference, on the CPU backend: the depthwise
//! convolution (output, gradient of the input, gradient of the weight) against Burn's grouped
//! `conv2d` and its autodiff, on random inputs of awkward shapes (odd sides, stride 2, dilation 2,
//! a kernel wider than the image, a 1×1 image, a non-contiguous input); then a whole supernet pass
//! (depthwise and 1×1 convolutions and BatchNorm on our paths) against the same pass with the
//! reference forced: loss, every weight gradient and the α gradient. BatchNorm's kernels, on both
//! backends, are tested by themselves in `batch_norm_kernel`.
//!
//! Tolerances, and why: both sides compute the same sums of float32 products in different orders.
//! An output or input-gradient element sums ≤ 25 products (k²), so rounding differs by ≲ 25 ulp of
//! the sum of magnitudes: 1e-5 · max|reference| + 1e-6. A weight-gradient element sums N·Ho·Wo
//! products (up to a few hundred here) that cancel: 1e-4 · max|reference| + 1e-6. The supernet's
//! gradients pass through BatchNorm, which divides by batch standard deviations, so differences of
//! 1e-7 in the convolutions grow; measured: ≤ 1e-6 of each tensor's largest gradient entry, hence
//! the bound 1e-5 of it (α likewise), which a wrong index or a missing tap exceeds by orders of
//! magnitude.

use burn::tensor::{Tensor, TensorData};
use rdarts_core::architect::{PassCtx, all_grads};
use rdarts_core::block_on;
use rdarts_core::depthwise::{DwGeom, depthwise_conv2d, depthwise_conv2d_reference, uses_kernel};
use rdarts_core::kernels::Kernels;
use rdarts_core::rng::Rng;
use rdarts_core::space::SpaceId;
use rdarts_tests::{cpu, max_abs, max_abs_diff, random_batch, setup, tiny_config, to_vec};

struct Out {
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
}

/// `y = conv(x, w)` and the gradients of `Σ y · r` for a random `r`; `permuted` feeds `x` as a
/// transposed view (a non-contiguous layout).
fn run(shape: [usize; 4], g: DwGeom, seed: u64, kernel: bool, permuted: bool) -> Out {
    let dev = cpu().autodiff();
    let mut rng = Rng::new(seed);
    let [n, c, h, w] = shape;
    let x = if permuted {
        // Stored as [N, C, W, H] and swapped back: same values, strided layout.
        let v = rng.normal_vec(n * c * h * w);
        Tensor::<4>::from_data(TensorData::new(v, [n, c, w, h]), &dev).require_grad()
    } else {
        Tensor::<4>::from_data(TensorData::new(rng.normal_vec(n * c * h * w), shape), &dev).require_grad()
    };
    let wt = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(c * g.kernel * g.kernel), [c, 1, g.kernel, g.kernel]), &dev).require_grad();
    let xin = if permuted { x.clone().swap_dims(2, 3) } else { x.clone() };
    let y = if kernel { depthwise_conv2d(xin, wt.clone(), g, Kernels::Auto) } else { depthwise_conv2d_reference(xin, wt.clone(), g) };
    let r = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(y.dims().iter().product()), y.dims()), &dev);
    let grads = (y.clone() * r).sum().backward();
    let dx = x.grad(&grads).expect("x gradient");
    let dx = if permuted { dx.swap_dims(2, 3) } else { dx };
    Out { y: to_vec(&y.inner()), dx: to_vec(&dx), dw: to_vec(&wt.grad(&grads).expect("w gradient")) }
}

fn compare(what: &str, r: &[f32], k: &[f32], rel: f32, abs: f32) {
    let diff = max_abs_diff(r, k);
    let tol = rel * max_abs(r) + abs;
    eprintln!("{what}: max |kernel − reference| = {diff:.3e} (tolerance {tol:.3e}, max |reference| = {:.3e})", max_abs(r));
    assert!(diff <= tol, "{what}: kernel differs from the reference by {diff:e} > {tol:e}");
}

#[test]
fn depthwise_kernel_matches_the_reference() {
    assert!(uses_kernel(Kernels::Auto, &cpu()) && uses_kernel(Kernels::Auto, &cpu().autodiff()));
    assert!(!uses_kernel(Kernels::Reference, &cpu()));
    // (shape, kernel, stride, pad, dilation, non-contiguous input)
    let cases = [
        ([2, 3, 7, 5], 3, 1, 1, 1, false),  // sep conv 3×3 on odd sides
        ([3, 4, 9, 9], 5, 2, 2, 1, false),  // sep conv 5×5, reduction cell
        ([2, 5, 8, 8], 3, 2, 2, 2, false),  // dil conv 3×3, reduction cell
        ([1, 2, 6, 7], 5, 1, 4, 2, false),  // dil conv 5×5
        ([4, 3, 3, 3], 5, 1, 2, 1, false),  // kernel wider than the image
        ([2, 2, 1, 1], 3, 1, 1, 1, false),  // 1×1 image
        ([3, 4, 5, 6], 3, 2, 1, 1, true),   // strided (transposed) input
        ([64, 16, 8, 8], 3, 1, 1, 1, false), // many planes: the parallel loops
        ([2, 3, 32, 32], 3, 1, 1, 1, false), // the paper's side: one 32-column block per row
        ([2, 3, 17, 33], 5, 1, 4, 2, false), // rows of 33: a 32-column block and a part block
        ([2, 2, 21, 19], 5, 2, 2, 1, false), // stride 2, odd sides: 10-column rows, 16-column blocks
        ([1, 3, 6, 9], 3, 3, 1, 1, false),  // stride 3: three column phases
        ([2, 2, 5, 4], 3, 1, 3, 1, false),  // more padding than the kernel reaches: output wider than input
    ];
    for (i, (shape, k, stride, pad, dilation, permuted)) in cases.into_iter().enumerate() {
        let g = DwGeom { kernel: k, stride, pad, dilation };
        let (r, o) = (run(shape, g, 10 + i as u64, false, permuted), run(shape, g, 10 + i as u64, true, permuted));
        let what = format!("{shape:?} {g:?} permuted={permuted}");
        assert_eq!(r.y.len(), o.y.len(), "{what}: output sizes");
        compare(&format!("{what} y"), &r.y, &o.y, 1e-5, 1e-6);
        compare(&format!("{what} ∂x"), &r.dx, &o.dx, 1e-5, 1e-6);
        compare(&format!("{what} ∂w"), &r.dw, &o.dw, 1e-4, 1e-6);
    }
}

#[test]
fn forcing_the_reference_skips_the_kernel_bit_for_bit() {
    let g = DwGeom { kernel: 3, stride: 1, pad: 1, dilation: 1 };
    let dev = cpu();
    let x = Tensor::<4>::from_data(TensorData::new(Rng::new(1).normal_vec(2 * 3 * 5 * 5), [2, 3, 5, 5]), &dev);
    let w = Tensor::<4>::from_data(TensorData::new(Rng::new(2).normal_vec(27), [3, 1, 3, 3]), &dev);
    let forced = to_vec(&depthwise_conv2d(x.clone(), w.clone(), g, Kernels::Reference));
    assert_eq!(forced, to_vec(&depthwise_conv2d_reference(x, w, g)));
}

/// A supernet pass with our kernels against the same pass on the reference: S2 (separable 3×3
/// only) and S5 (all eight DARTS ops: separable and dilated 3×3 and 5×5, pools, skips).
#[test]
fn supernet_gradients_match_with_and_without_the_kernels() {
    for space in [SpaceId::S2, SpaceId::S5] {
        let cfg = tiny_config(space);
        let dev = cpu();
        let batch = random_batch(4, &cfg, 5);
        let mut results = Vec::new();
        for kernels in [Kernels::Reference, Kernels::Auto] {
            let (mut net, w, alpha) = setup(&cfg, 3, &dev);
            net.kernels = kernels;
            let mut rng = Rng::new(9);
            let (pass, gw, ga) = block_on(all_grads(&net, &w, &alpha, &batch, PassCtx::new(None, &mut rng, 0.0), &dev));
            let gw: Vec<Vec<f32>> = gw.iter().map(to_vec).collect();
            results.push((pass.loss, gw, to_vec(&ga.flat())));
        }
        let [(lr, wr, ar), (lk, wk, ak)] = <[_; 2]>::try_from(results).expect("two runs");
        eprintln!("{space}: loss {lr} (reference) vs {lk} (kernels)");
        assert!((lr - lk).abs() <= 1e-5 * lr.abs().max(1.0), "{space}: loss {lr} vs {lk}");
        // Each weight tensor against its own largest entry; the worst ratio is printed.
        let mut worst = 0.0f32;
        for (i, (r, k)) in wr.iter().zip(&wk).enumerate() {
            let (diff, scale) = (max_abs_diff(r, k), max_abs(r));
            worst = worst.max(diff / scale.max(1e-12));
            assert!(diff <= 1e-5 * scale + 1e-9, "{space} weight tensor {i}: {diff:e} apart (largest entry {scale:e})");
        }
        eprintln!("{space}: worst weight-gradient difference {worst:.2e} of the tensor's largest entry");
        compare(&format!("{space} α"), &ar, &ak, 1e-5, 1e-9);
    }
}
