//! The mixed operation's node sum: out = Σ_e m_e · Σ_k w[e,k] · y[e,k] (SPEC §1, §9).
//!
//! This is the plain-tensor reference that every backend runs. `w` is softmax(α) of the cell type,
//! `m_e` the optional per-sample drop-path mask of edge e (already scaled by 1/keep).

use burn::tensor::Tensor;

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

/// The node output as plain tensor operations (any backend, autodiff through Burn).
///
/// # Shapes
/// Every output `[N, C, H, W]` → `[N, C, H, W]`.
pub fn node_sum_reference(edges: Vec<EdgeInputs>) -> Tensor<4> {
    let mut total: Option<Tensor<4>> = None;
    for edge in edges {
        let mut sum: Option<Tensor<4>> = None;
        for (k, y) in edge.outputs.into_iter().enumerate() {
            let Some(y) = y else { continue };
            let wk = edge.weights.clone().narrow(0, k, 1).reshape([1, 1, 1, 1]);
            let term = y * wk;
            sum = Some(match sum {
                Some(s) => s + term,
                None => term,
            });
        }
        let Some(mut s) = sum else { continue };
        if let Some(m) = edge.mask {
            s = s * m;
        }
        total = Some(match total {
            Some(t) => t + s,
            None => s,
        });
    }
    total.expect("a node needs at least one edge with a non-zero op")
}
