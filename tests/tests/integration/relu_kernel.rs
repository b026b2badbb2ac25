//! ReLU's extension (`rdarts_core::relu`: WGSL kernels on wgpu, loops split over the worker threads
//! on the CPU) against Burn's `relu` and its autodiff (the reference) on the same device: output
//! and input gradient of `Σ relu(x) · r`, on inputs with exact zeros, negative zeros, a NaN,
//! lengths around a workgroup's size and over several of the CPU loop's pieces, and (on the CPU)
//! a non-contiguous input, tracked or not (computed in place or into a new tensor). Both sides take the same decision per element (zero where x ≤ 0, x or the
//! incoming gradient elsewhere, a NaN passing through), so they must agree bit for bit.

use burn::tensor::{Device, Tensor, TensorData};
use rdarts_core::kernels::Kernels;
use rdarts_core::relu::relu;
use rdarts_core::rng::Rng;
use rdarts_tests::{cpu, to_vec, wgpu};

/// `(y, dx)` of `Σ relu(x) · r`, by the extension (`kernel`) or the reference.
fn run(device: &Device, n: usize, kernel: bool) -> (Vec<f32>, Vec<f32>) {
    let dev = device.clone().autodiff();
    let mut rng = Rng::new(n as u64);
    let mut v = rng.normal_vec(n);
    for (i, x) in v.iter_mut().enumerate() {
        match i % 7 {
            0 => *x = 0.0,
            1 => *x = -0.0,
            _ => {}
        }
    }
    if n > 3 {
        v[3] = f32::NAN;
    }
    let x = Tensor::<4>::from_data(TensorData::new(v, [1, 1, 1, n]), &dev).require_grad();
    let y = if kernel { relu(x.clone(), Kernels::Auto) } else { relu(x.clone(), Kernels::Reference) };
    let r = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(n), [1, 1, 1, n]), &dev);
    let grads = (y.clone() * r).sum().backward();
    (to_vec(&y.inner()), to_vec(&x.grad(&grads).expect("x gradient")))
}

fn same_bits(what: &str, a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()), "{what}[{i}]: {y} against the reference's {x}");
    }
}

fn matches_on(device: &Device) {
    for n in [1, 5, 255, 256, 257, 5000, 70_001] {
        let ((ry, rdx), (ky, kdx)) = (run(device, n, false), run(device, n, true));
        same_bits(&format!("relu, {n} values"), &ry, &ky);
        same_bits(&format!("relu's gradient, {n} values"), &rdx, &kdx);
        if n >= 5 {
            assert!(ky.iter().any(|&v| v > 0.0) && ky.contains(&0.0), "{n}: a trivial case (no positive or no zeroed value)");
        }
        if n > 3 {
            assert!(ky[3].is_nan(), "{n}: a NaN input must stay NaN");
        }
    }
}

#[test]
fn wgsl_relu_matches_burns_bit_for_bit() {
    let Some(gpu) = wgpu() else { return };
    matches_on(&gpu);
}

#[test]
fn cpu_relu_extension_matches_burns_bit_for_bit() {
    matches_on(&cpu());
}

#[test]
fn cpu_relu_of_a_strided_or_untracked_input_matches_burns_bit_for_bit() {
    let mut v = Rng::new(9).normal_vec(3 * 5 * 7 * 11);
    v[10] = -0.0;
    v[20] = f32::NAN;
    for tracked in [false, true] {
        let dev = if tracked { cpu().autodiff() } else { cpu() };
        let x = Tensor::<4>::from_data(TensorData::new(v.clone(), [3, 5, 7, 11]), &dev).swap_dims(1, 3);
        let (r, k) = (relu(x.clone(), Kernels::Reference), relu(x, Kernels::Auto));
        assert_eq!(r.dims(), k.dims(), "tracked={tracked}: shapes");
        same_bits(&format!("relu of a transposed input, tracked={tracked}"), &to_vec(&r), &to_vec(&k));
    }
}
