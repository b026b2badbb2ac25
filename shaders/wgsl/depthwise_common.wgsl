
// Shared by the depthwise convolution's three kernels (appended to each by the registry): the
// geometry in the size buffer `dims`, [N, C, H, W, Ho, Wo, k, stride, pad, dilation].

struct Geom {
    n: u32,
    c: u32,
    h: u32,
    w: u32,
    ho: u32,
    wo: u32,
    k: u32,
    stride: u32,
    pad: i32,
    dil: u32,
}

fn geom() -> Geom {
    return Geom(dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], dims[7], i32(dims[8]), dims[9]);
}
