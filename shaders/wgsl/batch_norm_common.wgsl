// Training-mode BatchNorm, shared by its forward and backward kernels (the registry appends this
// file to each): the batch statistics of one channel, computed by the same passes in the same
// order in both, so that the backward's are the forward's to the bit.
//
// Each kernel runs one workgroup per channel c of x [N, C, H·W] and declares `x` and `dims`
// ([N, C, H·W, bits of eps as f32]) itself.

const WORKGROUP_SIZE: u32 = {{ workgroup_size }}u;

var<workgroup> partial: array<vec2<{{ elem }}>, {{ workgroup_size }}>;

// The sums of every invocation's two `values` (in every invocation): a tree in workgroup memory,
// so the rounding error grows with log M, not M. The statistics use the first component only.
fn workgroup_sum2(lid: u32, values: vec2<{{ elem }}>) -> vec2<{{ elem }}> {
    partial[lid] = values;
    workgroupBarrier();
    for (var stride: u32 = WORKGROUP_SIZE / 2u; stride > 0u; stride = stride / 2u) {
        if lid < stride {
            partial[lid] += partial[lid + stride];
        }
        workgroupBarrier();
    }
    let total = partial[0];
    // Nobody writes `partial` again before everyone has read the total.
    workgroupBarrier();
    return total;
}

// The workgroup's channel and where its values lie.
struct Channel {
    // Index, and whether it exists (a workgroup past the last channel runs its passes over no
    // values and writes nothing; it may not return early: every invocation has to reach the
    // barriers, and a value read from storage is not uniform to WGSL).
    c: u32,
    valid: bool,
    // The channel's values (N·H·W; 0 when not valid), the first one's index, the step between
    // samples and the plane's length.
    count: u32,
    base: u32,
    stride_n: u32,
    plane: u32,
    // Where the channel's gamma and beta are read (the last channel's when not valid).
    param: u32,
    eps: {{ elem }},
}

// Channels beyond 65 535 continue on the grid's second dimension.
fn channel(wid: vec3<u32>, groups: vec3<u32>) -> Channel {
    let n_count = dims[0];
    let c_count = dims[1];
    let plane = dims[2];
    let c = wid.x + wid.y * groups.x;
    let valid = c < c_count;
    return Channel(c, valid, select(0u, n_count * plane, valid), c * plane, c_count * plane, plane, min(c, c_count - 1u), {{ elem }}(bitcast<f32>(dims[3])));
}

// Where the i-th of a channel's values lies: sample i / plane, position i % plane.
fn channel_at(ch: Channel, i: u32) -> u32 {
    return ch.base + (i / ch.plane) * ch.stride_n + i % ch.plane;
}

// The channel's batch mean and biased variance. Two passes, as the reference computes them,
// rather than Σx² − (Σx)²/M, which cancels.
fn channel_stats(lid: u32, ch: Channel) -> vec2<{{ elem }}> {
    var acc: {{ elem }} = 0.0;
    for (var i: u32 = lid; i < ch.count; i += WORKGROUP_SIZE) {
        acc += x[channel_at(ch, i)];
    }
    let mean = workgroup_sum2(lid, vec2<{{ elem }}>(acc, 0.0)).x / {{ elem }}(ch.count);
    acc = 0.0;
    for (var i: u32 = lid; i < ch.count; i += WORKGROUP_SIZE) {
        let d = x[channel_at(ch, i)] - mean;
        acc += d * d;
    }
    return vec2<{{ elem }}>(mean, workgroup_sum2(lid, vec2<{{ elem }}>(acc, 0.0)).x / {{ elem }}(ch.count));
}
