//! IDX files (MNIST format), gzipped or not, on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rdarts_core::formats::decode_idx("fuzz", data, 8, 3);
    let _ = rdarts_core::formats::decode_idx("fuzz", data, 8, 1);
});
