//! MATLAB level-5 MAT-files (SVHN) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = rdarts_core::formats::svhn_dataset("fuzz", data);
});
