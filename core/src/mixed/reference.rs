//! The plain-tensor node sum that every backend runs: out = Σ_e m_e · Σ_k w[e,k] · y[e,k].

use burn::tensor::Tensor;

use super::NodeInputs;

/// The node output as plain tensor operations (any backend, autodiff through Burn).
///
/// # Shapes
/// Every output `[N, C, H, W]` → `[N, C, H, W]`.
pub fn node_sum_reference(node: NodeInputs) -> Tensor<4> {
    let mut total: Option<Tensor<4>> = None;
    for (e, outputs) in node.outputs.into_iter().enumerate() {
        let mut sum: Option<Tensor<4>> = None;
        for (k, y) in outputs.into_iter().enumerate() {
            let Some(y) = y else { continue };
            let wk = node.weights.clone().slice([e..e + 1, k..k + 1]).reshape([1, 1, 1, 1]);
            let term = y * wk;
            sum = Some(match sum {
                Some(s) => s + term,
                None => term,
            });
        }
        let Some(mut s) = sum else { continue };
        if let Some(m) = &node.masks {
            let n = m.dims()[1];
            s = s * m.clone().narrow(0, e, 1).reshape([n, 1, 1, 1]);
        }
        total = Some(match total {
            Some(t) => t + s,
            None => s,
        });
    }
    total.expect("a node needs at least one edge with a non-zero op")
}
