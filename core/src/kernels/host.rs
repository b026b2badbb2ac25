//! What our CPU kernels share: the NCHW shape as plain numbers, a parallel loop over planes
//! (rayon; one thread in the browser), a dot product in a fixed order, and host access to the
//! values of Flex tensors.

use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

/// `[N, C, H, W]` as plain numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    /// Batch.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Dims {
    /// Elements of one plane.
    pub fn plane(&self) -> usize {
        self.h * self.w
    }

    /// Elements in all.
    pub fn len(&self) -> usize {
        self.n * self.c * self.plane()
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Runs `f(plane index, output plane)` over every `len`-element plane of `out`, in parallel where
/// threads exist.
pub fn for_each_plane<T: Send, F: Fn(usize, &mut [T]) + Send + Sync>(out: &mut [T], len: usize, f: F) {
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each(|(i, o)| f(i, o));
    }
    #[cfg(target_family = "wasm")]
    out.chunks_mut(len).enumerate().for_each(|(i, o)| f(i, o));
}

/// [`for_each_plane`] with a scratch value per worker: `init` makes one for each piece of work
/// rayon splits off (a handful per call), `f` gets it with each plane.
pub fn for_each_plane_with<T, S, I, F>(out: &mut [T], len: usize, init: I, f: F)
where
    T: Send,
    I: Fn() -> S + Send + Sync,
    F: Fn(usize, &mut S, &mut [T]) + Send + Sync,
{
    #[cfg(not(target_family = "wasm"))]
    {
        use rayon::prelude::*;
        out.par_chunks_mut(len).enumerate().for_each_init(init, |s, (i, o)| f(i, s, o));
    }
    #[cfg(target_family = "wasm")]
    {
        let mut s = init();
        out.chunks_mut(len).enumerate().for_each(|(i, o)| f(i, &mut s, o));
    }
}

/// Runs `op` compiled for the widest vector instructions this CPU has (AVX2 and FMA where
/// present; chosen at run time by `pulp`, the dispatcher of the GEMM crate Burn's CPU backend
/// uses). Plain loops in `op`'s `with_simd` (which must be `#[inline(always)]`, as every function
/// it calls that should share the instructions) are vectorised for them; elsewhere they are
/// compiled for the x86-64 baseline (SSE2). Rust never contracts `a * b + c` into a fused
/// multiply-add, so results are the same bit for bit on every path.
#[inline(always)]
pub fn simd<Op: WithSimd>(op: Op) -> Op::Output {
    pulp::Arch::new().dispatch(op)
}

pub use pulp::{Simd, WithSimd};

/// `Σ a[q] · b[q · step]` over `a`, in eight interleaved partial sums (a fixed order that the
/// compiler can keep in one vector register). Inlined, so that inside [`simd`] it uses the
/// CPU's vector instructions.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32], step: usize) -> f32 {
    if step == 1 {
        let b = &b[..a.len()];
        let mut acc = [0.0f32; 8];
        let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
        let (ar, br) = (ac.remainder(), bc.remainder());
        for (x, y) in ac.zip(bc) {
            for l in 0..8 {
                acc[l] += x[l] * y[l];
            }
        }
        let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
        acc.iter().sum::<f32>() + tail
    } else {
        a.iter().zip(b.iter().step_by(step)).map(|(x, y)| x * y).sum()
    }
}

/// The shape of a rank-`D` tensor (a Flex tensor or its autodiff wrapper).
pub fn shape<const D: usize>(t: &impl TensorMetadata) -> [usize; D] {
    let s = t.shape();
    std::array::from_fn(|i| s[i])
}

/// The `[N, C, H, W]` of a rank-4 tensor (a Flex tensor or its autodiff wrapper).
pub fn dims(t: &impl TensorMetadata) -> Dims {
    let [n, c, h, w] = shape(t);
    Dims { n, c, h, w }
}

/// The tensor in row-major order (a copy only when its layout is not that).
pub fn contiguous(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// The float32 values of a tensor from [`contiguous`].
pub fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("our CPU kernels take contiguous float32 tensors")
}

/// Elements per piece of work in [`map`] and [`zip_map`]: a piece outweighs handing it to a
/// thread, and the paper shape's activations (a million elements) still split into dozens.
const PIECE: usize = 1 << 15;

/// `f` of every element of the float32 tensor `x` (any shape), in pieces over the worker threads
/// (Burn's CPU backend runs element-wise loops on the calling thread alone): in place where `x`
/// holds its values alone, in row-major order; otherwise into a new tensor, written once.
pub fn map(mut x: FlexTensor, f: impl Fn(f32) -> f32 + Send + Sync) -> FlexTensor {
    if let Some((start, end)) = x.layout().contiguous_offsets()
        && let Some(storage) = x.try_storage_mut::<f32>()
    {
        pieces_mut(&mut storage[start..end], |piece, _| piece.iter_mut().for_each(|v| *v = f(*v)));
        return x;
    }
    let x = contiguous(&x);
    let xs = values(&x);
    with_shape(planes(xs.len(), PIECE, |i, out| out.iter_mut().zip(&xs[i * PIECE..]).for_each(|(v, x)| *v = f(*x))), &x)
}

/// `f(a, b)` of the elements of two float32 tensors of one shape, as [`map`] (in place in `a`
/// where it can be).
pub fn zip_map(mut a: FlexTensor, b: &FlexTensor, f: impl Fn(f32, f32) -> f32 + Send + Sync) -> FlexTensor {
    assert_eq!(a.shape(), b.shape(), "zip_map takes two tensors of one shape");
    let b = contiguous(b);
    let bs = values(&b);
    if let Some((start, end)) = a.layout().contiguous_offsets()
        && let Some(storage) = a.try_storage_mut::<f32>()
    {
        pieces_mut(&mut storage[start..end], |piece, at| piece.iter_mut().zip(&bs[at..]).for_each(|(v, w)| *v = f(*v, *w)));
        return a;
    }
    let a = contiguous(&a);
    let xs = values(&a);
    with_shape(planes(xs.len(), PIECE, |i, out| out.iter_mut().zip(xs[i * PIECE..].iter().zip(&bs[i * PIECE..])).for_each(|(v, (x, w))| *v = f(*x, *w))), &a)
}

/// Runs `f(piece, offset of its first element)` over [`PIECE`]-element pieces of `out`, in
/// parallel where threads exist.
fn pieces_mut(out: &mut [f32], f: impl Fn(&mut [f32], usize) + Send + Sync) {
    for_each_plane(out, PIECE, |i, piece| f(piece, i * PIECE));
}

/// A new vector of `len` elements, `plane_len` to a plane, each plane zeroed and then given to
/// `f(plane index, plane)`, in parallel where threads exist: a kernel's output made by its worker
/// threads (`vec![0.0; len]` zeroes reused memory on the calling thread alone, while the other
/// cores wait: at the paper's search shape 4 % of an S2 step's CPU time). The thread that fills
/// a plane zeroes it just before, so `f`'s writes find it in cache, where a whole tensor zeroed
/// first is written again from memory (measured: BENCHMARKS.md, 2026-12-03 (late)).
pub fn planes(len: usize, plane_len: usize, f: impl Fn(usize, &mut [f32]) + Send + Sync) -> Vec<f32> {
    planes_with(len, plane_len, || (), |p, _, out| f(p, out))
}

/// [`planes`] with a scratch value per worker, as [`for_each_plane_with`].
pub fn planes_with<S, I, F>(len: usize, plane_len: usize, init: I, f: F) -> Vec<f32>
where
    I: Fn() -> S + Send + Sync,
    F: Fn(usize, &mut S, &mut [f32]) + Send + Sync,
{
    let mut out = Vec::with_capacity(len);
    if len > 0 {
        assert!(plane_len > 0, "planes: {len} elements in planes of 0");
        let zero = vec![0.0f32; plane_len.min(len)];
        for_each_plane_with(&mut out.spare_capacity_mut()[..len], plane_len, init, |p, s, plane| {
            f(p, s, plane.write_copy_of_slice(&zero[..plane.len()]))
        });
    }
    #[allow(unsafe_code)]
    // SAFETY: the capacity is at least `len`, and the chunks of `plane_len` that tile its first
    // `len` elements were each written whole (`write_copy_of_slice`) before `f` saw them; had `f`
    // panicked, the panic would have ended this function before here.
    unsafe {
        out.set_len(len);
    }
    out
}

/// `values` in a tensor of `like`'s shape.
fn with_shape(values: Vec<f32>, like: &FlexTensor) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, like.shape()))
}

/// A tensor of `shape` holding `values`.
pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}
