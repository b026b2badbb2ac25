//! The golden traces (`tests/golden/traces.json`, written by `rdarts golden --bless` on the CPU
//! backend) replayed on the CPU backend and on wgpu (lavapipe in CI): per-step losses, per-epoch α
//! and λmax of tiny fixed-seed searches in every space, first and second order, within the
//! tolerances that `rdarts_core::golden::Tolerances` states and justifies.

use rdarts_core::golden::run_trace;
use rdarts_tests::{assert_golden, golden_file};

fn replay(device: &burn::tensor::Device, name: &str) {
    let file = golden_file();
    assert_eq!(file.traces.len(), 10, "5 spaces × 2 orders");
    let replayed: Vec<_> = file.traces.iter().map(|r| rdarts_core::block_on(run_trace(r.space, r.order, device)).unwrap()).collect();
    assert_golden(name, &file, &replayed);
}

#[test]
fn golden_traces_replay_on_the_cpu_backend() {
    replay(&rdarts_tests::cpu(), "cpu");
}

#[test]
fn golden_traces_replay_on_wgpu() {
    if let Some(dev) = rdarts_tests::wgpu() {
        // Lavapipe's replay keeps both cores busy (CubeCL's client spins on its queue): not beside
        // the browser tests, whose responsiveness checks it would starve.
        let _alone = rdarts_tests::machine_to_itself();
        replay(&dev, "wgpu");
    }
}
