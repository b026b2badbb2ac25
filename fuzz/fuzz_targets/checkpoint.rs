//! Search checkpoints (safetensors with checksummed JSON metadata) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rdarts_core::search::Snapshot::from_bytes("fuzz", data);
});
