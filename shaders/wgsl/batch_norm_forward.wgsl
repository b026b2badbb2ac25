// Training-mode BatchNorm, forward: per channel c of x [N, C, H·W], the batch mean and biased
// variance, and y = (x − mean) / √(var + eps) · gamma[c] + beta[c].
//
// One workgroup per channel, in three passes over the channel's N·H·W values: the mean and the
// variance about it (`channel_stats`, batch_norm_common.wgsl), then the output. One launch
// replaces the reference's chain of layout copies, reductions and element-wise kernels.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup, a power of two).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> gamma: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> beta: array<{{ elem }}>;
@group(0) @binding(3) var<storage, read_write> y: array<{{ elem }}>;
@group(0) @binding(4) var<storage, read_write> mean_out: array<{{ elem }}>;
@group(0) @binding(5) var<storage, read_write> var_out: array<{{ elem }}>;
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
    let scale = gamma[ch.param] / sqrt(stats.y + ch.eps);
    let shift = beta[ch.param];
    for (var i: u32 = lid; i < ch.count; i += WORKGROUP_SIZE) {
        let at = channel_at(ch, i);
        y[at] = (x[at] - stats.x) * scale + shift;
    }
    if ch.valid && lid == 0u {
        mean_out[ch.c] = stats.x;
        var_out[ch.c] = stats.y;
    }
}
