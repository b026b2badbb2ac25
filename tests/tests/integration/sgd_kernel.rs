//! SGD's WGSL kernel (`Sgd::step_clipped` on wgpu: clipping factor, weight decay, momentum and the
//! step in one launch per tensor) against the same rule in tensor operations (the reference,
//! `Kernels::Reference`) on the same device: parameters, momentum buffers and the returned norm
//! over three steps, with clipping active and inactive, on tensors of awkward lengths (one element,
//! one under, at and over a workgroup, a long one).
//!
//! Tolerances, and why: both sides do the same five float32 operations per element in the same
//! order; a shader compiler may contract a product and a sum into one fused multiply-add, which
//! rounds once instead of twice, so results may differ by an ulp or two of the operands per step:
//! 1e-6 · max|reference| + 1e-7 after three steps. The norm is one reduction, computed the same
//! way on both sides: 1e-6 relative. A wrong coefficient or a stale buffer is off by orders of
//! magnitude.

use burn::tensor::{Device, Tensor, TensorData};
use rdarts_core::kernels::Kernels;
use rdarts_core::optim::Sgd;
use rdarts_core::rng::Rng;
use rdarts_tests::{assert_close, to_vec, wgpu};

const LENGTHS: [usize; 6] = [1, 255, 256, 257, 1000, 70_000];

fn tensors(rng: &mut Rng, scale: f32, device: &Device) -> Vec<Tensor<1>> {
    LENGTHS
        .iter()
        .map(|&n| {
            let v: Vec<f32> = rng.normal_vec(n).into_iter().map(|x| x * scale).collect();
            Tensor::from_data(TensorData::new(v, [n]), device)
        })
        .collect()
}

/// Parameters, buffers and norms after three clipped steps with `kernels`.
fn run(device: &Device, kernels: Kernels, max_norm: f64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<f32>) {
    let mut rng = Rng::new(4);
    let mut params = tensors(&mut rng, 1.0, device);
    let mut sgd = Sgd::new(&params, 0.9);
    sgd.kernels = kernels;
    let mut norms = Vec::new();
    for step in 0..3 {
        let grads = tensors(&mut rng, 0.1 * (step + 1) as f32, device);
        let norm = sgd.step_clipped(&mut params, grads, max_norm, 0.025, 3e-4);
        norms.extend(to_vec(&norm));
    }
    (params.iter().map(to_vec).collect(), sgd.buf.iter().map(to_vec).collect(), norms)
}

#[test]
fn wgsl_sgd_step_matches_the_tensor_operations() {
    let Some(gpu) = wgpu() else { return };
    // The gradients' norm is about 0.1 · √72 000 ≈ 27 in the first step: clipped at 5, not at 1e3.
    for max_norm in [5.0, 1e3] {
        let (rp, rb, rn) = run(&gpu, Kernels::Reference, max_norm);
        let (kp, kb, kn) = run(&gpu, Kernels::Auto, max_norm);
        for (i, n) in LENGTHS.iter().enumerate() {
            assert_close(&format!("max_norm {max_norm}, length {n}: parameters"), &rp[i], &kp[i], 1e-6, 1e-7);
            assert_close(&format!("max_norm {max_norm}, length {n}: momentum"), &rb[i], &kb[i], 1e-6, 1e-7);
        }
        for (r, k) in rn.iter().zip(&kn) {
            assert!((r - k).abs() <= 1e-6 * r.abs(), "max_norm {max_norm}: norm {k} against {r}");
        }
        // The parameters moved: a kernel that wrote nothing would fail above, but say so plainly.
        let mut rng = Rng::new(4);
        let start = to_vec(&tensors(&mut rng, 1.0, &gpu)[5]);
        assert!(rdarts_tests::max_abs_diff(&start, &kp[5]) > 1e-4, "max_norm {max_norm}: the parameters did not move");
    }
}

/// The squared global norm on wgpu by the chain of sum-of-squares launches (five tensors each)
/// against joining the tensors and summing their squares (the reference), for 1 to 13 tensors of
/// the awkward lengths above (full links, a part link, a single tensor). Tolerance 1e-5 relative:
/// both sum the same squares of float32 values in different orders (the kernel per invocation
/// over five tensors, then a tree), a difference of a few ulp of the total.
#[test]
fn wgsl_sum_of_squares_matches_the_tensor_operations() {
    use rdarts_core::params::sq_norm;
    let Some(gpu) = wgpu() else { return };
    let mut rng = Rng::new(9);
    let all: Vec<Tensor<1>> = (0..3).flat_map(|_| tensors(&mut rng, 1.0, &gpu)).collect();
    for count in [1, 4, 5, 6, 13] {
        let ts = &all[..count];
        let r = to_vec(&sq_norm(ts, Kernels::Reference))[0];
        let k = to_vec(&sq_norm(ts, Kernels::Auto))[0];
        let host: f64 = ts.iter().flat_map(to_vec).map(|x| f64::from(x) * f64::from(x)).sum();
        eprintln!("{count} tensors: Σ squares {k} (kernel), {r} (reference), {host:.3} (float64 on the host)");
        assert!((r - k).abs() <= 1e-5 * r.abs(), "{count} tensors: {k} against the reference's {r}");
        assert!((f64::from(k) - host).abs() <= 1e-5 * host, "{count} tensors: {k} against float64's {host}");
    }
}
