//! The registry of rdarts' WGSL compute shaders.
//!
//! Every shader lives in `wgsl/*.wgsl` and is compiled in with `include_str!`, so the native
//! binary and the browser build load them the same way. Placeholders are written `{{ name }}`
//! (Burn's `SourceTemplate` syntax); the core fills them when it launches a kernel, and
//! [`ShaderSource::fill`] does the same for tools and tests that need plain WGSL.

use std::fmt;

/// A shader source and the placeholders it expects to be filled.
#[derive(Clone, Copy, Debug)]
pub struct ShaderSource {
    /// Registry name (the file name without `.wgsl`).
    pub name: &'static str,
    /// WGSL text with `{{ placeholder }}` markers.
    pub source: &'static str,
    /// Every placeholder the source uses.
    pub placeholders: &'static [&'static str],
}

/// Placeholders shared by every kernel: the float type and the workgroup size.
const ELEM_AND_WORKGROUP: &[&str] = &["elem", "workgroup_size"];

/// Node sum forward: `out[n, s] = Σ_m coef[m, n] · y[m, n, s]`.
pub const NODE_SUM_FORWARD: ShaderSource = ShaderSource {
    name: "node_sum_forward",
    source: include_str!("../wgsl/node_sum_forward.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Node sum backward to the stacked inputs: `dy[m, n, s] = coef[m, n] · dout[n, s]`.
pub const NODE_SUM_GRAD_INPUTS: ShaderSource = ShaderSource {
    name: "node_sum_grad_inputs",
    source: include_str!("../wgsl/node_sum_grad_inputs.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Node sum backward to the coefficients: `dcoef[m, n] = Σ_s y[m, n, s] · dout[n, s]`.
pub const NODE_SUM_GRAD_COEF: ShaderSource = ShaderSource {
    name: "node_sum_grad_coef",
    source: include_str!("../wgsl/node_sum_grad_coef.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Training-mode BatchNorm forward: per-channel batch mean and biased variance, and the
/// normalised, scaled and shifted output, in one launch (with `batch_norm_common.wgsl`, the
/// statistics it shares with the backward, appended).
pub const BATCH_NORM_FORWARD: ShaderSource = ShaderSource {
    name: "batch_norm_forward",
    source: concat!(include_str!("../wgsl/batch_norm_forward.wgsl"), include_str!("../wgsl/batch_norm_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Training-mode BatchNorm backward: the gradients of the input, scale and shift in one launch
/// (with `batch_norm_common.wgsl` appended).
pub const BATCH_NORM_BACKWARD: ShaderSource = ShaderSource {
    name: "batch_norm_backward",
    source: concat!(include_str!("../wgsl/batch_norm_backward.wgsl"), include_str!("../wgsl/batch_norm_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Training-mode BatchNorm's running statistics updated with a batch's (momentum, unbiased
/// variance), one invocation per channel.
pub const BATCH_NORM_RUNNING: ShaderSource = ShaderSource {
    name: "batch_norm_running",
    source: include_str!("../wgsl/batch_norm_running.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Depthwise convolution forward (a k×k filter per channel; stride, padding, dilation), one
/// invocation per output element (with `depthwise_common.wgsl`, the geometry's reader, appended,
/// as to the two backward kernels).
pub const DEPTHWISE_FORWARD: ShaderSource = ShaderSource {
    name: "depthwise_forward",
    source: concat!(include_str!("../wgsl/depthwise_forward.wgsl"), include_str!("../wgsl/depthwise_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Depthwise convolution backward to the input, gathered: one invocation per input element.
pub const DEPTHWISE_GRAD_INPUT: ShaderSource = ShaderSource {
    name: "depthwise_grad_input",
    source: concat!(include_str!("../wgsl/depthwise_grad_input.wgsl"), include_str!("../wgsl/depthwise_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Depthwise convolution backward to the weight: a workgroup tree reduction per (channel, tap).
pub const DEPTHWISE_GRAD_WEIGHT: ShaderSource = ShaderSource {
    name: "depthwise_grad_weight",
    source: concat!(include_str!("../wgsl/depthwise_grad_weight.wgsl"), include_str!("../wgsl/depthwise_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// ReLU forward, one invocation per element.
pub const RELU_FORWARD: ShaderSource = ShaderSource {
    name: "relu_forward",
    source: include_str!("../wgsl/relu_forward.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// ReLU backward (the input's gradient from the output's and the input), one invocation per
/// element.
pub const RELU_BACKWARD: ShaderSource = ShaderSource {
    name: "relu_backward",
    source: include_str!("../wgsl/relu_backward.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// SGD's update (momentum, L2 weight decay, the global clipping factor) on one parameter tensor,
/// one invocation per element.
pub const SGD_STEP: ShaderSource = ShaderSource {
    name: "sgd_step",
    source: include_str!("../wgsl/sgd_step.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Sum of squares of up to five tensors added to a running total, one workgroup (a link of the
/// chain that makes the squared global norm of the gradients).
pub const SUM_SQUARES: ShaderSource = ShaderSource {
    name: "sum_squares",
    source: include_str!("../wgsl/sum_squares.wgsl"),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Average pooling forward (a k×k window; stride, padding; padding not counted), one invocation
/// per output element (with `pool_common.wgsl`, the geometry's reader and the window ranges,
/// appended, as to the other pooling kernels).
pub const AVG_POOL_FORWARD: ShaderSource = ShaderSource {
    name: "avg_pool_forward",
    source: concat!(include_str!("../wgsl/avg_pool_forward.wgsl"), include_str!("../wgsl/pool_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Average pooling backward to the input, gathered: one invocation per input element.
pub const AVG_POOL_BACKWARD: ShaderSource = ShaderSource {
    name: "avg_pool_backward",
    source: concat!(include_str!("../wgsl/avg_pool_backward.wgsl"), include_str!("../wgsl/pool_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Max pooling forward: the maximum and its flat in-plane index (the winner), one invocation per
/// output element.
pub const MAX_POOL_FORWARD: ShaderSource = ShaderSource {
    name: "max_pool_forward",
    source: concat!(include_str!("../wgsl/max_pool_forward.wgsl"), include_str!("../wgsl/pool_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Max pooling backward to the input through the winners, gathered: one invocation per input
/// element.
pub const MAX_POOL_BACKWARD: ShaderSource = ShaderSource {
    name: "max_pool_backward",
    source: concat!(include_str!("../wgsl/max_pool_backward.wgsl"), include_str!("../wgsl/pool_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Max pooling replayed through recorded winners (the kink tape), one invocation per output
/// element.
pub const POOL_GATHER: ShaderSource = ShaderSource {
    name: "pool_gather",
    source: concat!(include_str!("../wgsl/pool_gather.wgsl"), include_str!("../wgsl/pool_common.wgsl")),
    placeholders: ELEM_AND_WORKGROUP,
};

/// Every registered shader.
pub const SHADERS: &[ShaderSource] = &[
    NODE_SUM_FORWARD,
    NODE_SUM_GRAD_INPUTS,
    NODE_SUM_GRAD_COEF,
    BATCH_NORM_FORWARD,
    BATCH_NORM_BACKWARD,
    BATCH_NORM_RUNNING,
    DEPTHWISE_FORWARD,
    DEPTHWISE_GRAD_INPUT,
    DEPTHWISE_GRAD_WEIGHT,
    RELU_FORWARD,
    RELU_BACKWARD,
    SGD_STEP,
    SUM_SQUARES,
    AVG_POOL_FORWARD,
    AVG_POOL_BACKWARD,
    MAX_POOL_FORWARD,
    MAX_POOL_BACKWARD,
    POOL_GATHER,
];

/// Storage buffers a kernel may bind: WebGPU guarantees 8 per shader stage.
pub const MAX_STORAGE_BUFFERS: usize = 8;

/// A placeholder without a value, or a value for a placeholder the source lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FillError {
    /// The source uses `{{ name }}` but no value was given.
    Missing(String),
    /// A value was given for a name the shader does not declare.
    Unknown(String),
}

impl fmt::Display for FillError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FillError::Missing(n) => write!(f, "no value for placeholder '{n}'"),
            FillError::Unknown(n) => write!(f, "the shader has no placeholder '{n}'"),
        }
    }
}

impl std::error::Error for FillError {}

impl ShaderSource {
    /// The source with every placeholder replaced by its value.
    pub fn fill(&self, values: &[(&str, &str)]) -> Result<String, FillError> {
        if let Some((name, _)) = values.iter().find(|(n, _)| !self.placeholders.contains(n)) {
            return Err(FillError::Unknown((*name).to_string()));
        }
        let mut out = String::with_capacity(self.source.len());
        let mut rest = self.source;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").map(|e| start + e).ok_or_else(|| FillError::Missing("unterminated {{".into()))?;
            let name = rest[start + 2..end].trim();
            let value = values.iter().find(|(n, _)| *n == name).ok_or_else(|| FillError::Missing(name.to_string()))?;
            out.push_str(value.1);
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Names between `{{` and `}}` in the source, in order of first appearance.
    pub fn used_placeholders(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        let mut rest = self.source;
        while let Some(start) = rest.find("{{") {
            let Some(end) = rest[start..].find("}}") else { break };
            let name = rest[start + 2..start + end].trim();
            if !names.contains(&name) {
                names.push(name);
            }
            rest = &rest[start + end + 2..];
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_replaces_every_marker_and_refuses_gaps() {
        let filled = NODE_SUM_FORWARD.fill(&[("elem", "f32"), ("workgroup_size", "64")]).unwrap();
        assert!(!filled.contains("{{"), "unfilled marker left");
        assert!(filled.contains("@workgroup_size(64)"));
        assert_eq!(NODE_SUM_FORWARD.fill(&[("elem", "f32")]), Err(FillError::Missing("workgroup_size".into())));
        assert_eq!(
            NODE_SUM_FORWARD.fill(&[("elem", "f32"), ("workgroup_size", "64"), ("tile", "8")]),
            Err(FillError::Unknown("tile".into()))
        );
    }

    #[test]
    fn declared_placeholders_are_exactly_the_used_ones() {
        for s in SHADERS {
            let mut used = s.used_placeholders();
            used.sort_unstable();
            let mut declared = s.placeholders.to_vec();
            declared.sort_unstable();
            assert_eq!(used, declared, "{}", s.name);
        }
    }
}
