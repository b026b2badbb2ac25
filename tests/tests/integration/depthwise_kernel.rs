//! The depthwise convolution's kernels against the plain-tensor reference (Burn's grouped
//! `conv2d` and its autodiff) on the same device: the WGSL kernels on wgpu (lavapipe in CI) and our
//! loops on the CPU backend. Output, gradient of the input and gradient of the weight, on random
//! inputs of awkward shapes: odd sides, strides 2 and 3, dilation 2, a kernel wider than the
//! image, a 1×1 image, padding beyond the kernel's reach, a non-contiguous input, and the row
//! widths the CPU loops block by.
//!
//! Tolerances, and why: both sides compute the same sums of float32 products in different orders.
//! An output or input-gradient element sums ≤ 25 products (k²), so rounding differs by ≲ 25 ulp of
//! the sum of magnitudes: 1e-5 · max|reference| + 1e-6. A weight-gradient element sums N·Ho·Wo
//! products (up to a few thousand here) that cancel: 1e-4 · max|reference| + 1e-6. A wrong index
//! or a missing tap is off by orders of magnitude.

use burn::tensor::{Device, Tensor, TensorData};
use rdarts_core::depthwise::{DwGeom, depthwise_conv2d, depthwise_conv2d_reference, uses_kernel};
use rdarts_core::kernels::Kernels;
use rdarts_core::rng::Rng;
use rdarts_tests::{assert_close, cpu, to_vec, wgpu};

struct Out {
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
}

/// `y = conv(x, w)` and the gradients of `Σ y · r` for a random `r`; `permuted` feeds `x` as a
/// transposed view (a non-contiguous layout).
fn run(device: &Device, shape: [usize; 4], g: DwGeom, seed: u64, kernel: bool, permuted: bool) -> Out {
    let dev = device.clone().autodiff();
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

/// The kernels on `device` against the reference on the same device, every case.
fn kernels_match_on(device: &Device) {
    assert!(uses_kernel(Kernels::Auto, device) && uses_kernel(Kernels::Auto, &device.clone().autodiff()));
    assert!(!uses_kernel(Kernels::Reference, device));
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
        ([2, 2, 2, 1], 3, 3, 1, 1, false),  // stride 3 on one-column rows: phases with nothing to copy
        ([2, 2, 5, 4], 3, 1, 3, 1, false),  // more padding than the kernel reaches: output wider than input
    ];
    for (i, (shape, k, stride, pad, dilation, permuted)) in cases.into_iter().enumerate() {
        let g = DwGeom { kernel: k, stride, pad, dilation };
        let (r, o) = (run(device, shape, g, 10 + i as u64, false, permuted), run(device, shape, g, 10 + i as u64, true, permuted));
        let what = format!("{shape:?} {g:?} permuted={permuted}");
        assert_eq!(r.y.len(), o.y.len(), "{what}: output sizes");
        assert_close(&format!("{what} y"), &r.y, &o.y, 1e-5, 1e-6);
        assert_close(&format!("{what} ∂x"), &r.dx, &o.dx, 1e-5, 1e-6);
        assert_close(&format!("{what} ∂w"), &r.dw, &o.dw, 1e-4, 1e-6);
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
    let g = DwGeom { kernel: 3, stride: 1, pad: 1, dilation: 1 };
    for dev in [Some(cpu()), wgpu()].into_iter().flatten() {
        let x = Tensor::<4>::from_data(TensorData::new(Rng::new(1).normal_vec(2 * 3 * 5 * 5), [2, 3, 5, 5]), &dev);
        let w = Tensor::<4>::from_data(TensorData::new(Rng::new(2).normal_vec(27), [3, 1, 3, 3]), &dev);
        let forced = to_vec(&depthwise_conv2d(x.clone(), w.clone(), g, Kernels::Reference));
        assert_eq!(forced, to_vec(&depthwise_conv2d_reference(x, w, g)));
    }
}
