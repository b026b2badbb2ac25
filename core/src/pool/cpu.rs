//! Pooling on host slices, the CPU backend's arm of the extension in `super`. Every plane (one
//! sample's one channel) is done on its own, the planes over the worker threads (one thread in
//! the browser). Each function computes what Burn's CPU pooling computes, with the same additions
//! in the same order, so the two agree exactly: a window's mean is its taps inside the input summed
//! row by row, then divided by their count; its maximum is the first tap, replaced by every later
//! tap that exceeds it and by any NaN (the winner is where the maximum came from); an input's
//! gradient adds, starting from zero, the shares of the windows that reach it in the windows'
//! row-major order (the order in which Burn's backward scatters into it).
//!
//! Burn's loops recount each window's taps and test every tap's bounds on every call, in three
//! dimensions; its max pool returns 64-bit indices that the autodiff arm converts, and the kink
//! tape's replay runs Burn's `gather` and, backward, its `scatter_add` on the calling thread. At the
//! paper's search shape the average pool's backward alone was a tenth of an S5 step's CPU time.

use super::Window;
use crate::kernels::host::{Dims, Simd, WithSimd, planes, planes_with, simd};

/// The taps `lo..hi` of window `o` along a side of `len` inputs.
fn taps(o: usize, len: usize, win: Window) -> (usize, usize) {
    let start = (o * win.stride) as isize - win.pad as isize;
    (start.max(0) as usize, (start + win.size as isize).min(len as isize) as usize)
}

/// The taps of every window along a side of `len` inputs.
fn all_taps(len: usize, win: Window) -> Vec<(usize, usize)> {
    (0..win.out_len(len)).map(|o| taps(o, len, win)).collect()
}

/// `f(plane, taps' rows, taps' columns)` of every window of every plane of `x: [N, C, H, W]`, as
/// `[N, C, Ho, Wo]`.
fn each_window(x: &[f32], d: Dims, win: Window, f: impl Fn(&[f32], (usize, usize), (usize, usize)) -> f32 + Send + Sync) -> Vec<f32> {
    let (rows, cols) = (all_taps(d.h, win), all_taps(d.w, win));
    planes(d.n * d.c * rows.len() * cols.len(), rows.len() * cols.len(), |p, out| {
        let plane = &x[p * d.plane()..(p + 1) * d.plane()];
        for (out_row, &r) in out.chunks_exact_mut(cols.len()).zip(&rows) {
            for (o, &c) in out_row.iter_mut().zip(&cols) {
                *o = f(plane, r, c);
            }
        }
    })
}

/// One window's mean: its taps inside the input summed row by row, then divided by their count.
#[inline(always)]
fn mean(plane: &[f32], w: usize, (r0, r1): (usize, usize), (c0, c1): (usize, usize)) -> f32 {
    let mut sum = 0.0f32;
    for iy in r0..r1 {
        for v in &plane[iy * w + c0..iy * w + c1] {
            sum += v;
        }
    }
    sum / ((r1 - r0) * (c1 - c0)) as f32
}

/// Each window's mean: `x: [N, C, H, W]` → `[N, C, Ho, Wo]`. At stride 1 the windows of an output
/// row that lie wholly inside the plane's columns are summed together ([`InnerMeans`]), in the
/// same order, so to the same values.
pub fn avg_forward(x: &[f32], d: Dims, win: Window) -> Vec<f32> {
    if win.stride != 1 {
        return each_window(x, d, win, |plane, r, c| mean(plane, d.w, r, c));
    }
    stride_1_rows(x, d, win, || (), mean, |row, _, sums| simd(InnerMeans { row, sums }))
}

/// `[N, C, Ho, Wo]` at stride 1, each output row by `one(plane, W, taps' rows, taps' columns)` for
/// the windows that reach past the plane's columns, and by `inner_row(row, scratch, out)` for the
/// others (`ox` from `pad` to `W + pad − size`, whose columns `ox − pad .. ox − pad + size` all lie
/// inside), all at once; `init` makes each worker's scratch.
fn stride_1_rows<S>(
    x: &[f32],
    d: Dims,
    win: Window,
    init: impl Fn() -> S + Send + Sync,
    one: impl Fn(&[f32], usize, (usize, usize), (usize, usize)) -> f32 + Send + Sync,
    inner_row: impl Fn(InnerRow<'_>, &mut S, &mut [f32]) + Send + Sync,
) -> Vec<f32> {
    let (rows, cols) = (all_taps(d.h, win), all_taps(d.w, win));
    let wo = cols.len();
    let start = win.pad.min(wo);
    let inner = start..(d.w + win.pad + 1).saturating_sub(win.size).clamp(start, wo);
    planes_with(d.n * d.c * rows.len() * wo, rows.len() * wo, init, |p, scratch, out| {
        let plane = &x[p * d.plane()..(p + 1) * d.plane()];
        for (out_row, &r) in out.chunks_exact_mut(wo).zip(&rows) {
            for ox in (0..inner.start).chain(inner.end..wo) {
                out_row[ox] = one(plane, d.w, r, cols[ox]);
            }
            if !inner.is_empty() {
                let row = InnerRow { plane, w: d.w, rows: r, first: inner.start - win.pad, size: win.size };
                inner_row(row, scratch, &mut out_row[inner.clone()]);
            }
        }
    })
}

/// The windows `first + pad ..` of one output row at stride 1 that lie wholly inside the plane's
/// columns.
#[derive(Clone, Copy)]
struct InnerRow<'a> {
    plane: &'a [f32],
    w: usize,
    /// The taps' rows.
    rows: (usize, usize),
    /// The first window's first column.
    first: usize,
    size: usize,
}

impl<'a> InnerRow<'a> {
    /// Each tap, in a window's row-major order: the first window's tap's in-plane index, and the
    /// tap's values for the `n` windows.
    #[inline(always)]
    fn taps(self, n: usize) -> impl Iterator<Item = (usize, &'a [f32])> {
        let InnerRow { plane, w, rows: (r0, r1), first, size } = self;
        (r0..r1).flat_map(move |iy| (0..size).map(move |t| iy * w + first + t)).map(move |start| (start, &plane[start..start + n]))
    }
}

/// The means of an [`InnerRow`]'s windows, together: [`mean`]'s sums in its order, for all of them
/// at once (vector lanes).
struct InnerMeans<'a> {
    row: InnerRow<'a>,
    /// The means (written).
    sums: &'a mut [f32],
}

impl WithSimd for InnerMeans<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let InnerMeans { row, sums } = self;
        sums.fill(0.0);
        for (_, taps) in row.taps(sums.len()) {
            sums.iter_mut().zip(taps).for_each(|(s, v)| *s += v);
        }
        let count = ((row.rows.1 - row.rows.0) * row.size) as f32;
        sums.iter_mut().for_each(|s| *s /= count);
    }
}

/// The input's gradient of the windows' means, from the output gradient `dy: [N, C, Ho, Wo]`.
/// Each window's share is `dy / count`; at stride 1 an input row gathers its shares by whole
/// rows (the window `ox` reaches input `ix` when `ox − ix` is one of `size` offsets), elsewhere
/// each window scatters its share over its taps.
pub fn avg_backward(dy: &[f32], d: Dims, win: Window) -> Vec<f32> {
    let (rows, cols) = (all_taps(d.h, win), all_taps(d.w, win));
    let (ho, wo) = (rows.len(), cols.len());
    planes_with(d.len(), d.plane(), || vec![0.0f32; ho * wo], |p, share, out| {
        let g = &dy[p * ho * wo..(p + 1) * ho * wo];
        for (k, s) in share.iter_mut().enumerate() {
            let ((r0, r1), (c0, c1)) = (rows[k / wo], cols[k % wo]);
            *s = g[k] / ((r1 - r0) * (c1 - c0)) as f32;
        }
        if win.stride == 1 {
            for (iy, dx_row) in out.chunks_exact_mut(d.w).enumerate() {
                // The windows `oy` whose rows reach `iy`, in order.
                let (oy0, oy1) = (iy.saturating_sub(win.size - 1 - win.pad), (iy + win.pad + 1).min(ho));
                for oy in oy0..oy1 {
                    let s_row = &share[oy * wo..(oy + 1) * wo];
                    // Window `ix + off` reaches `ix`, for `off` from `pad − (size − 1)` to `pad`.
                    for t in 0..win.size {
                        let off = win.pad as isize + t as isize - (win.size - 1) as isize;
                        let (lo, hi) = ((-off).max(0), (wo as isize - off).min(d.w as isize));
                        if lo < hi {
                            let src = &s_row[(lo + off) as usize..(hi + off) as usize];
                            dx_row[lo as usize..hi as usize].iter_mut().zip(src).for_each(|(v, s)| *v += s);
                        }
                    }
                }
            }
        } else {
            for (k, s) in share.iter().enumerate() {
                let ((r0, r1), (c0, c1)) = (rows[k / wo], cols[k % wo]);
                for iy in r0..r1 {
                    out[iy * d.w + c0..iy * d.w + c1].iter_mut().for_each(|v| *v += s);
                }
            }
        }
    })
}

/// The winner of one window, the flat in-plane index `iy·W + ix` of its maximum: the first tap,
/// replaced by every later tap (row-major) that exceeds it and by any NaN.
#[inline(always)]
fn winner(plane: &[f32], w: usize, (r0, r1): (usize, usize), (c0, c1): (usize, usize)) -> usize {
    let mut best = (f32::NAN, usize::MAX);
    for iy in r0..r1 {
        for ix in c0..c1 {
            let v = plane[iy * w + ix];
            if best.1 == usize::MAX || v > best.0 || v.is_nan() {
                best = (v, iy * w + ix);
            }
        }
    }
    best.1
}

/// Each window's winner, the flat in-plane index `iy·W + ix` of its maximum (as a float):
/// `x: [N, C, H, W]` → `[N, C, Ho, Wo]`. At stride 1 the windows of an output row that lie
/// wholly inside the plane's columns are done together ([`InnerWinners`]), the others one by one;
/// the same rule, so the same winners.
pub fn winners(x: &[f32], d: Dims, win: Window) -> Vec<f32> {
    if win.stride != 1 {
        return each_window(x, d, win, |plane, r, c| winner(plane, d.w, r, c) as f32);
    }
    // Each worker's `0, 1, 2, …` as floats and maxima so far, as many as a row has windows.
    let wo = win.out_len(d.w);
    let lanes = || ((0..wo).map(|j| j as f32).collect::<Vec<_>>(), vec![0.0f32; wo]);
    let one = |plane: &[f32], w, r, c| winner(plane, w, r, c) as f32;
    stride_1_rows(x, d, win, lanes, one, |row, (ramp, best), at| {
        let n = at.len();
        simd(InnerWinners { row, ramp: &ramp[..n], best: &mut best[..n], at });
    })
}

/// The winners of an [`InnerRow`]'s windows, together: each tap, in the window's row-major
/// order, is compared for all of them at once (vector lanes), by [`winner`]'s rule.
struct InnerWinners<'a> {
    row: InnerRow<'a>,
    /// `0, 1, 2, …` as floats, one per window.
    ramp: &'a [f32],
    /// The windows' maxima so far.
    best: &'a mut [f32],
    /// The windows' winners so far (written).
    at: &'a mut [f32],
}

impl WithSimd for InnerWinners<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let InnerWinners { row, ramp, best, at } = self;
        for (k, (start, taps)) in row.taps(at.len()).enumerate() {
            let base = start as f32;
            if k == 0 {
                best.copy_from_slice(taps);
                at.iter_mut().zip(ramp).for_each(|(a, j)| *a = base + j);
                continue;
            }
            for (((b, a), &v), j) in best.iter_mut().zip(at.iter_mut()).zip(taps).zip(ramp) {
                let take = v > *b || v.is_nan();
                *b = if take { v } else { *b };
                *a = if take { base + j } else { *a };
            }
        }
    }
}

/// `x` at the `winners` of its planes: `x: [N, C, H, W]`, `winners: [N, C, Ho, Wo]` → `[N, C, Ho,
/// Wo]` (the max pool, given its winners).
///
/// # Panics
/// If a winner lies outside its plane.
pub fn gather(x: &[f32], winners: &[f32], d: Dims) -> Vec<f32> {
    let per_plane = winners.len() / (d.n * d.c).max(1);
    planes(winners.len(), per_plane, |p, out| {
        let plane = &x[p * d.plane()..(p + 1) * d.plane()];
        for (o, &k) in out.iter_mut().zip(&winners[p * per_plane..]) {
            *o = plane[k as usize];
        }
    })
}

/// The input's gradient of the max pool (or of its replay through `winners`): each window's `dy`
/// added to its winner, the windows in order.
pub fn max_backward(dy: &[f32], winners: &[f32], d: Dims) -> Vec<f32> {
    let per_plane = winners.len() / (d.n * d.c).max(1);
    planes(d.len(), d.plane(), |p, out| {
        let range = p * per_plane..(p + 1) * per_plane;
        for (&k, &g) in winners[range.clone()].iter().zip(&dy[range]) {
            out[k as usize] += g;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DARTS' 3×3 window at stride 1 and 2 on a 3×4 plane, by hand.
    #[test]
    fn windows_by_hand() {
        let d = Dims { n: 1, c: 1, h: 3, w: 4 };
        let x: Vec<f32> = (0..12).map(|v| v as f32).collect();
        // Stride 2: windows at rows {0,1} and {1,2}, columns {0,1} and {1,2,3}.
        let win = Window::darts(2);
        assert_eq!(avg_forward(&x, d, win), vec![(0. + 1. + 4. + 5.) / 4., (1. + 2. + 3. + 5. + 6. + 7.) / 6., (4. + 5. + 8. + 9.) / 4., (5. + 6. + 7. + 9. + 10. + 11.) / 6.]);
        assert_eq!(winners(&x, d, win), vec![5., 7., 9., 11.]);
        assert_eq!(gather(&x, &[5., 7., 9., 11.], d), vec![5., 7., 9., 11.]);
        let dx = avg_backward(&[4., 6., 8., 12.], d, win);
        assert_eq!(dx, vec![1., 2., 1., 1., 3., 6., 3., 3., 2., 4., 2., 2.]);
        assert_eq!(max_backward(&[1., 2., 3., 4.], &[5., 5., 9., 11.], d), vec![0., 0., 0., 0., 0., 3., 0., 0., 0., 3., 0., 4.]);
        // Ties go to the first tap, a NaN wins wherever it is (as in Burn's CPU pooling).
        // Two 3×3 windows without padding on the 3×4 plane: columns 0–2 and 1–3.
        let unpadded = Window { size: 3, stride: 1, pad: 0 };
        assert_eq!(winners(&[2.0; 12], d, unpadded), vec![0.0, 1.0]);
        let mut v = [0.0f32; 12];
        (v[2], v[5]) = (3.0, f32::NAN);
        assert_eq!(winners(&v, d, unpadded), vec![5.0, 5.0]);
        // Stride 1: the gathering path against the scattering one's arithmetic, by hand for the
        // corner and the centre of a 3×3 plane of ones (shares 1/4, 1/6 and 1/9).
        let d = Dims { n: 1, c: 1, h: 3, w: 3 };
        let dx = avg_backward(&[1.0; 9], d, Window::darts(1));
        let (a, b, c) = (1.0f32 / 4.0, 1.0f32 / 6.0, 1.0f32 / 9.0);
        assert_eq!(dx[0], ((0.0 + a) + b) + b + c);
        assert_eq!(dx[4], ((((((((0.0 + a) + b) + a) + b) + c) + b) + a) + b) + a);
    }
}
