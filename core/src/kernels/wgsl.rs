//! What our WGSL kernels share on the CubeCL (wgpu) backend: a registry source filled for a float
//! type and workgroup size, the launch grid, one launch of a kernel over contiguous input
//! buffers, fresh output buffers and a buffer of `u32` sizes, and the sizes themselves (`dim`,
//! and `nchw` for an image input).

use burn::backend::wgpu::{CubeTensor, KernelSource, SourceKernel, SourceTemplate, into_contiguous};
use burn::cubecl::prelude::KernelId;
use burn::cubecl::server::KernelArguments;
use burn::cubecl::{CubeCount, CubeDim};
use burn::tensor::{DType, Shape};
use rdarts_shaders::ShaderSource;

use super::host::Dims;

/// Invocations per workgroup: WebGPU's guaranteed maximum, and a power of two (the reductions
/// halve it).
pub const WORKGROUP: u32 = 256;
/// Workgroups per grid dimension (WebGPU's `maxComputeWorkgroupsPerDimension`).
const MAX_GROUPS: u32 = 65_535;

/// One WGSL source of the registry, filled for a float type and workgroup size.
#[derive(Debug)]
struct Kernel {
    shader: ShaderSource,
    dtype: DType,
    workgroup: u32,
}

impl KernelSource for Kernel {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(self.shader.source)
            .register("elem", self.dtype.name())
            .register("workgroup_size", self.workgroup.to_string())
    }

    fn id(&self) -> KernelId {
        // Everything that changes the filled source keys the compile cache.
        KernelId::new::<Self>().info((self.shader.name, self.dtype.name(), self.workgroup))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// Workgroups of [`WORKGROUP`] invocations for one invocation per each of `elements`.
pub fn per_element(elements: usize) -> usize {
    elements.div_ceil(WORKGROUP as usize)
}

/// A grid of `groups` workgroups, folded into a second dimension past the per-dimension limit
/// (the shaders number their workgroups `x + y · groups.x`).
fn grid(groups: usize) -> CubeCount {
    let groups = u32::try_from(groups).expect("kernel grid exceeds u32");
    if groups <= MAX_GROUPS {
        CubeCount::Static(groups.max(1), 1, 1)
    } else {
        CubeCount::Static(MAX_GROUPS, groups.div_ceil(MAX_GROUPS), 1)
    }
}

/// Launches `shader` on `groups` workgroups of [`WORKGROUP`] invocations; see [`launch_with`].
pub fn launch<const I: usize, const O: usize>(shader: ShaderSource, inputs: [CubeTensor; I], outputs: [Shape; O], dims: &[u32], groups: usize) -> [CubeTensor; O] {
    launch_with(shader, WORKGROUP, inputs, outputs, dims, groups)
}

/// Launches `shader` on `groups` workgroups of `workgroup` invocations (a power of two, at most
/// [`WORKGROUP`]) with bindings, in order: the `inputs` (made contiguous), one fresh contiguous
/// output per entry of `outputs`, and `dims` as `u32`s; returns the outputs. Every tensor shares
/// the inputs' float type and device.
pub fn launch_with<const I: usize, const O: usize>(shader: ShaderSource, workgroup: u32, inputs: [CubeTensor; I], outputs: [Shape; O], dims: &[u32], groups: usize) -> [CubeTensor; O] {
    assert!(workgroup.is_power_of_two() && workgroup <= WORKGROUP, "{}: workgroup of {workgroup}", shader.name);
    let inputs = inputs.map(into_contiguous);
    let first = &inputs[0];
    let dtype = first.dtype;
    for t in &inputs[1..] {
        first.assert_is_on_same_device(t);
        assert_eq!(t.dtype, dtype, "{}: mixed float types", shader.name);
    }
    let client = first.client.clone();
    let device = first.device.clone();
    let outputs = outputs.map(|shape| {
        let handle = client.empty(shape.num_elements() * dtype.size());
        CubeTensor::new_contiguous(client.clone(), device.clone(), shape, handle, dtype)
    });
    let dims: Vec<u8> = dims.iter().flat_map(|d| d.to_le_bytes()).collect();
    let dims = client.create_from_slice(&dims);
    let mut bindings: Vec<_> = inputs.iter().map(|t| t.handle.clone().binding()).collect();
    bindings.extend(outputs.iter().map(|t| t.handle.clone().binding()));
    bindings.push(dims.binding());
    client.launch(
        Box::new(SourceKernel::new(Kernel { shader, dtype, workgroup }, CubeDim::new_1d(workgroup))),
        grid(groups),
        KernelArguments::new().with_buffers(bindings),
    );
    outputs
}

/// `d` as a `u32` for a kernel's size buffer.
pub fn dim(d: usize, what: &str) -> u32 {
    u32::try_from(d).unwrap_or_else(|_| panic!("{what} {d} exceeds u32"))
}

/// `[N, C, H, W]` of a rank-4 tensor, the input of the kernel named `what`.
///
/// # Panics
/// If the tensor is not of rank 4.
pub fn nchw(t: &CubeTensor, what: &str) -> Dims {
    let s = t.meta.shape();
    assert_eq!(s.num_dims(), 4, "{what}: input of rank {}, expected [N, C, H, W]", s.num_dims());
    Dims { n: s[0], c: s[1], h: s[2], w: s[3] }
}
