// Depthwise convolution, backward to the weight: dw[c, i, j] = Σ_{n,oy,ox} x[n, c, oy·s − p + i·d, ox·s − p + j·d] · dy[n, c, oy, ox]
// (taps outside the input contribute nothing).
//
// One workgroup per (channel, tap) pair: its invocations stride over the N·Ho·Wo output
// positions, then reduce their partial sums in workgroup memory (a tree, so the rounding error
// grows with the log of the count, not the count). Layouts are NCHW, contiguous; dw is
// [C, 1, k, k], so the pair's index is the element's.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup, a power of two). The
// geometry's reader, `geom`, is in depthwise_common.wgsl.
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> dy: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> dw: array<{{ elem }}>;
// [N, C, H, W, Ho, Wo, k, stride, pad, dilation]
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

var<workgroup> partial: array<{{ elem }}, {{ workgroup_size }}>;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) lid: u32,
) {
    let g = geom();
    // Pairs beyond 65 535 continue on the grid's second dimension.
    let pair = wid.x + wid.y * groups.x;
    let valid = pair < g.c * g.k * g.k;
    var acc: {{ elem }} = 0.0;
    if valid {
        let c = pair / (g.k * g.k);
        let tap = pair % (g.k * g.k);
        let dy_off = i32((tap / g.k) * g.dil) - g.pad;
        let dx_off = i32((tap % g.k) * g.dil) - g.pad;
        let out_plane = g.ho * g.wo;
        for (var s: u32 = lid; s < g.n * out_plane; s += WORKGROUP_SIZE) {
            let n = s / out_plane;
            let r = s % out_plane;
            let iy = i32((r / g.wo) * g.stride) + dy_off;
            let ix = i32((r % g.wo) * g.stride) + dx_off;
            if iy >= 0 && iy < i32(g.h) && ix >= 0 && ix < i32(g.w) {
                let plane = n * g.c + c;
                acc += x[plane * g.h * g.w + u32(iy) * g.w + u32(ix)] * dy[plane * out_plane + r];
            }
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var step: u32 = WORKGROUP_SIZE / 2u; step > 0u; step = step / 2u) {
        if lid < step {
            partial[lid] += partial[lid + step];
        }
        workgroupBarrier();
    }
    if valid && lid == 0u {
        dw[pair] = partial[0];
    }
}
