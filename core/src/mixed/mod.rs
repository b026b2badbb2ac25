//! The mixed operation's node sum: out = Σ_e m_e · Σ_k w[e,k] · y[e,k] (docs/ALGORITHM.md §1, §9).
//!
//! `w` is softmax(α) of the cell type, `m_e` the optional per-sample drop-path mask of edge e
//! (already scaled by 1/keep). Two implementations compute the same function: [`node_sum_reference`]
//! (plain tensor ops, every backend) and a backend extension (`extension`) with two arms: our WGSL
//! kernels on wgpu (`kernel`) and our loops on the CPU backend (`cpu`). [`node_sum`] is the one
//! entry point and picks by device and [`Kernels`].

mod cpu;
pub mod extension;
#[cfg(feature = "wgpu")]
pub mod kernel;
mod reference;

use burn::tensor::Tensor;

use crate::kernels::Kernels;

pub use reference::node_sum_reference;

/// One incoming edge of a node: its candidate outputs, in op order (`None` for ops whose output is
/// identically zero), its row of op weights, and an optional drop-path mask `[N, 1, 1, 1]`.
pub struct EdgeInputs {
    /// Candidate outputs y[e, k], each `[N, C, H, W]`.
    pub outputs: Vec<Option<Tensor<4>>>,
    /// The edge's op weights, `[K]`.
    pub weights: Tensor<1>,
    /// Drop-path mask, scaled by 1/keep.
    pub mask: Option<Tensor<4>>,
}

/// Whether [`node_sum`] with `choice` runs the kernels for (float32) tensors on `device`.
pub use crate::kernels::uses_wgsl_or_cpu_kernels as uses_kernel;

/// The node output, by the kernels or the reference (see [`uses_kernel`]).
///
/// # Shapes
/// Every output `[N, C, H, W]` → `[N, C, H, W]`.
pub fn node_sum(edges: Vec<EdgeInputs>, choice: Kernels) -> Tensor<4> {
    let first = edges.iter().flat_map(|e| e.outputs.iter().flatten()).next();
    if let Some(y) = first
        && uses_kernel(choice, &y.device())
        && y.dtype() == burn::tensor::DType::F32
    {
        return stacked(edges);
    }
    node_sum_reference(edges)
}

/// The kernel path: the present candidate outputs stacked to `[M, N, C·H·W]` and their
/// coefficients `coef[m, n] = w[e, k] · m_e[n]` as `[M, N]`.
fn stacked(edges: Vec<EdgeInputs>) -> Tensor<4> {
    let mut ys = Vec::new();
    let mut coefs = Vec::new();
    let mut shape = None;
    for edge in edges {
        let Some(first) = edge.outputs.iter().flatten().next() else { continue };
        let [n, c, h, w] = first.dims();
        shape = Some([n, c, h, w]);
        // The weights of the present ops, as views of contiguous runs (no index upload).
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for (k, y) in edge.outputs.iter().enumerate() {
            if y.is_some() {
                match runs.last_mut() {
                    Some((start, len)) if *start + *len == k => *len += 1,
                    _ => runs.push((k, 1)),
                }
            }
        }
        let present: usize = runs.iter().map(|r| r.1).sum();
        let weights = if present == edge.outputs.len() {
            edge.weights
        } else {
            Tensor::cat(runs.iter().map(|&(start, len)| edge.weights.clone().narrow(0, start, len)).collect(), 0)
        };
        let weights = weights.reshape([present, 1]);
        coefs.push(match edge.mask {
            Some(mask) => weights * mask.reshape([1, n]),
            None => weights.expand([present, n]),
        });
        ys.extend(edge.outputs.into_iter().flatten());
    }
    let [n, c, h, w] = shape.expect("a node needs at least one edge with a non-zero op");
    let m = ys.len();
    let y = Tensor::stack::<5>(ys, 0).reshape([m, n, c * h * w]);
    let coef = Tensor::cat(coefs, 0);
    extension::node_sum(y, coef).reshape([n, c, h, w])
}
