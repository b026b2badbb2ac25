//! The depthwise convolution's CubeCL (wgpu) arm: our WGSL kernels, one launch each for the
//! forward pass, the input's gradient and the weight's gradient (the extension and its autodiff
//! are in `extension`).
//!
//! Burn's grouped `conv2d` on CubeCL runs the forward pass as a direct convolution and
//! differentiates it as a transposed convolution for the input and a convolution over swapped
//! axes for the weight, each with layout copies of the activation around it; ours read and write
//! NCHW planes in place. Each kernel binds four storage buffers (WebGPU guarantees eight per
//! stage), so the same sources run in browsers.

use burn::backend::wgpu::{CubeBackend, CubeTensor};
use burn::tensor::Shape;
use rdarts_shaders::{DEPTHWISE_FORWARD, DEPTHWISE_GRAD_INPUT, DEPTHWISE_GRAD_WEIGHT};

use super::DwGeom;
use super::extension::{DepthwiseBackend, DepthwiseGrads};
use crate::kernels::host::Dims;
use crate::kernels::wgsl::{self, dim, nchw};

/// Invocations per workgroup of the weight's gradient (one workgroup per channel and tap, ending
/// in a tree reduction): as BatchNorm's reductions, whose barriers a software adapter pays for
/// (see `batchnorm::kernel`). Unmeasured on a GPU.
const GRAD_WEIGHT_WORKGROUP: u32 = 32;

/// The size buffer every kernel reads: `[N, C, H, W, Ho, Wo, k, stride, pad, dilation]`.
fn sizes(x: Dims, g: DwGeom) -> [u32; 10] {
    let (ho, wo) = (g.out_len(x.h), g.out_len(x.w));
    [x.n, x.c, x.h, x.w, ho, wo, g.kernel, g.stride, g.pad, g.dilation].map(|d| dim(d, "depthwise conv size"))
}

impl DepthwiseBackend for CubeBackend {
    fn depthwise_conv2d(x: CubeTensor, w: CubeTensor, g: DwGeom) -> CubeTensor {
        let d = nchw(&x, "depthwise conv");
        let out = Shape::new([d.n, d.c, g.out_len(d.h), g.out_len(d.w)]);
        let groups = wgsl::per_element(out.num_elements());
        let [y] = wgsl::launch(DEPTHWISE_FORWARD, [x, w], [out], &sizes(d, g), groups);
        y
    }
}

impl DepthwiseGrads for CubeBackend {
    fn depthwise_grad_input(w: CubeTensor, dy: CubeTensor, xd: Dims, g: DwGeom) -> CubeTensor {
        let shape = Shape::new([xd.n, xd.c, xd.h, xd.w]);
        let groups = wgsl::per_element(shape.num_elements());
        let [dx] = wgsl::launch(DEPTHWISE_GRAD_INPUT, [dy, w], [shape], &sizes(xd, g), groups);
        dx
    }

    fn depthwise_grad_weight(x: CubeTensor, dy: CubeTensor, g: DwGeom) -> CubeTensor {
        let d = nchw(&x, "depthwise conv");
        let pairs = d.c * g.kernel * g.kernel;
        let shape = Shape::new([d.c, 1, g.kernel, g.kernel]);
        let [dw] = wgsl::launch_with(DEPTHWISE_GRAD_WEIGHT, GRAD_WEIGHT_WORKGROUP, [x, dy], [shape], &sizes(d, g), pairs);
        dw
    }
}
