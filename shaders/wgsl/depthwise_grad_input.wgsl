// Depthwise convolution, backward to the input: dx[n, c, iy, ix] = Σ w[c, i, j] · dy[n, c, oy, ox]
// over the taps (i, j) and output positions with oy·s − p + i·d = iy and ox·s − p + j·d = ix
// (the forward pass's sum, gathered from the input's side: no two invocations write one element).
//
// One invocation per input element: for each tap it finds the one output position that read it
// through that tap, if any (the offset must be a multiple of the stride and land inside the
// output). Layouts are NCHW, contiguous; w is [C, 1, k, k].
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup). The geometry's
// reader, `geom`, is in depthwise_common.wgsl.
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> dy: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> w: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> dx: array<{{ elem }}>;
// [N, C, H, W, Ho, Wo, k, stride, pad, dilation]
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let g = geom();
    let stride = i32(g.stride);
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= g.n * g.c * g.h * g.w {
        return;
    }
    let ix = i32(i % g.w);
    let iy = i32((i / g.w) % g.h);
    let plane = i / (g.w * g.h);
    let dy_base = plane * g.ho * g.wo;
    let w_base = (plane % g.c) * g.k * g.k;
    var acc: {{ elem }} = 0.0;
    for (var ti: u32 = 0u; ti < g.k; ti++) {
        // oy · stride = iy + pad − ti · dil
        let ty = iy + g.pad - i32(ti * g.dil);
        if ty < 0 || ty % stride != 0 || ty / stride >= i32(g.ho) {
            continue;
        }
        let row = dy_base + u32(ty / stride) * g.wo;
        for (var tj: u32 = 0u; tj < g.k; tj++) {
            let tx = ix + g.pad - i32(tj * g.dil);
            if tx >= 0 && tx % stride == 0 && tx / stride < i32(g.wo) {
                acc += w[w_base + ti * g.k + tj] * dy[row + u32(tx / stride)];
            }
        }
    }
    dx[i] = acc;
}
