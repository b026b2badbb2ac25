//! The plain-tensor node sum that every backend runs: out = Σ_e m_e · Σ_k w[e,k] · y[e,k].

use burn::tensor::Tensor;

use super::EdgeInputs;

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
