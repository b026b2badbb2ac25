// Training-mode BatchNorm, backward: from the output gradient dy and the forward's input x [N, C,
// H·W], with x̂ = (x − mean) / σ, σ = √(var + eps) and M = N·H·W per channel c:
// dbeta[c] = Σ dy, dgamma[c] = Σ dy · x̂, dx = gamma[c] / σ · (dy − dbeta[c] / M − x̂ · dgamma[c] / M).
//
// One workgroup per channel. The batch statistics are recomputed from x by the forward's own
// passes (`channel_stats`, batch_norm_common.wgsl), so they are the forward's to the bit: binding
// the forward's mean and variance as well would take nine storage buffers, one more than WebGPU
// guarantees. Then one pass reduces Σ dy and Σ dy · (x − mean) together, and one writes dx.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup, a power of two).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> dy: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> gamma: array<{{ elem }}>;
@group(0) @binding(3) var<storage, read_write> dx: array<{{ elem }}>;
@group(0) @binding(4) var<storage, read_write> dgamma: array<{{ elem }}>;
@group(0) @binding(5) var<storage, read_write> dbeta: array<{{ elem }}>;
// [N, C, H·W, bits of eps as f32]
@group(0) @binding(6) var<storage, read_write> dims: array<u32>;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let ch = channel(wid, groups);
    let stats = channel_stats(lid, ch);
    let mean = stats.x;
    let inv_std = 1.0 / sqrt(stats.y + ch.eps);

    var sum_dy: {{ elem }} = 0.0;
    var sum_dy_xc: {{ elem }} = 0.0;
    for (var i: u32 = lid; i < ch.count; i += WORKGROUP_SIZE) {
        let at = channel_at(ch, i);
        let g = dy[at];
        sum_dy += g;
        sum_dy_xc += g * (x[at] - mean);
    }
    let sums = workgroup_sum2(lid, vec2<{{ elem }}>(sum_dy, sum_dy_xc));
    let db = sums.x;
    let dg = sums.y * inv_std;

    let scale = gamma[ch.param] * inv_std;
    let mean_dy = db / {{ elem }}(ch.count);
    let mean_dy_xhat = dg / {{ elem }}(ch.count);
    for (var i: u32 = lid; i < ch.count; i += WORKGROUP_SIZE) {
        let at = channel_at(ch, i);
        dx[at] = scale * (dy[at] - mean_dy - (x[at] - mean) * inv_std * mean_dy_xhat);
    }
    if ch.valid && lid == 0u {
        dgamma[ch.c] = dg;
        dbeta[ch.c] = db;
    }
}
