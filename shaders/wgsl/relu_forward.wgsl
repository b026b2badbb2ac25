// ReLU, forward: y = max(x, 0), one invocation per element (one launch, where a comparison and a
// masked fill take two).
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> y: array<{{ elem }}>;
// [length]
@group(0) @binding(2) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // Long tensors spread over a 2-D grid (65 535 workgroups per dimension at most).
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= dims[0] {
        return;
    }
    // As the reference (Burn's): zero where x ≤ 0, x elsewhere, so a NaN passes through (a
    // diverged search must stay visible), which max(x, 0) need not do.
    y[i] = select(x[i], {{ elem }}(0.0), x[i] <= {{ elem }}(0.0));
}
