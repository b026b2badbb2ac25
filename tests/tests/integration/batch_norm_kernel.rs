//! Training-mode BatchNorm's kernels against Burn's `batch_norm_train` (the reference) on the same
//! device: the WGSL kernels on wgpu (lavapipe in CI) and our loops on the CPU backend. Output,
//! batch mean and variance, and the gradients of `Σ y · r` (random `r`) with respect to the input,
//! the scale and the shift, on random inputs with per-channel offsets, of awkward shapes: odd
//! sides, a 1×1 image (the variance of one value per sample), one sample, channel counts that are
//! no power of two, more values per channel than a workgroup has invocations, and a
//! non-contiguous input.
//!
//! Tolerances, and why: both sides compute the same per-channel sums over M = N·H·W values in
//! different orders (the reference in float32 after a layout copy; the WGSL kernel in float32, per
//! invocation then by a tree; the CPU loops in float64), so statistics and gradients differ by
//! float32 rounding of those sums, ≲ 1e-6 relative for these sizes: 1e-4 · max|reference| + 1e-6,
//! and 1e-5 for the output (one subtraction, one product and one sum per element after the
//! statistics). A wrong index, a missing term or a stale statistic is off by orders of magnitude.
//!
//! The running statistics' update (one kernel launch on wgpu) against the same rule in tensor
//! operations: the same float32 products and sums in the same order, so at most an ulp or two
//! apart where a shader compiler fuses a product and a sum: 1e-6 · max|reference| + 1e-7.

use burn::tensor::{Device, Tensor, TensorData};
use rdarts_core::batchnorm::{batch_norm_train, batch_norm_train_reference, update_running, uses_kernel};
use rdarts_core::kernels::Kernels;
use rdarts_core::rng::Rng;
use rdarts_tests::{assert_close, cpu, max_abs, max_abs_diff, to_vec, wgpu};

/// BatchNorm's outputs and the gradients of `Σ y · r` with respect to x, gamma and beta, on
/// `device`; `permuted` feeds `x` as a transposed view (a non-contiguous layout).
fn run(device: &Device, shape: [usize; 4], seed: u64, kernel: bool, permuted: bool) -> Vec<Vec<f32>> {
    let dev = device.clone().autodiff();
    let mut rng = Rng::new(seed);
    let [n, c, h, w] = shape;
    // Inputs with a per-channel offset, as activations have.
    let v: Vec<f32> = rng.normal_vec(n * c * h * w).iter().enumerate().map(|(i, x)| 1.5 * x + (i % 7) as f32 * 0.3).collect();
    let x = if permuted {
        Tensor::<4>::from_data(TensorData::new(v, [n, c, w, h]), &dev).require_grad()
    } else {
        Tensor::<4>::from_data(TensorData::new(v, shape), &dev).require_grad()
    };
    let xin = if permuted { x.clone().swap_dims(2, 3) } else { x.clone() };
    let gamma = Tensor::<1>::from_data(TensorData::new(rng.normal_vec(c), [c]), &dev).require_grad();
    let beta = Tensor::<1>::from_data(TensorData::new(rng.normal_vec(c), [c]), &dev).require_grad();
    let eps = 1e-5;
    let (y, mean, var) = if kernel {
        batch_norm_train(xin, gamma.clone(), beta.clone(), eps, Kernels::Auto)
    } else {
        batch_norm_train_reference(xin, gamma.clone(), beta.clone(), eps)
    };
    let r = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(n * c * h * w), shape), &dev);
    let grads = (y.clone() * r).sum().backward();
    let dx = x.grad(&grads).expect("x gradient");
    let dx = if permuted { dx.swap_dims(2, 3) } else { dx };
    vec![
        to_vec(&y.inner()),
        to_vec(&mean),
        to_vec(&var),
        to_vec(&dx),
        to_vec(&gamma.grad(&grads).expect("gamma gradient")),
        to_vec(&beta.grad(&grads).expect("beta gradient")),
    ]
}

/// The kernels on `device` against the reference on the same device, every shape.
fn kernels_match_on(device: &Device) {
    assert!(uses_kernel(Kernels::Auto, device), "the device must take the kernel path");
    let shapes = [([4, 3, 5, 7], false), ([64, 16, 8, 8], false), ([2, 5, 3, 4], true), ([1, 2, 1, 1], false), ([3, 6, 1, 1], false), ([1, 7, 17, 19], false)];
    for (i, (shape, permuted)) in shapes.into_iter().enumerate() {
        let seed = 20 + i as u64;
        let (r, k) = (run(device, shape, seed, false, permuted), run(device, shape, seed, true, permuted));
        for ((name, a), b) in ["y", "mean", "var", "∂x", "∂gamma", "∂beta"].iter().zip(&r).zip(&k) {
            let rel = if *name == "y" { 1e-5 } else { 1e-4 };
            let (diff, tol) = (max_abs_diff(a, b), rel * max_abs(a) + 1e-6);
            eprintln!("batch norm {shape:?} permuted={permuted} {name}: max |kernel − reference| = {diff:.3e} (tolerance {tol:.3e})");
            assert_eq!(a.len(), b.len(), "{shape:?} {name}: sizes");
            assert!(diff <= tol, "batch norm {shape:?} permuted={permuted} {name}: kernel differs from the reference by {diff:e} > {tol:e}");
        }
    }
}

#[test]
fn wgsl_kernels_match_the_reference_in_value_and_every_gradient() {
    let Some(gpu) = wgpu() else { return };
    kernels_match_on(&gpu);
}

#[test]
fn cpu_kernels_match_the_reference_in_value_and_every_gradient() {
    kernels_match_on(&cpu());
}

/// Forcing the reference (`Kernels::Reference`) runs Burn's version on either device, bit for bit.
#[test]
fn forcing_the_reference_skips_the_kernels() {
    for device in [Some(cpu()), wgpu()].into_iter().flatten() {
        assert!(!uses_kernel(Kernels::Reference, &device));
        let x = Tensor::<4>::from_data(TensorData::new(Rng::new(1).normal_vec(2 * 3 * 4 * 5), [2, 3, 4, 5]), &device);
        let gamma = Tensor::<1>::from_data(TensorData::new(vec![1.0, 2.0, 0.5], [3]), &device);
        let beta = Tensor::<1>::from_data(TensorData::new(vec![0.0, -1.0, 0.25], [3]), &device);
        let (forced, _, _) = batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-5, Kernels::Reference);
        let (reference, _, _) = batch_norm_train_reference(x, gamma, beta, 1e-5);
        assert_eq!(to_vec(&forced), to_vec(&reference));
    }
}

/// The running statistics' update on wgpu (our kernel) against the tensor operations (forced
/// reference), for channel counts around a workgroup's size and counts of one and many values.
#[test]
fn running_statistics_update_matches_the_tensor_operations() {
    let Some(gpu) = wgpu() else { return };
    for (i, c) in [1usize, 5, 255, 256, 300].into_iter().enumerate() {
        let mut rng = Rng::new(40 + i as u64);
        let vec = |rng: &mut Rng, offset: f32| -> Tensor<1> {
            let v: Vec<f32> = rng.normal_vec(c).into_iter().map(|x| x.abs() + offset).collect();
            Tensor::from_data(TensorData::new(v, [c]), &gpu)
        };
        let (mean, var, batch_mean, batch_var) = (vec(&mut rng, -0.5), vec(&mut rng, 0.1), vec(&mut rng, 0.2), vec(&mut rng, 0.3));
        for count in [1, 2, 6400] {
            let run = |choice| update_running(mean.clone(), var.clone(), batch_mean.clone(), batch_var.clone(), 0.1, count, choice);
            let ((rm, rv), (km, kv)) = (run(Kernels::Reference), run(Kernels::Auto));
            assert_close(&format!("running mean, C = {c}, count {count}"), &to_vec(&rm), &to_vec(&km), 1e-6, 1e-7);
            assert_close(&format!("running variance, C = {c}, count {count}"), &to_vec(&rv), &to_vec(&kv), 1e-6, 1e-7);
            // The statistics moved towards the batch's (a kernel that wrote nothing would differ).
            assert!(max_abs_diff(&to_vec(&mean), &to_vec(&km)) > 1e-3, "C = {c}: the running mean did not move");
        }
    }
}
