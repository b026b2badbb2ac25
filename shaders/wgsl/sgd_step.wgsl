// SGD with momentum and L2 weight decay on one parameter tensor (PyTorch's rule, no dampening, no
// Nesterov), the gradient first scaled by the global clipping factor:
//   d = g · factor + weight_decay · p;   buf' = momentum · buf + d;   p' = p − lr · buf'.
//
// One invocation per element. One launch replaces the six element-wise launches of the same rule
// in tensor operations (the clipping product, three scalings, a sum and a difference), for each of
// a supernet's hundreds of weight tensors per step.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> p: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> g: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> buf: array<{{ elem }}>;
// One element: the clipping factor min(1, max_norm / (‖all gradients‖ + 1e-6)).
@group(0) @binding(3) var<storage, read_write> factor: array<{{ elem }}>;
@group(0) @binding(4) var<storage, read_write> p_out: array<{{ elem }}>;
@group(0) @binding(5) var<storage, read_write> buf_out: array<{{ elem }}>;
// [length, bits of lr, bits of weight_decay, bits of momentum] (the three as f32)
@group(0) @binding(6) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Long tensors spread over a 2-D grid (65 535 workgroups per dimension at most).
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= dims[0] {
        return;
    }
    let lr = {{ elem }}(bitcast<f32>(dims[1]));
    let weight_decay = {{ elem }}(bitcast<f32>(dims[2]));
    let momentum = {{ elem }}(bitcast<f32>(dims[3]));
    let d = g[i] * factor[0] + p[i] * weight_decay;
    let b = buf[i] * momentum + d;
    buf_out[i] = b;
    p_out[i] = p[i] - b * lr;
}
