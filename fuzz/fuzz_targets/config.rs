//! Search configuration files (JSON) on arbitrary UTF-8: parsed, validated, and a valid one's
//! network built and its memory estimated.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rdarts_core::search::SearchConfig;

fuzz_target!(|text: &str| {
    let Ok(config) = serde_json::from_str::<SearchConfig>(text) else { return };
    if config.validate().is_ok() {
        let _ = rdarts_core::memory::search_bytes(&config);
        let _ = rdarts_core::network::Supernet::new(&config.net);
    }
});
