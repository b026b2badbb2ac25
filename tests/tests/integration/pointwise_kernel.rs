//! The CPU 1×1 convolution (`pointwise::pointwise_conv`, one GEMM per sample) against the
//! plain-tensor reference (Burn's `conv2d` with a 1×1 kernel and its autodiff) on the CPU backend.
//! Output, gradient of the input and gradient of the weight, on random inputs of awkward shapes:
//! one sample, a batch that leaves the weight gradient's last group of samples part-full, one
//! input or output channel, a 1×1 image, odd sides, the paper's 32×32 side, and a non-contiguous
//! input; and with only the input or only the weight tracked (as the curvature's products run).
//!
//! Tolerances, and why: both sides compute the same sums of float32 products in different orders.
//! An output or input-gradient element sums C_in (or C_out) ≤ 64 products: tolerance
//! 1e-5 · max|reference| + 1e-6. A weight-gradient element sums N·H·W products (up to 9 216 here)
//! that cancel: tolerance 1e-4 · max|reference| + 1e-6. A wrong offset or a missing sample is off by orders of magnitude.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};
use rdarts_core::pointwise::pointwise_conv;
use rdarts_core::rng::Rng;
use rdarts_tests::{assert_close, cpu, to_vec};

struct Out {
    y: Vec<f32>,
    dx: Option<Vec<f32>>,
    dw: Option<Vec<f32>>,
}

/// `y = conv(x, w)` and the gradients of `Σ y · r` for a random `r`, of the tracked ones of x and
/// w; `permuted` feeds `x` as a transposed view (a non-contiguous layout).
fn run(shape: [usize; 4], c_out: usize, seed: u64, kernel: bool, permuted: bool, track: (bool, bool)) -> Out {
    let dev = cpu().autodiff();
    let mut rng = Rng::new(seed);
    let [n, c, h, w] = shape;
    let x = if permuted {
        Tensor::<4>::from_data(TensorData::new(rng.normal_vec(n * c * h * w), [n, c, w, h]), &dev)
    } else {
        Tensor::<4>::from_data(TensorData::new(rng.normal_vec(n * c * h * w), shape), &dev)
    };
    let wt = Tensor::<2>::from_data(TensorData::new(rng.normal_vec(c_out * c), [c_out, c]), &dev);
    let (x, wt) = (if track.0 { x.require_grad() } else { x }, if track.1 { wt.require_grad() } else { wt });
    let xin = if permuted { x.clone().swap_dims(2, 3) } else { x.clone() };
    let y = if kernel {
        pointwise_conv(xin, wt.clone())
    } else {
        conv2d(xin, wt.clone().reshape([c_out, c, 1, 1]), None, ConvOptions::new([1, 1], [0, 0], [1, 1], 1))
    };
    let r = Tensor::<4>::from_data(TensorData::new(rng.normal_vec(y.dims().iter().product()), y.dims()), &dev);
    let grads = (y.clone() * r).sum().backward();
    let dx = x.grad(&grads).map(|g| to_vec(&if permuted { g.swap_dims(2, 3) } else { g }));
    Out { y: to_vec(&y.inner()), dx, dw: wt.grad(&grads).map(|g| to_vec(&g)) }
}

#[test]
fn cpu_pointwise_convolution_matches_the_reference_in_value_and_every_gradient() {
    // (input shape, output channels, non-contiguous input)
    let cases = [
        ([1, 3, 5, 7], 4, false),    // one sample, odd sides
        ([9, 5, 3, 3], 7, false),    // nine samples: weight-gradient groups of 4, 4 and 1
        ([2, 1, 6, 6], 3, false),    // one input channel
        ([3, 6, 4, 5], 1, false),    // one output channel
        ([4, 7, 1, 1], 5, false),    // a 1×1 image
        ([2, 64, 8, 8], 16, false),  // a cell's preprocessing at C = 16
        ([9, 16, 32, 32], 16, false), // the paper's side, a sep conv's 1×1
        ([3, 4, 5, 6], 6, true),     // a strided (transposed) input
    ];
    for (i, (shape, c_out, permuted)) in cases.into_iter().enumerate() {
        let seed = 40 + i as u64;
        let (r, k) = (run(shape, c_out, seed, false, permuted, (true, true)), run(shape, c_out, seed, true, permuted, (true, true)));
        let what = format!("{shape:?} → {c_out} channels, permuted={permuted}");
        assert_eq!(r.y.len(), k.y.len(), "{what}: output sizes");
        assert_close(&format!("{what} y"), &r.y, &k.y, 1e-5, 1e-6);
        assert_close(&format!("{what} ∂x"), r.dx.as_deref().expect("∂x"), k.dx.as_deref().expect("∂x"), 1e-5, 1e-6);
        assert_close(&format!("{what} ∂w"), r.dw.as_deref().expect("∂w"), k.dw.as_deref().expect("∂w"), 1e-4, 1e-6);
    }
}

#[test]
fn cpu_pointwise_convolution_differentiates_what_is_tracked_only() {
    let shape = [5, 6, 4, 3];
    for track in [(true, false), (false, true)] {
        let (r, k) = (run(shape, 4, 7, false, false, track), run(shape, 4, 7, true, false, track));
        assert_close(&format!("{track:?} y"), &r.y, &k.y, 1e-5, 1e-6);
        assert_eq!(k.dx.is_some(), track.0, "{track:?}: ∂x exactly when x is tracked");
        assert_eq!(k.dw.is_some(), track.1, "{track:?}: ∂w exactly when w is tracked");
        if let (Some(r), Some(k)) = (&r.dx, &k.dx) {
            assert_close(&format!("{track:?} ∂x"), r, k, 1e-5, 1e-6);
        }
        if let (Some(r), Some(k)) = (&r.dw, &k.dw) {
            assert_close(&format!("{track:?} ∂w"), r, k, 1e-4, 1e-6);
        }
    }
}
