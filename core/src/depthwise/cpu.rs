//! The depthwise convolution on host slices: the forward pass (also the input's gradient at
//! stride 1, see `extension`), the input's gradient at other strides, and the weight's gradient.
//! Everything is per plane (one sample's one channel), planes run in parallel (rayon; one thread
//! in the browser), and every sum runs in a fixed order, so results do not depend on the thread
//! count.
//!
//! The forward pass copies each input plane once into a zero-padded scratch plane, split by
//! column into `stride` phases so that every tap reads a contiguous run at any stride, then
//! computes each output row in blocks of up to four vectors (32 columns with AVX2) held in
//! registers across all k² taps (no per-tap load and store of the output, no scalar tails). The
//! weight's gradient reads the same scratch plane: per tap, the dot products of the output
//! gradient's rows with the runs that tap read. The input's gradient at strides other than 1
//! scatters row-wise: for a kernel tap (i, j) the output row and the input row it reaches, with
//! the valid range of each run computed once per row and tap.

use super::DwGeom;
use crate::kernels::host::{Dims, Simd, WithSimd, dot, planes, planes_with, simd};

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

/// The scratch plane of [`forward`]: the input plane with `pad` zeros on every side, cut to the
/// rows and columns the output reads, its columns split into `stride` phases (`phase[f][r][q]`
/// holds padded column `q · stride + f` of padded row `r`), each row long enough for whole blocks.
#[derive(Clone, Copy)]
struct Padded {
    stride: usize,
    pad: usize,
    /// Rows kept: the last one the output reads is `(Ho − 1) · stride + dilation · (k − 1)`.
    rows: usize,
    /// Columns per phase row: the output row rounded up to whole blocks plus the taps' reach.
    width: usize,
}

impl Padded {
    fn new(g: &DwGeom, ho: usize, wo_blocks: usize) -> Self {
        let reach = g.dilation * (g.kernel - 1);
        Padded { stride: g.stride, pad: g.pad, rows: (ho - 1) * g.stride + reach + 1, width: wo_blocks + reach / g.stride }
    }

    fn len(&self) -> usize {
        self.stride * self.rows * self.width
    }

    /// Where the tap at padded row `r`, column offset `t` (`j · dilation`) reads its run.
    #[inline(always)]
    fn at(&self, r: usize, t: usize) -> usize {
        ((t % self.stride) * self.rows + r) * self.width + t / self.stride
    }

    /// Where tap (i, j)'s run for output row 0 starts, in tap order (row `oh` adds
    /// `oh · stride · width`: the place is linear in the padded row).
    fn offsets(&self, g: &DwGeom) -> Vec<usize> {
        let k = g.kernel;
        (0..k * k).map(|t| self.at(t / k * g.dilation, t % k * g.dilation)).collect()
    }

    /// Writes input plane `xp` (`h` × `w`) into `scratch`. Only the interior is written, the same
    /// places for every plane, so the zeros around it stay from the first fill.
    fn fill(&self, scratch: &mut [f32], xp: &[f32], h: usize, w: usize) {
        for (y, xr) in xp.chunks_exact(w).take(h).enumerate() {
            let r = y + self.pad;
            if r >= self.rows {
                break;
            }
            if self.stride == 1 {
                let n = w.min(self.width.saturating_sub(self.pad));
                let at = r * self.width + self.pad;
                scratch[at..at + n].copy_from_slice(&xr[..n]);
            } else {
                // Phase f holds the padded columns u ≡ f (mod stride), input column u − pad at
                // place u / stride; its first inside the input is u₀ = the least u ≥ pad.
                for f in 0..self.stride {
                    let u0 = self.pad + (f + self.stride - self.pad % self.stride) % self.stride;
                    let (row, q0) = (self.at(r, f), u0 / self.stride);
                    if q0 < self.width && u0 - self.pad < w {
                        let dst = &mut scratch[row + q0..row + self.width];
                        dst.iter_mut().zip(xr[u0 - self.pad..].iter().step_by(self.stride)).for_each(|(d, &v)| *d = v);
                    }
                }
            }
        }
    }
}

/// Where the taps of a convolution of `g` on planes of `xd` read: the scratch layout, each tap's
/// run for output row 0 ([`Padded::offsets`]), and how far the runs move per output row.
struct Reads {
    lay: Padded,
    offsets: Vec<usize>,
    row_step: usize,
    ho: usize,
    wo: usize,
}

impl Reads {
    fn new(g: &DwGeom, xd: Dims) -> Self {
        let (ho, wo) = (g.out_len(xd.h), g.out_len(xd.w));
        let lay = Padded::new(g, ho, wo.div_ceil(ROW_ROUND) * ROW_ROUND);
        Reads { offsets: lay.offsets(g), row_step: g.stride * lay.width, lay, ho, wo }
    }

    /// A new vector of `len` values per plane of `x` (of `xd`), each plane's from
    /// `f(plane index, scratch plane, its zeroed values)`, the scratch plane holding that plane of
    /// `x` padded.
    fn planes<F>(&self, x: &[f32], xd: Dims, len: usize, f: F) -> Vec<f32>
    where
        F: Fn(usize, &[f32], &mut [f32]) + Send + Sync,
    {
        planes_with(xd.n * xd.c * len, len, || vec![0.0f32; self.lay.len()], |p, scratch, o| {
            self.lay.fill(scratch, &x[p * xd.plane()..(p + 1) * xd.plane()], xd.h, xd.w);
            f(p, scratch, o);
        })
    }
}

/// The output plane `yp` (`Ho` × `Wo`) of one channel's `taps`, compiled for the CPU's vector
/// instructions ([`simd`]).
struct Plane<'a> {
    yp: &'a mut [f32],
    scratch: &'a [f32],
    taps: &'a [f32],
    reads: &'a Reads,
}

/// The most vectors a block of output columns holds (four AVX2 registers: 32 columns).
const BLOCK_VECTORS: usize = 4;
/// Scratch rows are whole multiples of this many columns, enough for any block (every vector
/// width divides 32, and a row shorter than 32 is one block).
const ROW_ROUND: usize = 32;

impl WithSimd for Plane<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match self.reads.wo.div_ceil(S::F32_LANES).min(BLOCK_VECTORS) {
            1 => self.rows::<S, 1>(simd),
            2 => self.rows::<S, 2>(simd),
            3 => self.rows::<S, 3>(simd),
            _ => self.rows::<S, BLOCK_VECTORS>(simd),
        }
    }
}

impl Plane<'_> {
    /// Every output row in blocks of `V` vectors: each tap's products added in tap order to the
    /// block held in registers, then the part inside the row stored.
    #[inline(always)]
    fn rows<S: Simd, const V: usize>(self, simd: S) {
        let Plane { yp, scratch, taps, reads } = self;
        let Reads { offsets, row_step, wo, .. } = reads;
        let (row_step, wo) = (*row_step, *wo);
        let width = V * S::F32_LANES;
        for (oh, yr) in yp.chunks_exact_mut(wo).enumerate() {
            for c0 in (0..wo).step_by(width) {
                let at = oh * row_step + c0;
                let mut acc = [simd.splat_f32s(0.0); V];
                for (&off, &t) in offsets.iter().zip(taps) {
                    let (run, _) = S::as_simd_f32s(&scratch[at + off..at + off + width]);
                    let t = simd.splat_f32s(t);
                    for (a, &x) in acc.iter_mut().zip(run) {
                        *a = simd.add_f32s(*a, simd.mul_f32s(t, x));
                    }
                }
                let block: &[f32] = pulp::bytemuck::cast_slice(&acc);
                if c0 + width <= wo {
                    // A constant length: stored in place, not through a call to memmove.
                    yr[c0..c0 + width].copy_from_slice(block);
                } else {
                    yr[c0..].copy_from_slice(&block[..wo - c0]);
                }
            }
        }
    }
}

/// The convolution: `x` is `xd`, `w` is `[C, k, k]`, the result `[N, C, Ho, Wo]`, each element
/// the sum over taps (i, j) in that order of `w[c, i, j] · x` (padding zeros included).
pub fn forward(x: &[f32], w: &[f32], xd: Dims, g: &DwGeom) -> Vec<f32> {
    let reads = Reads::new(g, xd);
    let kk = g.kernel * g.kernel;
    reads.planes(x, xd, reads.ho * reads.wo, |p, scratch, yp| {
        let taps = &w[(p % xd.c) * kk..(p % xd.c + 1) * kk];
        simd(Plane { yp, scratch, taps, reads: &reads });
    })
}

/// The gradient of the input: every output gradient spread back along the taps it came from.
/// `dy` is `[N, C, Ho, Wo]`, the result is `xd`.
pub fn grad_input(dy: &[f32], w: &[f32], xd: Dims, g: &DwGeom) -> Vec<f32> {
    let (ho, wo) = (g.out_len(xd.h), g.out_len(xd.w));
    let k = g.kernel;
    planes(xd.len(), xd.plane(), |p, dxp| {
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
    })
}

/// One plane's k² sums of output gradient times the input each tap multiplied (the padded
/// scratch plane of [`forward`]: zeros included), row by row in order, compiled for the CPU's
/// vector instructions ([`simd`]).
struct TapSums<'a> {
    acc: &'a mut [f32],
    scratch: &'a [f32],
    dyp: &'a [f32],
    reads: &'a Reads,
}

impl WithSimd for TapSums<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let TapSums { acc, scratch, dyp, reads } = self;
        let Reads { offsets, row_step, wo, .. } = reads;
        for (a, &off) in acc.iter_mut().zip(offsets) {
            for (oh, dyr) in dyp.chunks_exact(*wo).enumerate() {
                let at = oh * row_step + off;
                *a += dot(dyr, &scratch[at..at + wo], 1);
            }
        }
    }
}

/// The gradient of the weight, `[C, k, k]`: per plane the k² sums of output gradient times the
/// input it multiplied ([`TapSums`]), then the planes of each channel added in sample order.
pub fn grad_weight(x: &[f32], dy: &[f32], xd: Dims, g: &DwGeom) -> Vec<f32> {
    let reads = Reads::new(g, xd);
    let kk = g.kernel * g.kernel;
    let out = reads.ho * reads.wo;
    let partial = reads.planes(x, xd, kk, |p, scratch, acc| {
        simd(TapSums { acc, scratch, dyp: &dy[p * out..(p + 1) * out], reads: &reads });
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
