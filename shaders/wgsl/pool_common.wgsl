
// Shared by the pooling kernels (appended to each by the registry): the geometry in the size
// buffer `dims`, [N·C, H, W, Ho, Wo, k, stride, pad], an invocation's element and its position,
// a window's taps inside the input, and the windows that cover an input row or column (for the
// backward kernels, which gather from the input's side).

struct Geom {
    planes: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    k: u32,
    stride: u32,
    pad: i32,
}

fn geom() -> Geom {
    return Geom(dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], i32(dims[7]));
}

// The element of this invocation: large arrays spread over a 2-D grid (65 535 workgroups per
// dimension at most).
fn element(gid: vec3<u32>, groups: vec3<u32>) -> u32 {
    return gid.x + gid.y * groups.x * WORKGROUP_SIZE;
}

// (plane, row, column) of element i of planes of rows × cols.
fn position(i: u32, rows: u32, cols: u32) -> vec3<u32> {
    return vec3<u32>(i / (rows * cols), (i / cols) % rows, i % cols);
}

// The first and one past the last window index (along one axis of `outputs` windows) whose
// k taps, starting at `window · stride − pad`, include input position `pos`.
fn covering(pos: u32, outputs: u32, g: Geom) -> vec2<u32> {
    let reach = i32(pos) + g.pad;
    let first = max(reach - i32(g.k) + i32(g.stride), 0) / i32(g.stride);
    let last = min(reach / i32(g.stride) + 1, i32(outputs));
    return vec2<u32>(u32(first), u32(max(last, first)));
}

// The taps of window `o` (starting at o·stride − pad) that lie inside an axis of `len` positions:
// the first and one past the last.
fn taps(o: u32, len: u32, g: Geom) -> vec2<u32> {
    let start = i32(o * g.stride) - g.pad;
    return vec2<u32>(u32(max(start, 0)), u32(min(start + i32(g.k), i32(len))));
}
