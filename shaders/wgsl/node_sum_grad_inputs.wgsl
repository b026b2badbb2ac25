// Node sum, backward to the inputs: dy[m, n, s] = coef[m, n] · dout[n, s].
//
// One invocation per output position (n, s): it reads dout once and writes the M input gradients,
// each write coalesced across the workgroup.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> coef: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> dout: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> dy: array<{{ elem }}>;
// [M, N, S]
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let m_count = dims[0];
    let n_count = dims[1];
    let s_count = dims[2];
    let plane = n_count * s_count;
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= plane {
        return;
    }
    let n = i / s_count;
    let g = dout[i];
    for (var m: u32 = 0u; m < m_count; m++) {
        dy[m * plane + i] = coef[m * n_count + n] * g;
    }
}
