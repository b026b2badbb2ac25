//! The mixed operation's node sum: out = Σ_e m_e · Σ_k w[e,k] · y[e,k] (docs/ALGORITHM.md §1, §9).
//!
//! `w` is softmax(α) of the cell type, `m_e` the optional per-sample drop-path mask of edge e
//! (already scaled by 1/keep). Three implementations compute the same function: [`node_sum_reference`]
//! (plain tensor ops, every backend); on wgpu a backend extension over the stacked outputs
//! (`extension`, our WGSL kernels in `kernel`); on the CPU backend a chain of links, one per
//! output, that reads each where it is (`link`). [`node_sum`] is the one entry point and picks by
//! device and [`Kernels`].

pub mod extension;
pub mod link;
#[cfg(feature = "wgpu")]
pub mod kernel;
mod reference;

use burn::tensor::Tensor;

use crate::kernels::Kernels;

pub use reference::node_sum_reference;

/// A node's inputs: the candidate outputs of each incoming edge, the edges' op weights as one
/// block, and their drop-path masks.
pub struct NodeInputs {
    /// Candidate outputs y[e][k], each `[N, C, H, W]`, in edge and op order (`None` for ops whose
    /// output is identically zero).
    pub outputs: Vec<Vec<Option<Tensor<4>>>>,
    /// The edges' op weights, `[E, K]` (a node's rows of softmax(α)).
    pub weights: Tensor<2>,
    /// Per-sample drop-path masks, scaled by 1/keep, a row per edge: `[E, N]`.
    pub masks: Option<Tensor<2>>,
}

/// Whether [`node_sum`] with `choice` runs the kernels for (float32) tensors on `device`.
pub use crate::kernels::uses_wgsl_or_cpu_kernels as uses_kernel;

/// The node output, by the kernels or the reference (see [`uses_kernel`]).
///
/// # Shapes
/// Every output `[N, C, H, W]` → `[N, C, H, W]`.
pub fn node_sum(node: NodeInputs, choice: Kernels) -> Tensor<4> {
    let Some(y) = node.outputs.iter().flatten().flatten().next() else { return node_sum_reference(node) };
    let device = y.device();
    if y.dtype() != burn::tensor::DType::F32 {
        node_sum_reference(node)
    } else if crate::kernels::uses_cpu_kernels(choice, &device) {
        kernel_sum(node, Form::Linked)
    } else if crate::kernels::uses_wgsl_kernels(choice, &device) {
        kernel_sum(node, Form::Stacked)
    } else {
        node_sum_reference(node)
    }
}

/// How the kernel path sums a node's candidate outputs.
enum Form {
    /// A chain of links (the CPU backend): no copy of the outputs.
    Linked,
    /// Stacked into one tensor for one kernel (wgpu).
    Stacked,
}

/// The contiguous runs `(start, len)` of present ops in an edge's outputs.
fn present_runs(outputs: &[Option<Tensor<4>>]) -> Vec<(usize, usize)> {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for (k, y) in outputs.iter().enumerate() {
        if y.is_some() {
            match runs.last_mut() {
                Some((start, len)) if *start + *len == k => *len += 1,
                _ => runs.push((k, 1)),
            }
        }
    }
    runs
}

/// The columns `runs` of `w` (`[R, K]` → `[R, Σ len]`), as views of contiguous runs (no index
/// upload).
fn columns(w: Tensor<2>, runs: &[(usize, usize)], k: usize) -> Tensor<2> {
    match runs {
        [(0, len)] if *len == k => w,
        [(start, len)] => w.narrow(1, *start, *len),
        _ => Tensor::cat(runs.iter().map(|&(start, len)| w.clone().narrow(1, start, len)).collect(), 1),
    }
}

/// The kernel path: the present candidate outputs as `[N, C·H·W]` each and their coefficients
/// `coef[m, n] = w[e, k] · m_e[n]` as `[M, N]`, summed by a chain of links ([`link`]) or stacked
/// to `[M, N, C·H·W]` for one kernel ([`extension`]). When every edge has the same ops present
/// (every node of a search, unless RS-ws samples ops), the coefficients come from the node's
/// weight block by a few whole-tensor operations; otherwise edge by edge.
fn kernel_sum(node: NodeInputs, form: Form) -> Tensor<4> {
    let NodeInputs { outputs, weights, masks } = node;
    let [e_count, k] = weights.dims();
    let [n, c, h, w] = outputs.iter().flatten().flatten().next().expect("a node needs at least one edge with a non-zero op").dims();
    let runs: Vec<_> = outputs.iter().map(|o| present_runs(o)).collect();
    let coef = if runs.iter().all(|r| *r == runs[0]) {
        let w = columns(weights, &runs[0], k);
        let p = w.dims()[1];
        match masks {
            Some(m) => (w.reshape([e_count, p, 1]) * m.reshape([e_count, 1, n])).reshape([e_count * p, n]),
            None => w.reshape([e_count * p, 1]).expand([e_count * p, n]),
        }
    } else {
        let mut coefs = Vec::new();
        for (e, runs) in runs.iter().enumerate() {
            if runs.is_empty() {
                continue;
            }
            let w = columns(weights.clone().narrow(0, e, 1), runs, k);
            let p = w.dims()[1];
            coefs.push(match &masks {
                Some(m) => w.reshape([p, 1]) * m.clone().narrow(0, e, 1),
                None => w.reshape([p, 1]).expand([p, n]),
            });
        }
        Tensor::cat(coefs, 0)
    };
    let ys: Vec<_> = outputs.into_iter().flatten().flatten().collect();
    match form {
        Form::Linked => link::linked_sum(ys.into_iter().map(|y| y.reshape([n, c * h * w])).collect(), coef),
        Form::Stacked => {
            let m = ys.len();
            extension::node_sum(Tensor::stack::<5>(ys, 0).reshape([m, n, c * h * w]), coef)
        }
    }
    .reshape([n, c, h, w])
}
