// Sum of squares over up to five tensors, added to a running total: out[0] = acc[0] + Σ_t Σ_i g_t[i]²
// for t < count. A chain of these launches makes the squared global norm of a supernet's
// gradients for clipping, five weight tensors per launch, where joining them into one tensor took
// a launch per tensor.
//
// One workgroup: each invocation strides over every tensor's elements, then the workgroup adds
// the partial sums as a tree (rounding grows with log of the workgroup, not with the length).
// Unused slots (t ≥ count) are bound to any tensor and not read.
//
// Placeholders: elem (float type), workgroup_size (invocations per workgroup, a power of two).
//
// Every binding is read_write although most are only read: CubeCL sub-allocates tensors from shared
// buffers, and wgpu refuses one buffer bound read-only and read-write in the same dispatch.

@group(0) @binding(0) var<storage, read_write> acc: array<{{ elem }}>;
@group(0) @binding(1) var<storage, read_write> g0: array<{{ elem }}>;
@group(0) @binding(2) var<storage, read_write> g1: array<{{ elem }}>;
@group(0) @binding(3) var<storage, read_write> g2: array<{{ elem }}>;
@group(0) @binding(4) var<storage, read_write> g3: array<{{ elem }}>;
@group(0) @binding(5) var<storage, read_write> g4: array<{{ elem }}>;
@group(0) @binding(6) var<storage, read_write> out: array<{{ elem }}>;
// [count, length of g0, …, length of g4]
@group(0) @binding(7) var<storage, read_write> dims: array<u32>;

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

var<workgroup> partial: array<{{ elem }}, {{ workgroup_size }}>;

@compute @workgroup_size({{ workgroup_size }})
fn main(@builtin(local_invocation_index) lid: u32) {
    let count = dims[0];
    var s: {{ elem }} = 0.0;
    if count > 0u {
        for (var i: u32 = lid; i < dims[1]; i += WORKGROUP_SIZE) {
            s += g0[i] * g0[i];
        }
    }
    if count > 1u {
        for (var i: u32 = lid; i < dims[2]; i += WORKGROUP_SIZE) {
            s += g1[i] * g1[i];
        }
    }
    if count > 2u {
        for (var i: u32 = lid; i < dims[3]; i += WORKGROUP_SIZE) {
            s += g2[i] * g2[i];
        }
    }
    if count > 3u {
        for (var i: u32 = lid; i < dims[4]; i += WORKGROUP_SIZE) {
            s += g3[i] * g3[i];
        }
    }
    if count > 4u {
        for (var i: u32 = lid; i < dims[5]; i += WORKGROUP_SIZE) {
            s += g4[i] * g4[i];
        }
    }
    partial[lid] = s;
    workgroupBarrier();
    for (var stride: u32 = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    if lid == 0u {
        out[0] = acc[0] + partial[0];
    }
}
