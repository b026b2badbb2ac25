// Depthwise convolution, backward to the input: dx[n, c, iy, ix] = Σ w[c, i, j] · dy[n, c, oy, ox]
// over the taps (i, j) and output positions with oy·s − p + i·d = iy and ox·s − p + j·d = ix
// (the forward pass's sum, gathered from the input's side: no two invocations write one element).
//
// One invocation per input element: for each tap it finds the one output position that read it
// through that tap, if any (the offset must be a multiple of the stride and land inside the
// output). Layouts are NCHW, contiguous; w is [C, 1, k, k].
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
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
    let c_count = dims[1];
    let h = dims[2];
    let wd = dims[3];
    let ho = dims[4];
    let wo = dims[5];
    let k = dims[6];
    let stride = i32(dims[7]);
    let pad = i32(dims[8]);
    let dil = dims[9];
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= dims[0] * c_count * h * wd {
        return;
    }
    let ix = i32(i % wd);
    let iy = i32((i / wd) % h);
    let plane = i / (wd * h);
    let c = plane % c_count;
    let dy_base = plane * ho * wo;
    let w_base = c * k * k;
    var acc: {{ elem }} = 0.0;
    for (var ti: u32 = 0u; ti < k; ti++) {
        // oy · stride = iy + pad − ti · dil
        let ty = iy + pad - i32(ti * dil);
        if ty < 0 || ty % stride != 0 || ty / stride >= i32(ho) {
            continue;
        }
        let row = dy_base + u32(ty / stride) * wo;
        for (var tj: u32 = 0u; tj < k; tj++) {
            let tx = ix + pad - i32(tj * dil);
            if tx >= 0 && tx % stride == 0 && tx / stride < i32(wo) {
                acc += w[w_base + ti * k + tj] * dy[row + u32(tx / stride)];
            }
        }
    }
    dx[i] = acc;
}
