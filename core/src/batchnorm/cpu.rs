//! Training-mode BatchNorm on host slices in NCHW layout, without the layout copies of Burn's
//! generic version (which swaps batch and channel axes to reduce per channel, once for the
//! statistics and twice more in the backward pass).
//!
//! Per-channel sums are taken per plane (one sample's one channel, a contiguous run) in float64,
//! in 16 interleaved partial sums, then added over the samples in order; the elementwise passes
//! run over planes in parallel. Every sum has a fixed order, so results do not depend on the
//! thread count.

use crate::kernels::host::{Dims, for_each_plane, planes};

/// Per-channel values computed from per-plane sums: `f(plane)` for every plane, added over the
/// samples of each channel in sample order.
fn per_channel<const K: usize, F: Fn(usize) -> [f64; K] + Send + Sync>(d: Dims, f: F) -> Vec<[f64; K]> {
    let mut partial = vec![0.0f64; d.n * d.c * K];
    for_each_plane(&mut partial, K, |p, o| o.copy_from_slice(&f(p)));
    let mut out = vec![[0.0f64; K]; d.c];
    for (p, part) in partial.chunks_exact(K).enumerate() {
        for (o, v) in out[p % d.c].iter_mut().zip(part) {
            *o += v;
        }
    }
    out
}

/// Partial sums the float64 reductions below keep side by side: a fixed order (lane `l` adds
/// elements `l, l + 16, …`, then the lanes are added in order, then the tail) whose independent
/// chains the compiler keeps in vector registers; one running sum waits ~4 cycles per element.
const LANES: usize = 16;

/// Σ f(x) of a run in float64, in [`LANES`] interleaved partial sums.
#[inline(always)]
fn sum64(a: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = a.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l] as f64);
        }
    }
    acc.iter().sum::<f64>() + tail.iter().map(|&v| f(v as f64)).sum::<f64>()
}

/// Σ v and Σ v·w of two equally long runs, in float64, in [`LANES`] interleaved partial sums.
fn sums(a: &[f32], b: &[f32]) -> [f64; 2] {
    let (mut s, mut p) = ([0.0f64; LANES], [0.0f64; LANES]);
    let (ca, cb) = (a.chunks_exact(LANES), b[..a.len()].chunks_exact(LANES));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            s[l] += x[l] as f64;
            p[l] += x[l] as f64 * y[l] as f64;
        }
    }
    let mut out = [s.iter().sum::<f64>(), p.iter().sum::<f64>()];
    for (x, y) in ta.iter().zip(tb) {
        out[0] += *x as f64;
        out[1] += *x as f64 * *y as f64;
    }
    out
}

/// The batch statistics and the output: `(y, mean, biased variance)` with
/// `y = (x − mean) / √(var + eps) · gamma + beta` per channel.
pub fn forward(x: &[f32], d: Dims, gamma: &[f32], beta: &[f32], eps: f64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let hw = d.plane();
    let count = (d.n * hw) as f64;
    let plane = |p: usize| &x[p * hw..(p + 1) * hw];
    let mean: Vec<f64> = per_channel(d, |p| [sum64(plane(p), |v| v)])
        .iter()
        .map(|s| s[0] / count)
        .collect();
    let var: Vec<f64> = per_channel(d, |p| {
        let m = mean[p % d.c];
        [sum64(plane(p), |v| (v - m) * (v - m))]
    })
    .iter()
    .map(|s| s[0] / count)
    .collect();
    // y = (x − mean) · scale + beta per channel, scale = gamma/σ.
    let coef: Vec<[f32; 3]> = (0..d.c).map(|c| [mean[c] as f32, (gamma[c] as f64 / (var[c] + eps).sqrt()) as f32, beta[c]]).collect();
    let y = planes(d.len(), hw, |p, yp| {
        let [m, a, b] = coef[p % d.c];
        for (o, v) in yp.iter_mut().zip(plane(p)) {
            *o = (v - m) * a + b;
        }
    });
    (y, mean.iter().map(|&m| m as f32).collect(), var.iter().map(|&v| v as f32).collect())
}

/// Gradients `(dx, dgamma, dbeta)` from the output gradient `dy`, with the statistics the
/// forward pass returned: with x̂ = (x − mean)/σ, σ = √(var + eps) and M = N·H·W,
/// dbeta = Σ dy, dgamma = Σ dy·x̂, dx = gamma/σ · (dy − dbeta/M − x̂ · dgamma/M).
pub fn backward(x: &[f32], dy: &[f32], d: Dims, gamma: &[f32], mean: &[f32], var: &[f32], eps: f64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let hw = d.plane();
    let count = (d.n * hw) as f64;
    let inv: Vec<f64> = var.iter().map(|&v| 1.0 / (v as f64 + eps).sqrt()).collect();
    // Σ dy and Σ dy·x per channel; Σ dy·x̂ = (Σ dy·x − mean · Σ dy) / σ.
    let s = per_channel(d, |p| sums(&dy[p * hw..(p + 1) * hw], &x[p * hw..(p + 1) * hw]));
    let dbeta: Vec<f64> = s.iter().map(|v| v[0]).collect();
    let dgamma: Vec<f64> = (0..d.c).map(|c| (s[c][1] - mean[c] as f64 * s[c][0]) * inv[c]).collect();
    // Per channel: m, 1/σ, gamma/σ, mean of dy, mean of dy·x̂.
    let coef: Vec<[f32; 5]> = (0..d.c)
        .map(|c| [mean[c], inv[c] as f32, (gamma[c] as f64 * inv[c]) as f32, (dbeta[c] / count) as f32, (dgamma[c] / count) as f32])
        .collect();
    let dx = planes(d.len(), hw, |p, out| {
        let [m, inv, a, mdy, mdxh] = coef[p % d.c];
        for ((o, g), v) in out.iter_mut().zip(&dy[p * hw..(p + 1) * hw]).zip(&x[p * hw..(p + 1) * hw]) {
            *o = a * (g - mdy - (v - m) * inv * mdxh);
        }
    });
    (dx, dgamma.iter().map(|&v| v as f32).collect(), dbeta.iter().map(|&v| v as f32).collect())
}
