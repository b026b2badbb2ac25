//! Training-mode BatchNorm as a Burn backend extension, with its hand-written backward registered
//! with Burn's autodiff. The CPU (Flex) arm is our loops (`cpu`), the CubeCL (wgpu) arm our WGSL
//! kernels (`kernel`). Under Burn's fusion (feature `fusion`) each call is registered in the
//! fusion stream as an opaque operation with its three outputs' shapes, and runs our kernel when
//! the stream executes.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use super::cpu;
use crate::kernels::host::{contiguous, dims, tensor, values};

/// Training-mode BatchNorm as a Burn backend operation.
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex, Autodiff)]
pub trait BatchNormBackend: burn::backend::Backend {
    /// `x: [N, C, H, W]`, `gamma, beta: [C]` → (output, batch mean `[C]`, biased batch variance
    /// `[C]`); only the output carries gradients.
    #[fusion(meta = |x, _gamma, _beta, _eps| (x.clone(), per_channel(x), per_channel(x)))]
    fn batch_norm_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f64) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The backward pass, on backends that compute it (called by the autodiff arm only).
#[backend_extension(Cube: cfg(feature = "wgpu"), Fusion: cfg(feature = "fusion"), Flex)]
pub trait BatchNormGrads: burn::backend::Backend {
    /// `(dx, dgamma, dbeta)` from the output gradient `dy` and the forward pass's statistics.
    #[fusion(meta = |x, _gamma, _mean, _var, _eps, _dy| (x.clone(), per_channel(x), per_channel(x)))]
    fn batch_norm_train_grads(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        eps: f64,
        dy: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The description of a `[C]` tensor for `x: [N, C, H, W]` (statistics and parameter gradients),
/// for the fusion stream.
#[cfg(feature = "fusion")]
fn per_channel(x: &burn::backend::fusion::custom::TensorSpec) -> burn::backend::fusion::custom::TensorSpec {
    burn::backend::fusion::custom::TensorSpec::new(burn::tensor::Shape::new([x.shape[1]]), x.dtype)
}

/// Through the extension (autodiff included); the caller checked device and dtype.
pub fn batch_norm_train(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, eps: f64) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let (y, mean, var) = Dispatch::batch_norm_train(x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), eps);
    (Tensor::from_dispatch(y), Tensor::from_dispatch(mean), Tensor::from_dispatch(var))
}

impl BatchNormBackend for Flex {
    fn batch_norm_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, eps: f64) -> (FlexTensor, FlexTensor, FlexTensor) {
        let d = dims(&x);
        let (x, gamma, beta) = (contiguous(&x), contiguous(&gamma), contiguous(&beta));
        let (y, mean, var) = cpu::forward(values(&x), d, values(&gamma), values(&beta), eps);
        (tensor(y, [d.n, d.c, d.h, d.w]), tensor(mean, [d.c]), tensor(var, [d.c]))
    }
}

impl BatchNormGrads for Flex {
    fn batch_norm_train_grads(x: FlexTensor, gamma: FlexTensor, mean: FlexTensor, var: FlexTensor, eps: f64, dy: FlexTensor) -> (FlexTensor, FlexTensor, FlexTensor) {
        let d = dims(&x);
        let [x, gamma, mean, var, dy] = [x, gamma, mean, var, dy].map(|t| contiguous(&t));
        let (dx, dgamma, dbeta) = cpu::backward(values(&x), values(&dy), d, values(&gamma), values(&mean), values(&var), eps);
        (tensor(dx, [d.n, d.c, d.h, d.w]), tensor(dgamma, [d.c]), tensor(dbeta, [d.c]))
    }
}

impl<B: BatchNormBackend + BatchNormGrads, C: CheckpointStrategy> BatchNormBackend for Autodiff<B, C> {
    fn batch_norm_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, eps: f64) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        #[derive(Debug)]
        struct BatchNormBackward;

        impl<B: BatchNormGrads> Backward<B, 3> for BatchNormBackward {
            /// The input and gamma (checkpointed), the batch statistics as computed, and ε.
            type State = (NodeId, NodeId, FloatTensor<B>, FloatTensor<B>, f64);

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let [node_x, node_gamma, node_beta] = ops.parents;
                let dy = grads.consume::<B>(&ops.node);
                let (x, gamma, mean, var, eps) = ops.state;
                let x = checkpointer.retrieve_node_output::<FloatTensor<B>>(x);
                let gamma = checkpointer.retrieve_node_output::<FloatTensor<B>>(gamma);
                let (dx, dgamma, dbeta) = B::batch_norm_train_grads(x, gamma, mean, var, eps, dy);
                for (node, grad) in [(node_x, dx), (node_gamma, dgamma), (node_beta, dbeta)] {
                    if let Some(node) = node {
                        grads.register::<B>(node.id, grad);
                    }
                }
            }
        }

        match BatchNormBackward.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let gamma_state = prep.checkpoint(&gamma);
                let (y, mean, var) = <B as BatchNormBackend>::batch_norm_train(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps);
                let y = prep.finish((x_state, gamma_state, mean.clone(), var.clone(), eps), y);
                (y, Self::from_inner(mean), Self::from_inner(var))
            }
            OpsKind::UnTracked(prep) => {
                let (y, mean, var) = <B as BatchNormBackend>::batch_norm_train(x.into_primitive(), gamma.into_primitive(), beta.into_primitive(), eps);
                (prep.finish(y), Self::from_inner(mean), Self::from_inner(var))
            }
        }
    }
}
