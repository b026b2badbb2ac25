// Depthwise convolution, forward: y[n, c, oy, ox] = Σ_{i,j} w[c, i, j] · x[n, c, oy·s − p + i·d, ox·s − p + j·d],
// taps outside the input reading zero (a k×k filter per channel, stride s, padding p on every
// side, dilation d).
//
// One invocation per output element: it reads its k² taps of one input plane (neighbouring
// invocations read neighbouring columns) and writes once. Layouts are NCHW, contiguous; w is
// [C, 1, k, k].
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup). The geometry's
// reader, `geom`, is in depthwise_common.wgsl.
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
    let g = geom();
    // Large outputs spread over a 2-D grid (65 535 workgroups per dimension at most).
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= g.n * g.c * g.ho * g.wo {
        return;
    }
    let ox = i % g.wo;
    let oy = (i / g.wo) % g.ho;
    let plane = i / (g.wo * g.ho);
    let x_base = plane * g.h * g.w;
    let w_base = (plane % g.c) * g.k * g.k;
    let y0 = i32(oy * g.stride) - g.pad;
    let x0 = i32(ox * g.stride) - g.pad;
    var acc: {{ elem }} = 0.0;
    for (var ti: u32 = 0u; ti < g.k; ti++) {
        let iy = y0 + i32(ti * g.dil);
        if iy < 0 || iy >= i32(g.h) {
            continue;
        }
        let row = x_base + u32(iy) * g.w;
        for (var tj: u32 = 0u; tj < g.k; tj++) {
            let ix = x0 + i32(tj * g.dil);
            if ix >= 0 && ix < i32(g.w) {
                acc += w[w_base + ti * g.k + tj] * x[row + u32(ix)];
            }
        }
    }
    y[i] = acc;
}
