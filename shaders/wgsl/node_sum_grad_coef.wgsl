// Node sum, backward to the coefficients: dcoef[m, n] = Σ_s y[m, n, s] · dout[n, s].
//
// One workgroup per (m, n) pair: its invocations stride over s, then reduce their partial sums in
// workgroup memory (a tree, so the rounding error grows with log S, not S). The weight gradient
// dw[e, k] and the α gradient through the softmax follow from dcoef by ordinary tensor algebra on
// [M, N] values.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup, a power of two).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> y: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> dout: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> dcoef: array<{{ elem }}>;
// [M, N, S]
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

var<workgroup> partial: array<{{ elem }}, {{ workgroup_size }}>;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let m_count = dims[0];
    let n_count = dims[1];
    let s_count = dims[2];
    // Pairs beyond 65 535 continue on the grid's second dimension.
    let pair = wid.x + wid.y * groups.x;
    let valid = pair < m_count * n_count;
    var acc: {{ elem }} = 0.0;
    if valid {
        let n = pair % n_count;
        let y_base = pair * s_count;
        let g_base = n * s_count;
        for (var s: u32 = lid; s < s_count; s += WORKGROUP_SIZE) {
            acc += y[y_base + s] * dout[g_base + s];
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var stride: u32 = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    if valid && lid == 0u {
        dcoef[pair] = partial[0];
    }
}
