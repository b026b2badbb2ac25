// Training-mode BatchNorm's running statistics, updated with a batch's (PyTorch's rule, the
// variance made unbiased first):
//   mean' = (1 − m) · mean + m · batch_mean;   var' = (1 − m) · var + m · (unbias · batch_var)
// with momentum m and unbias = count / (count − 1).
//
// One invocation per channel. One launch replaces the seven element-wise launches of the same
// rule in tensor operations, for each of a training pass's hundreds of BatchNorms.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> running_mean: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> running_var: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> batch_mean: array<{{ elem }}>;
@group(0) @binding(3) var<storage, read_write> batch_var: array<{{ elem }}>;
@group(0) @binding(4) var<storage, read_write> mean_out: array<{{ elem }}>;
@group(0) @binding(5) var<storage, read_write> var_out: array<{{ elem }}>;
// [C, bits of 1 − m, bits of m, bits of unbias] (the three as f32)
@group(0) @binding(6) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

@compute @workgroup_size({{ workgroup_size }})
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let c = gid.x + gid.y * groups.x * WORKGROUP_SIZE;
    if c >= dims[0] {
        return;
    }
    let keep = {{ elem }}(bitcast<f32>(dims[1]));
    let m = {{ elem }}(bitcast<f32>(dims[2]));
    let unbias = {{ elem }}(bitcast<f32>(dims[3]));
    mean_out[c] = running_mean[c] * keep + batch_mean[c] * m;
    var_out[c] = running_var[c] * keep + (batch_var[c] * unbias) * m;
}
