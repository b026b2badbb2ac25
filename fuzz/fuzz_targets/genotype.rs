//! Genotype text (the DARTS form) and JSON on arbitrary UTF-8.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rdarts_core::genotype::Genotype;

fuzz_target!(|text: &str| {
    if let Ok(g) = text.parse::<Genotype>() {
        assert_eq!(g.to_string().parse::<Genotype>().ok(), Some(g), "text form does not read back");
    }
    if let Ok(g) = serde_json::from_str::<Genotype>(text) {
        let _ = g.validate(None);
    }
});
