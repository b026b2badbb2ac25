//! The node sum as our own WGSL kernels on Burn's CubeCL backend (wgpu), with a hand-written
//! backward registered with Burn's autodiff.
//!
//! The kernel computes `out[n, s] = Σ_m coef[m, n] · y[m, n, s]` on the node's candidate outputs
//! stacked into one `[M, N, S]` tensor (`S = C·H·W`). The stacking is one copy; the kernel then reads
//! each input once and writes each output once, where the reference's chain of scaled adds reads and
//! writes the running sum M times. Backward is two kernels: `dy = coef · dout` (one read of `dout`,
//! one write per input) and `dcoef[m, n] = Σ_s y · dout` (a workgroup tree reduction per pair). The
//! coefficients are built from softmax(α) and the drop-path masks by ordinary tensor ops, so the
//! gradient reaches α through Burn's own softmax backward.
//!
//! Each kernel binds four storage buffers (WebGPU guarantees eight per stage), so the same sources
//! run in browsers. Only the CubeCL backend implements the extension; [`super::node_sum`] calls it
//! only for tensors on a CubeCL (wgpu) device.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::wgpu::{CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::backend::{Dispatch, DispatchDevice, backend_extension};
use burn::cubecl::prelude::KernelId;
use burn::cubecl::server::KernelArguments;
use burn::cubecl::{CubeCount, CubeDim};
use burn::tensor::{DType, Device, Shape, Tensor};
use rdarts_shaders::{NODE_SUM_FORWARD, NODE_SUM_GRAD_COEF, NODE_SUM_GRAD_INPUTS, ShaderSource};

/// Invocations per workgroup: WebGPU's guaranteed maximum, and a power of two (the reduction
/// halves it).
const WORKGROUP: u32 = 256;
/// Workgroups per grid dimension (WebGPU's `maxComputeWorkgroupsPerDimension`).
const MAX_GROUPS: u32 = 65_535;

/// The fused node sum as a Burn backend operation.
#[backend_extension(Cube, Autodiff)]
pub trait NodeSumBackend: burn::backend::Backend {
    /// `y: [M, N, S]`, `coef: [M, N]` → `[N, S]`.
    fn node_sum(y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The two backward kernels, on backends that run them.
pub trait NodeSumGrads: burn::backend::Backend {
    /// `coef: [M, N]`, `dout: [N, S]` → `dy: [M, N, S]`.
    fn node_sum_grad_inputs(coef: FloatTensor<Self>, dout: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `y: [M, N, S]`, `dout: [N, S]` → `dcoef: [M, N]`.
    fn node_sum_grad_coef(y: FloatTensor<Self>, dout: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// Whether tensors on `device` can take the kernel path: a CubeCL device (this build compiles
/// only CubeCL's wgpu runtime, whose compiler takes WGSL).
pub fn available(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Cube(_))
}

/// `y: [M, N, S]`, `coef: [M, N]` → `[N, S]` through the kernels (autodiff included).
pub fn node_sum(y: Tensor<3>, coef: Tensor<2>) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::node_sum(y.into_dispatch(), coef.into_dispatch()))
}

/// One WGSL source of the registry, filled for a float type and workgroup size.
#[derive(Debug)]
struct Kernel {
    shader: ShaderSource,
    dtype: DType,
}

impl KernelSource for Kernel {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(self.shader.source)
            .register("elem", self.dtype.name())
            .register("workgroup_size", WORKGROUP.to_string())
    }

    fn id(&self) -> KernelId {
        // Everything that changes the filled source keys the compile cache.
        KernelId::new::<Self>().info((self.shader.name, self.dtype.name(), WORKGROUP))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// A grid of `groups` workgroups, folded into a second dimension past the per-dimension limit.
fn grid(groups: usize) -> CubeCount {
    let groups = u32::try_from(groups).expect("node sum grid exceeds u32");
    if groups <= MAX_GROUPS {
        CubeCount::Static(groups.max(1), 1, 1)
    } else {
        CubeCount::Static(MAX_GROUPS, groups.div_ceil(MAX_GROUPS), 1)
    }
}

/// Launches `shader` with buffers `inputs` and a fresh contiguous output of `out_shape`.
fn launch(shader: ShaderSource, inputs: [CubeTensor; 2], out_shape: Shape, dims: [usize; 3], groups: usize) -> CubeTensor {
    let [a, b] = inputs.map(into_contiguous);
    a.assert_is_on_same_device(&b);
    assert_eq!(a.dtype, b.dtype, "node sum: mixed float types");
    let dtype = a.dtype;
    let client = a.client.clone();
    let out_handle = client.empty(out_shape.num_elements() * dtype.size());
    let out = CubeTensor::new_contiguous(client.clone(), a.device.clone(), out_shape, out_handle, dtype);
    let dims: Vec<u8> = dims
        .iter()
        .flat_map(|&d| u32::try_from(d).expect("node sum dimension exceeds u32").to_le_bytes())
        .collect();
    let dims = client.create_from_slice(&dims);
    client.launch(
        Box::new(SourceKernel::new(Kernel { shader, dtype }, CubeDim::new_1d(WORKGROUP))),
        grid(groups),
        KernelArguments::new().with_buffers(vec![
            a.handle.binding(),
            b.handle.binding(),
            out.handle.clone().binding(),
            dims.binding(),
        ]),
    );
    out
}

/// `[M, N, S]` of a stacked input.
fn dims_of(y: &CubeTensor) -> [usize; 3] {
    let s = y.meta.shape();
    [s[0], s[1], s[2]]
}

impl NodeSumBackend for CubeBackend {
    fn node_sum(y: CubeTensor, coef: CubeTensor) -> CubeTensor {
        let [m, n, s] = dims_of(&y);
        launch(NODE_SUM_FORWARD, [y, coef], Shape::new([n, s]), [m, n, s], (n * s).div_ceil(WORKGROUP as usize))
    }
}

impl NodeSumGrads for CubeBackend {
    fn node_sum_grad_inputs(coef: CubeTensor, dout: CubeTensor) -> CubeTensor {
        let (m, n) = (coef.meta.shape()[0], coef.meta.shape()[1]);
        let s = dout.meta.shape()[1];
        launch(NODE_SUM_GRAD_INPUTS, [coef, dout], Shape::new([m, n, s]), [m, n, s], (n * s).div_ceil(WORKGROUP as usize))
    }

    fn node_sum_grad_coef(y: CubeTensor, dout: CubeTensor) -> CubeTensor {
        let [m, n, s] = dims_of(&y);
        launch(NODE_SUM_GRAD_COEF, [y, dout], Shape::new([m, n]), [m, n, s], m * n)
    }
}

impl<B: NodeSumBackend + NodeSumGrads, C: CheckpointStrategy> NodeSumBackend for Autodiff<B, C> {
    fn node_sum(y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct NodeSumBackward;

        impl<B: NodeSumGrads> Backward<B, 2> for NodeSumBackward {
            /// The inputs each gradient needs: `y` for `dcoef`, `coef` for `dy`.
            type State = (Option<NodeId>, Option<NodeId>);

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let (y, coef) = ops.state;
                let y: Option<FloatTensor<B>> = y.map(|id| checkpointer.retrieve_node_output(id));
                let coef: Option<FloatTensor<B>> = coef.map(|id| checkpointer.retrieve_node_output(id));
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |dout| B::node_sum_grad_inputs(coef.expect("coef kept for dy"), dout),
                    |dout| B::node_sum_grad_coef(y.expect("y kept for dcoef"), dout),
                );
            }
        }

        let y_tracked = y.is_tracked();
        let coef_tracked = coef.is_tracked();
        match NodeSumBackward.prepare::<C>([y.node(), coef.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let y_state = coef_tracked.then(|| prep.checkpoint(&y));
                let coef_state = y_tracked.then(|| prep.checkpoint(&coef));
                prep.finish((y_state, coef_state), B::node_sum(y.into_primitive(), coef.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::node_sum(y.into_primitive(), coef.into_primitive())),
        }
    }
}
