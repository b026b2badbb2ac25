// ReLU, backward: dx = 0 where x ≤ 0, else dy (ReLU'(0) = 0, as PyTorch and Burn take it), one
// invocation per element (one launch, where a comparison and a masked fill take two).
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> x: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> dy: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> dx: array<{{ elem }}>;
// [length]
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let i = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if i >= dims[0] {
        return;
    }
    dx[i] = select(dy[i], {{ elem }}(0.0), x[i] <= {{ elem }}(0.0));
}
