//! The pooling kernels (`rdarts_core::pool`: WGSL on wgpu, our loops on the CPU backend) against
//! Burn's `avg_pool2d` and `max_pool2d` and their autodiff (the reference) on the same device:
//! output and input gradient
//! of `Σ pool(x) · r`, on random inputs of awkward shapes: odd sides, strides 1 to 3, DARTS' 3×3
//! window, a 5×5 one with and without padding, a 1×1 image, a non-contiguous input. The max pool's
//! inputs are rounded to halves, so windows hold tied maxima and the tie rule is tested too. And
//! the kink tape's replay: the max pool through recorded winners (`gather_winners`) at a moved
//! input against Burn's `gather` with Burn's indices, value and gradient.
//!
//! Tolerances, and why: both sides take the same decisions (the same winner per window; the same
//! taps and divisors) and add in the same order (taps row by row; covering windows row by row).
//! On the CPU both are plain float32 loops, so they agree exactly (tolerance 0). On a GPU the
//! compiler may contract or reorder differently: 1e-6 · max|reference| + 1e-7, about eight ulp
//! of the largest value. A wrong tap, divisor or winner is off by a whole input value.

use burn::tensor::module::max_pool2d_with_indices;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor, TensorData};
use rdarts_core::kernels::Kernels;
use rdarts_core::pool::{Window, avg_pool, gather_winners, max_pool, max_pool_with_winners, uses_kernel};
use rdarts_core::rng::Rng;
use rdarts_tests::{assert_close, cpu, to_vec, wgpu};

/// A random input of `shape` on `dev`, tracked; `halves` rounds its values to multiples of ½
/// (ties); `permuted` stores it as `[N, C, W, H]` and hands out the swapped view (a strided
/// layout with the same values).
fn input(dev: &Device, shape: [usize; 4], seed: u64, halves: bool, permuted: bool) -> (Tensor<4>, Tensor<4>) {
    let [n, c, h, w] = shape;
    let mut v = Rng::new(seed).normal_vec(n * c * h * w);
    if halves {
        v.iter_mut().for_each(|x| *x = (*x * 2.0).round() / 2.0);
    }
    let stored = if permuted { [n, c, w, h] } else { shape };
    let x = Tensor::<4>::from_data(TensorData::new(v, stored), dev).require_grad();
    let view = if permuted { x.clone().swap_dims(2, 3) } else { x.clone() };
    (x, view)
}

/// `(y, ∂x)` of `Σ pool(x) · r` for a random `r`, by our kernels or the reference.
fn run(device: &Device, shape: [usize; 4], window: Window, seed: u64, max: bool, kernel: bool, permuted: bool) -> (Vec<f32>, Vec<f32>) {
    let dev = device.clone().autodiff();
    let (x, view) = input(&dev, shape, seed, max, permuted);
    let choice = if kernel { Kernels::Auto } else { Kernels::Reference };
    let y = if max { max_pool(view, window, choice) } else { avg_pool(view, window, choice) };
    let r = Tensor::<4>::from_data(TensorData::new(Rng::new(seed + 1).normal_vec(y.dims().iter().product()), y.dims()), &dev);
    let grads = (y.clone() * r).sum().backward();
    let dx = x.grad(&grads).expect("x gradient");
    let dx = if permuted { dx.swap_dims(2, 3) } else { dx };
    (to_vec(&y.inner()), to_vec(&dx))
}

/// (shape, window side, stride, padding, non-contiguous input)
const CASES: [([usize; 4], usize, usize, usize, bool); 10] = [
    ([2, 3, 7, 5], 3, 1, 1, false),   // DARTS' normal cell pool on odd sides
    ([3, 4, 9, 9], 3, 2, 1, false),   // DARTS' reduction cell pool, odd side
    ([2, 2, 8, 8], 3, 2, 1, false),   // reduction, even side
    ([2, 2, 1, 1], 3, 1, 1, false),   // 1×1 image: one tap per window
    ([1, 3, 2, 3], 3, 2, 1, false),   // every window clipped
    ([2, 3, 11, 7], 3, 3, 1, false),  // stride 3: taps no window covers
    ([2, 2, 9, 10], 5, 1, 2, false),  // a 5×5 window, padding 2
    ([2, 3, 8, 8], 5, 3, 0, false),   // the auxiliary head's 5×5 at stride 3, no padding
    ([3, 4, 5, 6], 3, 2, 1, true),    // strided (transposed) input
    ([16, 16, 8, 8], 3, 1, 1, false), // many planes: more than one workgroup per kernel
];

/// Our kernels on `device` against Burn's pooling there, every case, within `(rel, abs)`.
fn pooling_matches_on(device: &Device, rel: f32, abs: f32) {
    assert!(uses_kernel(Kernels::Auto, device) && uses_kernel(Kernels::Auto, &device.clone().autodiff()));
    assert!(!uses_kernel(Kernels::Reference, device));
    for (i, (shape, size, stride, pad, permuted)) in CASES.into_iter().enumerate() {
        let window = Window { size, stride, pad };
        for max in [false, true] {
            let seed = 40 + 2 * i as u64;
            let (ry, rdx) = run(device, shape, window, seed, max, false, permuted);
            let (ky, kdx) = run(device, shape, window, seed, max, true, permuted);
            let what = format!("{} {shape:?} {window:?} permuted={permuted}", if max { "max" } else { "avg" });
            assert_eq!(ry.len(), ky.len(), "{what}: output sizes");
            assert_close(&format!("{what} y"), &ry, &ky, rel, abs);
            assert_close(&format!("{what} ∂x"), &rdx, &kdx, rel, abs);
        }
    }
}

#[test]
fn wgsl_pooling_matches_burns_in_value_and_gradient() {
    let Some(gpu) = wgpu() else { return };
    pooling_matches_on(&gpu, 1e-6, 1e-7);
}

#[test]
fn cpu_pooling_matches_burns_exactly_in_value_and_gradient() {
    pooling_matches_on(&cpu(), 0.0, 0.0);
}

/// The replay on `device`: winners recorded at `x`, then `x + δ` routed through them, against
/// Burn's `gather` with Burn's own indices; and at `x` itself the replay is the max pool.
fn replay_matches_on(device: &Device) {
    let dev = device.clone().autodiff();
    for (i, (shape, size, stride, pad, _)) in CASES.into_iter().enumerate() {
        let window = Window { size, stride, pad };
        let what = format!("{shape:?} {window:?}");
        let [n, c, h, w] = shape;
        let seed = 80 + 3 * i as u64;
        let (x, _) = input(&dev, shape, seed, true, false);
        let (y, winners) = max_pool_with_winners(x.clone().detach(), window);
        let same = gather_winners(x.clone().detach(), winners.clone(), window);
        assert_eq!(to_vec(&same), to_vec(&y), "{what}: the replay at the recording point is the max pool");

        let o = MaxPoolOptions::new([size; 2]).with_stride([stride; 2]).with_padding([pad; 2]);
        let (_, idx) = max_pool2d_with_indices(x.clone().detach(), o);
        let [_, _, ho, wo] = y.dims();
        let delta = Tensor::<4>::from_data(TensorData::new(Rng::new(seed + 1).normal_vec(n * c * h * w), shape), &dev);
        let r = Tensor::<4>::from_data(TensorData::new(Rng::new(seed + 2).normal_vec(n * c * ho * wo), [n, c, ho, wo]), &dev);
        let ours = gather_winners(x.clone() + delta.clone(), winners, window);
        let g = (ours.clone() * r.clone()).sum().backward();
        let ours_dx = to_vec(&x.grad(&g).expect("x gradient"));
        let reference = (x.clone() + delta).reshape([n, c, h * w]).gather(2, idx.reshape([n, c, ho * wo])).reshape([n, c, ho, wo]);
        let g = (reference.clone() * r).sum().backward();
        let reference_dx = to_vec(&x.grad(&g).expect("x gradient"));

        assert_eq!(to_vec(&ours.inner()), to_vec(&reference.inner()), "{what}: replayed values");
        assert_close(&format!("{what} replay ∂x"), &reference_dx, &ours_dx, 1e-6, 1e-7);
    }
}

#[test]
fn wgsl_replay_through_winners_matches_burns_gather() {
    let Some(gpu) = wgpu() else { return };
    replay_matches_on(&gpu);
}

#[test]
fn cpu_replay_through_winners_matches_burns_gather() {
    replay_matches_on(&cpu());
}
