//! The registry of rdarts' WGSL compute shaders.
//!
//! Every shader lives in `wgsl/*.wgsl` and is compiled in with `include_str!`, so the native
//! binary and the browser build load them the same way. The mixed-operation kernels arrive with
//! issue 3 ("Our own WGSL compute shaders"); until then the registry is empty and the core uses
//! its plain-tensor reference on every backend.

/// A shader source and the placeholders it expects to be filled.
#[derive(Clone, Copy, Debug)]
pub struct ShaderSource {
    /// Registry name.
    pub name: &'static str,
    /// WGSL text with `{{placeholder}}` markers.
    pub source: &'static str,
}

/// Every registered shader.
pub const SHADERS: &[ShaderSource] = &[];
