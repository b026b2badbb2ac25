// Depthwise convolution, backward to the weight: dw[c, i, j] = Σ_{n,oy,ox} x[n, c, oy·s − p + i·d, ox·s − p + j·d] · dy[n, c, oy, ox]
// (taps outside the input contribute nothing).
//
// One workgroup per (channel, tap) pair: its invocations stride over the N·Ho·Wo output
// positions, then reduce their partial sums in workgroup memory (a tree, so the rounding error
// grows with the log of the count, not the count). Layouts are NCHW, contiguous; dw is
// [C, 1, k, k], so the pair's index is the element's.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup, a power of two).
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
    let n_count = dims[0];
    let c_count = dims[1];
    let h = dims[2];
    let wd = dims[3];
    let ho = dims[4];
    let wo = dims[5];
    let k = dims[6];
    let stride = dims[7];
    let pad = i32(dims[8]);
    let dil = dims[9];
    // Pairs beyond 65 535 continue on the grid's second dimension.
    let pair = wid.x + wid.y * groups.x;
    let valid = pair < c_count * k * k;
    var acc: {{ elem }} = 0.0;
    if valid {
        let c = pair / (k * k);
        let tap = pair % (k * k);
        let dy_off = i32((tap / k) * dil) - pad;
        let dx_off = i32((tap % k) * dil) - pad;
        let out_plane = ho * wo;
        for (var s: u32 = lid; s < n_count * out_plane; s += WORKGROUP_SIZE) {
            let n = s / out_plane;
            let r = s % out_plane;
            let iy = i32((r / wo) * stride) + dy_off;
            let ix = i32((r % wo) * stride) + dx_off;
            if iy >= 0 && iy < i32(h) && ix >= 0 && ix < i32(wd) {
                let plane = n * c_count + c;
                acc += x[plane * h * wd + u32(iy) * wd + u32(ix)] * dy[plane * out_plane + r];
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
