// The kink tape's replay of a max pool: y[p, o] = x[p, winner[p, o]], the winners recorded by
// max_pool_forward.wgsl at the base point, so the routing stays fixed while x moves. Its backward
// is max_pool_backward.wgsl with the same winners.
//
// One invocation per output element. Sizes as the other pooling kernels'.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup). `geom`, `element` and
// `position` are in pool_common.wgsl.
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> winner: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> y: array<{{ elem }}>;
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
    y[i] = x[position(i, g.ho, g.wo).x * g.h * g.w + u32(winner[i])];
}
