// Max pooling, forward: y[p, oy, ox] = the largest of the k×k window's taps inside the input, and
// winner[p, oy, ox] = its flat index iy·W + ix in the plane, as a float (exact below 2^24; the
// caller checks), window (oy, ox) starting at (oy·s − pad, ox·s − pad) of plane p (N·C planes,
// NCHW, contiguous).
//
// One invocation per output element. The rule is Burn's CubeCL kernel's: the taps are scanned row
// by row from the lowest finite float; a tap replaces the winner only when strictly greater (the
// first of equal maxima wins), and the value kept is max(tap, value). Burn's kernel works on NHWC,
// so Burn permutes the input, the output and the indices around every call; this one does not.
// The winners serve the backward pass (max_pool_backward.wgsl) and the kink tape's replay
// (pool_gather.wgsl).
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup). `geom`, `element`, `position`
// and `taps` are in pool_common.wgsl.
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> y: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> winner: array<{{ elem }}>;
// [N·C, H, W, Ho, Wo, k, stride, pad]
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

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
    // The lowest finite f32, as Burn's kernel starts from.
    var best: {{ elem }} = -3.40282347e+38;
    var arg: u32 = 0u;
    for (var iy: u32 = rows.x; iy < rows.y; iy++) {
        for (var ix: u32 = cols.x; ix < cols.y; ix++) {
            let v = x[base + iy * g.w + ix];
            if v > best {
                arg = iy * g.w + ix;
            }
            best = max(v, best);
        }
    }
    y[i] = best;
    winner[i] = {{ elem }}(arg);
}
