// Node sum, forward: out[n, s] = Σ_m coef[m, n] · y[m, n, s].
//
// y holds the M candidate outputs that reach one node (every non-zero op of every incoming edge),
// stacked: [M, N, S] with S = C·H·W. coef[m, n] = softmax(α)[e, k] · dropmask_e[n] for the
// (edge e, op k) behind m, so ScheduledDropPath's per-sample mask is folded in. One invocation per
// output element: it reads its M inputs (coalesced across the workgroup) and writes once.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> y: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> coef: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> out: array<{{ elem }}>;
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
    // Large outputs spread over a 2-D grid (65 535 workgroups per dimension at most).
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= plane {
        return;
    }
    let n = i / s_count;
    var acc: {{ elem }} = 0.0;
    for (var m: u32 = 0u; m < m_count; m++) {
        acc += coef[m * n_count + n] * y[m * plane + i];
    }
    out[i] = acc;
}
