//! The node sum of stacked outputs as a Burn backend extension: the operation, its two backward
//! operations, and the hand-written backward registered with Burn's autodiff. Its arm is our WGSL
//! kernels on wgpu (`kernel`); the CPU backend sums a node by a chain of links instead
//! (`super::link`), which need no stacking.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::autodiff::Autodiff;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, backend_extension};
use burn::tensor::Tensor;

use crate::kernels::autodiff::{Crossed, keep_crossed, retrieve_crossed};

/// The fused node sum as a Burn backend operation. Under Burn's fusion (feature `fusion`) each
/// call is registered in the fusion stream as an opaque operation with its output's shape, and
/// runs our kernel when the stream executes; the element-wise work around it still fuses.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Autodiff)]
pub trait NodeSumBackend: burn::backend::Backend {
    /// `y: [M, N, S]`, `coef: [M, N]` → `[N, S]`.
    #[fusion(dtype = y, shape = burn::tensor::Shape::new([y[1], y[2]]))]
    fn node_sum(y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The two backward operations, on backends that run them (called by the autodiff arm only).
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"))]
pub trait NodeSumGrads: burn::backend::Backend {
    /// `coef: [M, N]`, `dout: [N, S]` → `dy: [M, N, S]`.
    #[fusion(dtype = dout, shape = burn::tensor::Shape::new([coef[0], coef[1], dout[1]]))]
    fn node_sum_grad_inputs(coef: FloatTensor<Self>, dout: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `y: [M, N, S]`, `dout: [N, S]` → `dcoef: [M, N]`.
    #[fusion(dtype = y, shape = burn::tensor::Shape::new([y[0], y[1]]))]
    fn node_sum_grad_coef(y: FloatTensor<Self>, dout: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// `y: [M, N, S]`, `coef: [M, N]` → `[N, S]` through the extension (autodiff included), on a
/// device that has an arm of it (see [`super::uses_kernel`]).
pub fn node_sum(y: Tensor<3>, coef: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::node_sum(y.into_dispatch(), coef.into_dispatch()))
}

impl<B: NodeSumBackend + NodeSumGrads, C: CheckpointStrategy> NodeSumBackend for Autodiff<B, C> {
    fn node_sum(y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct NodeSumBackward;

        impl<B: NodeSumGrads> Backward<B, 2> for NodeSumBackward {
            /// The inputs each gradient needs: `y` for `dcoef`, `coef` for `dy`.
            type State = Crossed;

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let (y, coef) = retrieve_crossed::<B>(ops.state, checkpointer);
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |dout| B::node_sum_grad_inputs(coef.expect("coef kept for dy"), dout),
                    |dout| B::node_sum_grad_coef(y.expect("y kept for dcoef"), dout),
                );
            }
        }

        match NodeSumBackward.prepare::<C>([y.node(), coef.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let kept = keep_crossed(&mut prep, &y, &coef);
                prep.finish(kept, B::node_sum(y.into_primitive(), coef.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::node_sum(y.into_primitive(), coef.into_primitive())),
        }
    }
}
