//! ReLU as a Burn backend extension with its backward registered with Burn's autodiff: on wgpu
//! one WGSL kernel launch each way (`shaders/wgsl/relu_*.wgsl`), where Burn's ReLU and its
//! backward are a comparison and a masked fill each. The CPU (Flex) arm is the same selection as
//! Burn's ReLU and backward, bit for bit, but split over the worker threads (Burn's element-wise
//! loops run on the calling thread alone: at the paper's search shape 3 % of a step's CPU time,
//! while the other core waited). Under Burn's fusion (feature `fusion`) each call is an
//! opaque operation in the fusion stream. [`relu`] is the one entry point and picks by device and
//! [`Kernels`].

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use crate::kernels::host;
use crate::kernels::{Kernels, uses_wgsl_or_cpu_kernels};

/// ReLU as a Burn backend operation.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex, Autodiff)]
pub trait ReluBackend: burn::backend::Backend {
    /// `max(x, 0)`, a NaN passing through.
    #[fusion(dtype = x, shape = x)]
    fn relu_kernel(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// ReLU's backward, on backends that compute it (called by the autodiff arm only).
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex)]
pub trait ReluGrads: burn::backend::Backend {
    /// `dy` where `x > 0` (or NaN), 0 where `x ≤ 0`.
    #[fusion(dtype = dy, shape = dy)]
    fn relu_kernel_backward(x: FloatTensor<Self>, dy: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// ReLU of `x` (any rank): through the extension on wgpu and the CPU backend unless `choice` forces
/// the reference, Burn's `relu` elsewhere. Both compute the same values and gradients, bit for bit.
pub fn relu<const D: usize>(x: Tensor<D>, choice: Kernels) -> Tensor<D> {
    if uses_wgsl_or_cpu_kernels(choice, &x.device()) && x.dtype() == burn::tensor::DType::F32 {
        Tensor::from_dispatch(Dispatch::relu_kernel(x.into_dispatch()))
    } else {
        burn::tensor::activation::relu(x)
    }
}

/// `max(x, 0)` as Burn's ReLU computes it: 0 (positive) where `x ≤ 0`, `x` elsewhere, a NaN
/// included.
#[inline(always)]
fn relu_of(x: f32) -> f32 {
    if x <= 0.0 { 0.0 } else { x }
}

impl ReluBackend for Flex {
    fn relu_kernel(x: FlexTensor) -> FlexTensor {
        host::map(x, relu_of)
    }
}

impl ReluGrads for Flex {
    /// Burn's backward reads the output; `x ≤ 0` exactly where the output is.
    fn relu_kernel_backward(x: FlexTensor, dy: FlexTensor) -> FlexTensor {
        host::zip_map(dy, &x, |g, x| if x <= 0.0 { 0.0 } else { g })
    }
}

impl<B: ReluBackend + ReluGrads, C: CheckpointStrategy> ReluBackend for Autodiff<B, C> {
    fn relu_kernel(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ReluBackward;

        impl<B: ReluGrads> Backward<B, 1> for ReluBackward {
            /// The input, checkpointed.
            type State = NodeId;

            fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let x: FloatTensor<B> = checkpointer.retrieve_node_output(ops.state);
                unary::<B, _>(ops.parents, ops.node, grads, |dy| B::relu_kernel_backward(x, dy));
            }
        }

        match ReluBackward.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let state = prep.checkpoint(&x);
                prep.finish(state, B::relu_kernel(x.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::relu_kernel(x.into_primitive())),
        }
    }
}

#[cfg(feature = "wgpu")]
mod kernel {
    use burn::backend::wgpu::{CubeBackend, CubeTensor};
    use rdarts_shaders::{RELU_BACKWARD, RELU_FORWARD};

    use super::{ReluBackend, ReluGrads};
    use crate::kernels::wgsl::{self, dim};

    /// `[length]` and the workgroups for one invocation per element of `t`.
    fn sizes(t: &CubeTensor) -> ([u32; 1], usize) {
        let n = t.meta.shape().num_elements();
        ([dim(n, "relu length")], wgsl::per_element(n))
    }

    impl ReluBackend for CubeBackend {
        fn relu_kernel(x: CubeTensor) -> CubeTensor {
            let (dims, groups) = sizes(&x);
            let shape = x.meta.shape().clone();
            let [y] = wgsl::launch(RELU_FORWARD, [x], [shape], &dims, groups);
            y
        }
    }

    impl ReluGrads for CubeBackend {
        fn relu_kernel_backward(x: CubeTensor, dy: CubeTensor) -> CubeTensor {
            let (dims, groups) = sizes(&dy);
            let shape = dy.meta.shape().clone();
            let [dx] = wgsl::launch(RELU_BACKWARD, [x, dy], [shape], &dims, groups);
            dx
        }
    }
}
