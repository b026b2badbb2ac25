// Depthwise convolution, forward: y[n, c, oy, ox] = Σ_{i,j} w[c, i, j] · x[n, c, oy·s − p + i·d, ox·s − p + j·d],
// taps outside the input reading zero (a k×k filter per channel, stride s, padding p on every
// side, dilation d).
//
// One invocation per output element: it reads its k² taps of one input plane (neighbouring
// invocations read neighbouring columns) and writes once. Layouts are NCHW, contiguous; w is
// [C, 1, k, k].
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> w: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{ elem }}>;
// [N, C, H, W, Ho, Wo, k, stride, pad, dilation]
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let c_count = dims[1];
    let h = dims[2];
    let wd = dims[3];
    let ho = dims[4];
    let wo = dims[5];
    let k = dims[6];
    let stride = dims[7];
    let pad = i32(dims[8]);
    let dil = dims[9];
    // Large outputs spread over a 2-D grid (65 535 workgroups per dimension at most).
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= dims[0] * c_count * ho * wo {
        return;
    }
    let ox = i % wo;
    let oy = (i / wo) % ho;
    let plane = i / (wo * ho);
    let c = plane % c_count;
    let x_base = plane * h * wd;
    let w_base = c * k * k;
    let y0 = i32(oy * stride) - pad;
    let x0 = i32(ox * stride) - pad;
    var acc: {{ elem }} = 0.0;
    for (var ti: u32 = 0u; ti < k; ti++) {
        let iy = y0 + i32(ti * dil);
        if iy < 0 || iy >= i32(h) {
            continue;
        }
        let row = x_base + u32(iy) * wd;
        for (var tj: u32 = 0u; tj < k; tj++) {
            let ix = x0 + i32(tj * dil);
            if ix >= 0 && ix < i32(wd) {
                acc += w[w_base + ti * k + tj] * x[row + u32(ix)];
            }
        }
    }
    y[i] = acc;
}
