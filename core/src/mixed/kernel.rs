//! The node sum's CubeCL (wgpu) arm: our own WGSL kernels (the extension and its autodiff are in
//! `extension`).
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
//! run in browsers.

use burn::backend::wgpu::{CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::cubecl::prelude::KernelId;
use burn::cubecl::server::KernelArguments;
use burn::cubecl::{CubeCount, CubeDim};
use burn::tensor::{DType, Shape};
use rdarts_shaders::{NODE_SUM_FORWARD, NODE_SUM_GRAD_COEF, NODE_SUM_GRAD_INPUTS, ShaderSource};

use super::extension::{NodeSumBackend, NodeSumGrads};

/// Invocations per workgroup: WebGPU's guaranteed maximum, and a power of two (the reduction
/// halves it).
const WORKGROUP: u32 = 256;
/// Workgroups per grid dimension (WebGPU's `maxComputeWorkgroupsPerDimension`).
const MAX_GROUPS: u32 = 65_535;

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
