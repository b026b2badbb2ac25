//! Which implementation of the hot operations runs: our own kernels where the device has them, or
//! Burn's plain tensor operations everywhere (the reference the kernels are tested against).
//!
//! Our kernels: as WGSL on wgpu, the mixed operation's node sum (`mixed::kernel`),
//! training-mode BatchNorm (`batchnorm::kernel`, and its running statistics), the depthwise
//! convolution (`depthwise::kernel`), ReLU (`relu`) and max and average pooling (`pool`),
//! launched through `wgsl`, as is SGD's
//! update (`optim::fused`, which [`crate::optim::Sgd`] chooses by its own `kernels` field); on
//! the CPU backend the node sum (`mixed::link`), the depthwise convolution (`depthwise`),
//! training-mode BatchNorm (`batchnorm`), ReLU, max and average pooling (`pool`) and the 1×1
//! convolution (`pointwise`) as loops of ours, spread over the worker threads (`host`); on both
//! (natively; see [`uses_matmul_1x1`]), the 1×1 convolution as a matrix product (`ops::Conv`; at
//! stride 2 on the input's `subsample`, our gather on the CPU). Each computes the same function as its reference, to float rounding.

pub mod autodiff;
pub mod host;
#[cfg(feature = "wgpu")]
pub mod wgsl;

use burn::backend::DispatchDevice;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

/// Which implementation of the operations listed in the module documentation a network uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kernels {
    /// Our kernels where the device has them (WGSL on wgpu, CPU loops on the CPU backend), the
    /// reference elsewhere.
    #[default]
    Auto,
    /// The plain-tensor reference everywhere (for comparison, and as an escape hatch).
    Reference,
}

impl std::str::FromStr for Kernels {
    type Err = crate::error::CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Kernels::Auto),
            "reference" => Ok(Kernels::Reference),
            _ => Err(crate::error::CoreError::invalid("kernels", format!("expected auto or reference, found '{s}'"))),
        }
    }
}

/// Whether tensors on `device` (autodiff or not) live on Burn's CPU (Flex) backend.
pub fn is_cpu(device: &Device) -> bool {
    matches!(device.clone().inner().as_dispatch(), DispatchDevice::Flex(_))
}

/// Whether our CPU kernels (node sum, depthwise and 1×1 convolutions, BatchNorm, ReLU, pooling,
/// the strided subsample) run with `choice` on `device`: the CPU backend unless the reference is forced.
pub fn uses_cpu_kernels(choice: Kernels, device: &Device) -> bool {
    choice == Kernels::Auto && is_cpu(device)
}

/// Whether tensors on `device` (autodiff or not) live on Burn's CubeCL backend (wgpu in this
/// build), where our WGSL kernels run.
pub fn is_cube(device: &Device) -> bool {
    #[cfg(feature = "wgpu")]
    {
        matches!(device.clone().inner().as_dispatch(), DispatchDevice::Cube(_))
    }
    #[cfg(not(feature = "wgpu"))]
    {
        let _ = device;
        false
    }
}

/// Whether our WGSL kernels (node sum, BatchNorm and its running statistics, depthwise
/// convolution, ReLU, pooling, SGD's update) run with `choice` on `device`.
pub fn uses_wgsl_kernels(choice: Kernels, device: &Device) -> bool {
    choice == Kernels::Auto && is_cube(device)
}

/// Whether the kernels of an operation with both arms (the node sum, BatchNorm, the depthwise
/// convolution) run with `choice` on `device`: the WGSL kernels on a CubeCL (wgpu) device, our
/// loops on the CPU backend.
pub fn uses_wgsl_or_cpu_kernels(choice: Kernels, device: &Device) -> bool {
    uses_wgsl_kernels(choice, device) || uses_cpu_kernels(choice, device)
}

/// Whether a 1×1 convolution without padding runs as a batched matrix product (`ops::Conv`) with
/// `choice` on `device`: on the CPU backend, and on wgpu outside the browser, where Burn's
/// convolution permutes NCHW to NHWC and back around every call and gradient. Measured on
/// lavapipe (BENCHMARKS.md, 2026-12-03 (morning)): at the paper's search shape the S2 step took
/// 92 s against 109 s with Burn's convolution, with 28 % fewer launches; in the browser on
/// SwiftShader's WebGPU, at the demo's shape, a step took three times as long, so the browser
/// build keeps Burn's convolution (no hardware adapter has measured either).
pub fn uses_matmul_1x1(choice: Kernels, device: &Device) -> bool {
    uses_cpu_kernels(choice, device) || (!cfg!(target_family = "wasm") && uses_wgsl_kernels(choice, device))
}

/// Which of our kernels run on `device` with `choice`, in words.
pub fn describe(choice: Kernels, device: &Device) -> &'static str {
    match (choice, uses_wgsl_kernels(choice, device), uses_cpu_kernels(choice, device)) {
        (_, true, _) => "our WGSL kernels (node sum, BatchNorm, depthwise convolution, ReLU, pooling, weight update)",
        (_, _, true) => "our CPU kernels (node sum, depthwise and 1×1 convolutions, BatchNorm, ReLU, pooling)",
        (Kernels::Reference, ..) => "plain-tensor reference (forced)",
        (Kernels::Auto, ..) => "plain-tensor reference (this backend has no kernels of ours)",
    }
}
