//! The depthwise convolution's gradients on host slices: of the input (at strides other than 1;
//! at stride 1 it is a forward convolution, see `extension`) and of the weight. Everything is per
//! plane (one sample's one channel), planes run in parallel (rayon; one thread in the browser),
//! and every sum runs in a fixed order, so results do not depend on the thread count.
//!
//! Inner loops are row-wise: for a kernel tap (i, j) the output row and the input row it reads are
//! two contiguous runs (stride 1) that the compiler vectorises; stride 2 walks the input with a
//! step. The valid range of each run is computed once per row and tap, so there is no bounds test
//! per element and no padded copy of the input.

use super::DwGeom;
use crate::kernels::host::{Dims, dot, for_each_plane};

/// The output positions `lo..hi` (of `out_len`) whose input position `o · stride + off` lies in
/// `0..in_len`.
fn valid(off: isize, stride: usize, in_len: usize, out_len: usize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if off < 0 { (-off + s - 1) / s } else { 0 };
    let last = in_len as isize - 1 - off;
    let hi = if last < 0 { 0 } else { (last / s + 1).min(out_len as isize) };
    (lo as usize, (hi.max(lo)) as usize)
}

/// The input row `oh · stride + i · dilation − pad` of output row `oh` and tap row `i`, if inside.
fn input_row(g: &DwGeom, oh: usize, i: usize, h: usize) -> Option<usize> {
    let r = (oh * g.stride + i * g.dilation) as isize - g.pad as isize;
    (0..h as isize).contains(&r).then_some(r as usize)
}

/// The column offset `j · dilation − pad` of tap column `j`.
fn col_off(g: &DwGeom, j: usize) -> isize {
    (j * g.dilation) as isize - g.pad as isize
}

/// The gradient of the input: every output gradient spread back along the taps it came from.
/// `dy` is `[N, C, Ho, Wo]`, the result is `xd`.
pub fn grad_input(dy: &[f32], w: &[f32], xd: Dims, g: &DwGeom) -> Vec<f32> {
    let (ho, wo) = (g.out_len(xd.h), g.out_len(xd.w));
    let k = g.kernel;
    let mut dx = vec![0.0f32; xd.len()];
    for_each_plane(&mut dx, xd.plane(), |p, dxp| {
        let dyp = &dy[p * ho * wo..(p + 1) * ho * wo];
        let taps = &w[(p % xd.c) * k * k..(p % xd.c + 1) * k * k];
        for oh in 0..ho {
            let dyr = &dyp[oh * wo..(oh + 1) * wo];
            for i in 0..k {
                let Some(ih) = input_row(g, oh, i, xd.h) else { continue };
                let dxr = &mut dxp[ih * xd.w..(ih + 1) * xd.w];
                for j in 0..k {
                    let t = taps[i * k + j];
                    let off = col_off(g, j);
                    let (lo, hi) = valid(off, g.stride, xd.w, wo);
                    if lo >= hi {
                        continue;
                    }
                    let start = ((lo * g.stride) as isize + off) as usize;
                    if g.stride == 1 {
                        for (d, v) in dxr[start..start + (hi - lo)].iter_mut().zip(&dyr[lo..hi]) {
                            *d += t * v;
                        }
                    } else {
                        for (d, v) in dxr[start..].iter_mut().step_by(g.stride).zip(&dyr[lo..hi]) {
                            *d += t * v;
                        }
                    }
                }
            }
        }
    });
    dx
}

/// The gradient of the weight, `[C, k, k]`: per plane the k² sums of output gradient times the
/// input it multiplied, then the planes of each channel added in sample order.
pub fn grad_weight(x: &[f32], dy: &[f32], xd: Dims, g: &DwGeom) -> Vec<f32> {
    let (ho, wo) = (g.out_len(xd.h), g.out_len(xd.w));
    let kk = g.kernel * g.kernel;
    let mut partial = vec![0.0f32; xd.n * xd.c * kk];
    for_each_plane(&mut partial, kk, |p, acc| {
        let xp = &x[p * xd.plane()..(p + 1) * xd.plane()];
        let dyp = &dy[p * ho * wo..(p + 1) * ho * wo];
        for oh in 0..ho {
            let dyr = &dyp[oh * wo..(oh + 1) * wo];
            for i in 0..g.kernel {
                let Some(ih) = input_row(g, oh, i, xd.h) else { continue };
                let xr = &xp[ih * xd.w..(ih + 1) * xd.w];
                for j in 0..g.kernel {
                    let off = col_off(g, j);
                    let (lo, hi) = valid(off, g.stride, xd.w, wo);
                    if lo >= hi {
                        continue;
                    }
                    let start = ((lo * g.stride) as isize + off) as usize;
                    acc[i * g.kernel + j] += dot(&dyr[lo..hi], &xr[start..], g.stride);
                }
            }
        }
    });
    let mut dw = vec![0.0f32; xd.c * kk];
    for (p, part) in partial.chunks_exact(kk).enumerate() {
        let c = p % xd.c;
        for (d, v) in dw[c * kk..(c + 1) * kk].iter_mut().zip(part) {
            *d += v;
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_ranges_are_exact() {
        // Brute force over offsets, strides and sizes.
        for in_len in 1..9 {
            for stride in 1..4 {
                for off in -6..6isize {
                    let out_len = in_len + 3;
                    let (lo, hi) = valid(off, stride, in_len, out_len);
                    let want: Vec<usize> = (0..out_len)
                        .filter(|&o| (0..in_len as isize).contains(&(o as isize * stride as isize + off)))
                        .collect();
                    let got: Vec<usize> = (lo..hi).collect();
                    assert_eq!(got, want, "off {off} stride {stride} in {in_len}");
                }
            }
        }
    }
}
