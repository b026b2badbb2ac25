//! The golden traces (`tests/golden/traces.json`, written by `rdarts golden --bless` on the CPU
//! backend) replayed on the CPU backend and on wgpu (lavapipe in CI): per-step losses, per-epoch α
//! and λmax of tiny fixed-seed searches in every space, first and second order, within the
//! tolerances that `rdarts_core::golden::Tolerances` states and justifies.

use rdarts_core::golden::{GoldenFile, Tolerances, deviation, run_trace};

fn golden() -> GoldenFile {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/traces.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn replay(device: &burn::tensor::Device, name: &str) {
    let file = golden();
    assert_eq!(file.traces.len(), 10, "5 spaces × 2 orders");
    let mut failures = Vec::new();
    for recorded in &file.traces {
        let t = run_trace(recorded.space, recorded.order, device).unwrap();
        let d = deviation(recorded, &t);
        eprintln!("{name} {} {:?}: {d:?}", recorded.space, recorded.order);
        if !d.within(&Tolerances::for_order(recorded.order)) {
            failures.push(format!("{} {:?}: {d:?}", recorded.space, recorded.order));
        }
    }
    assert!(failures.is_empty(), "{name}: traces outside tolerance (if the change is intended, run `rdarts golden --bless` and review the diff): {failures:#?}");
}

#[test]
fn golden_traces_replay_on_the_cpu_backend() {
    replay(&rdarts_tests::cpu(), "cpu");
}

#[test]
fn golden_traces_replay_on_wgpu() {
    if let Some(dev) = rdarts_tests::wgpu() {
        replay(&dev, "wgpu");
    }
}
