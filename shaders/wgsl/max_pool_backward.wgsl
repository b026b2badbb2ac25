// Max pooling, backward: dx[p, iy, ix] = Σ dy[p, oy, ox] over the windows that include (iy, ix)
// and whose winner (max_pool_forward.wgsl) is (iy, ix). The same kernel is the backward of the
// kink tape's replay (pool_gather.wgsl), which routes through recorded winners.
//
// One invocation per input element: it gathers from the windows that cover it, in row-major order
// (as Burn's CubeCL kernel does), so no two invocations write the same element.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup). `geom`, `element`,
// `position` and `covering` are in pool_common.wgsl.
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> dy: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> winner: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> dx: array<{{ elem }}>;
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
    if i >= g.planes * g.h * g.w {
        return;
    }
    let p = position(i, g.h, g.w);
    let base = p.x * g.ho * g.wo;
    let me = {{ elem }}(p.y * g.w + p.z);
    let wy = covering(p.y, g.ho, g);
    let wx = covering(p.z, g.wo, g);
    var acc: {{ elem }} = 0.0;
    for (var oy: u32 = wy.x; oy < wy.y; oy++) {
        for (var ox: u32 = wx.x; ox < wx.y; ox++) {
            let o = base + oy * g.wo + ox;
            if winner[o] == me {
                acc += dy[o];
            }
        }
    }
    dx[i] = acc;
}
