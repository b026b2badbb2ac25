//! rdarts in the browser. A placeholder until the browser teaching demo is built (issue 7): it
//! will wrap `rdarts-core` with wasm-bindgen, on WebGPU where the browser has it, else the CPU.
