//! PyTorch DARTS state dicts (safetensors) for `rdarts hessian --torch`: parsed, configuration
//! inferred, network built when the configuration is valid.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rdarts_core::space::SpaceId;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = rdarts_core::interop::TensorFile::parse("fuzz", data) else { return };
    if let Ok(config) = rdarts_core::interop::infer_config(&file, SpaceId::S5, 8) {
        let _ = rdarts_core::network::Supernet::new(&config);
    }
});
