// Average pooling, forward: y[p, oy, ox] = the mean of the k×k window's taps that lie inside the
// input (padding is not counted: PyTorch's count_include_pad=False, as in DARTS' pooling ops),
// window (oy, ox) starting at (oy·s − pad, ox·s − pad) of plane p (N·C planes, NCHW, contiguous).
//
// One invocation per output element: it sums its taps row by row and divides once, as Burn's
// CubeCL kernel does, without its layout copies (that kernel works on NHWC, so Burn permutes the
// input and output around every call).
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup). The geometry's
// reader, `geom`, `element`, `position` and `taps` are in pool_common.wgsl.
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> y: array<{{ elem }}>;
// [N·C, H, W, Ho, Wo, k, stride, pad]
@group(0) @binding(2) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let g = geom();
    let i = element(gid, groups);
    if i >= g.planes * g.ho * g.wo {
        return;
    }
    let o = position(i, g.ho, g.wo);
    let base = o.x * g.h * g.w;
    let rows = taps(o.y, g.h, g);
    let cols = taps(o.z, g.w, g);
    var sum: {{ elem }} = 0.0;
    for (var iy: u32 = rows.x; iy < rows.y; iy++) {
        for (var ix: u32 = cols.x; ix < cols.y; ix++) {
            sum += x[base + iy * g.w + ix];
        }
    }
    y[i] = sum / {{ elem }}((rows.y - rows.x) * (cols.y - cols.x));
}
