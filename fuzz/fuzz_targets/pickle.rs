//! The pickle reader and the CIFAR python-format decoder on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rdarts_core::data::DataKind;

fuzz_target!(|data: &[u8]| {
    let _ = rdarts_core::formats::pickle::decode("fuzz", data);
    let _ = rdarts_core::formats::decode_cifar_py(DataKind::Cifar100, "fuzz", data);
});
