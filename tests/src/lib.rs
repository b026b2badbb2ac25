//! Shared fixtures of the integration tests: tiny networks, random batches, and the devices to
//! run on (the CPU backend always; wgpu where an adapter exists).

use burn::tensor::Device;
use rdarts_core::backend::{self, BackendChoice};
use rdarts_core::data::Batch;
use rdarts_core::golden::{GoldenFile, Tolerances, Trace, deviation};
use rdarts_core::hessian::{AlphaHessian, HessianAt};
use rdarts_core::network::{Alpha, NetConfig, Supernet};
use rdarts_core::params::{Weights, init_weights, read};
use rdarts_core::rng::Rng;
use rdarts_core::space::SpaceId;

mod scratch;
pub use scratch::Scratch;

/// A tensor's values on the host: the tests' blocking read (the core's reads are async).
pub fn to_vec<const D: usize>(t: &burn::tensor::Tensor<D>) -> Vec<f32> {
    rdarts_core::block_on(read(t))
}

/// The α Hessian of the validation loss at (`w`, `alpha`) on `batch`, with α weight decay `wd`,
/// no drop-path and the random stream of seed 0.
pub fn alpha_hessian<'a>(net: &'a Supernet, w: &'a Weights, alpha: &'a Alpha, batch: &'a Batch, wd: f64, device: &Device) -> AlphaHessian<'a> {
    let at = HessianAt { net, w, alpha, batch, arch_weight_decay: wd, drop_prob: 0.0, rng: Rng::new(0) };
    rdarts_core::block_on(AlphaHessian::new(at, device))
}

/// A 3-epoch search on 64 embedded digits with a supernet of C = 4, 3 cells, 2 nodes in `space`
/// (seconds on a CPU).
pub fn tiny_search(space: SpaceId) -> rdarts_core::search::SearchConfig {
    rdarts_core::search::SearchConfig {
        net: NetConfig { space, channels: 4, layers: 3, nodes: 2, ..NetConfig::default() },
        epochs: 3,
        batch_size: 16,
        seed: 5,
        max_images: 64,
        eval_images: 16,
        ..rdarts_core::search::SearchConfig::default()
    }
}

/// A network small enough for finite differences: C = 4, 3 cells (both reduction types of
/// cell and the FactorizedReduce preprocessing occur), 2 nodes, 8×8 single-channel input, 3 classes.
pub fn tiny_config(space: SpaceId) -> NetConfig {
    NetConfig { space, channels: 4, layers: 3, nodes: 2, classes: 3, in_channels: 1, image_size: 8, ..NetConfig::default() }
}

/// Network, weights and α (α drawn N(0, 0.5²) so that the softmax is far from uniform and the
/// gradients are large enough to check in float32).
pub fn tiny_setup(space: SpaceId, seed: u64, device: &Device) -> (Supernet, Weights, Alpha) {
    setup(&tiny_config(space), seed, device)
}

/// Network, weights and α for any configuration (see [`tiny_setup`]).
pub fn setup(config: &NetConfig, seed: u64, device: &Device) -> (Supernet, Weights, Alpha) {
    let net = Supernet::new(config).expect("valid config");
    let mut rng = Rng::new(seed);
    let w = init_weights(&net.specs, &mut rng, device);
    let (e, k) = (net.space.edges(), net.space.ops_per_edge());
    let n: Vec<f32> = rng.normal_vec(e * k).iter().map(|v| 0.5 * v).collect();
    let r: Vec<f32> = rng.normal_vec(e * k).iter().map(|v| 0.5 * v).collect();
    let alpha = Alpha::from_host(&n, &r, e, k, device);
    (net, w, alpha)
}

/// A batch of N(0, 1) pixels and uniform labels.
pub fn random_batch(n: usize, cfg: &NetConfig, seed: u64) -> Batch {
    let mut rng = Rng::new(seed);
    let shape = [n, cfg.in_channels, cfg.image_size, cfg.image_size];
    Batch { x: rng.normal_vec(shape.iter().product()), shape, y: (0..n).map(|_| rng.below(cfg.classes)).collect() }
}

/// The CPU device.
pub fn cpu() -> Device {
    backend::cpu().device
}

/// A wgpu device on any adapter (lavapipe in CI). Panics when there is none, unless
/// `RDARTS_SKIP_WGPU=1` is set, in which case it returns `None` and the caller skips, loudly.
/// When `RDARTS_WGPU_ADAPTER` is set (test.sh sets `Vulkan`), the adapter's description must
/// contain it, so that a silent fallback to another graphics API fails the test.
pub fn wgpu() -> Option<Device> {
    match backend::select(BackendChoice::Wgpu) {
        Ok(b) => {
            eprintln!("wgpu test device: {}", b.description);
            if let Ok(want) = std::env::var("RDARTS_WGPU_ADAPTER") {
                assert!(b.description.contains(&want), "wgpu chose '{}', expected an adapter matching '{want}'", b.description);
            }
            Some(b.device)
        }
        Err(e) if std::env::var("RDARTS_SKIP_WGPU").as_deref() == Ok("1") => {
            eprintln!("SKIPPED wgpu test (RDARTS_SKIP_WGPU=1): {e}");
            None
        }
        Err(e) => panic!("no wgpu adapter ({e}); install lavapipe (scripts/install-lavapipe.sh) or set RDARTS_SKIP_WGPU=1"),
    }
}

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Largest absolute value.
pub fn max_abs(a: &[f32]) -> f32 {
    a.iter().fold(0.0f32, |m, x| m.max(x.abs()))
}

/// Asserts that a kernel's result `k` is within `rel · max|r| + abs` of the reference's `r`
/// everywhere, and prints the largest difference beside the tolerance.
pub fn assert_close(what: &str, r: &[f32], k: &[f32], rel: f32, abs: f32) {
    let diff = max_abs_diff(r, k);
    let tol = rel * max_abs(r) + abs;
    eprintln!("{what}: max |kernel − reference| = {diff:.3e} (tolerance {tol:.3e}, max |reference| = {:.3e})", max_abs(r));
    assert!(diff <= tol, "{what}: kernel differs from the reference by {diff:e} > {tol:e}");
}

/// The committed golden traces, `tests/golden/traces.json`.
pub fn golden_file() -> GoldenFile {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/traces.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `replayed` (one trace per recorded one, in the file's order) with the committed traces
/// under the per-order tolerances that `Tolerances` states, printing every deviation; panics
/// listing each trace outside them. `name` says where they were replayed.
pub fn assert_golden(name: &str, file: &GoldenFile, replayed: &[Trace]) {
    assert_eq!(replayed.len(), file.traces.len(), "{name}: one replay per recorded trace");
    let mut failures = Vec::new();
    for (recorded, replay) in file.traces.iter().zip(replayed) {
        assert_eq!((recorded.space, recorded.order), (replay.space, replay.order), "{name}: traces out of order");
        let d = deviation(recorded, replay);
        eprintln!("{name} {} {:?}: {d:?}", recorded.space, recorded.order);
        if !d.within(&Tolerances::for_order(recorded.order)) {
            failures.push(format!("{} {:?}: {d:?}", recorded.space, recorded.order));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: traces outside tolerance (if the change is intended, run `rdarts golden --bless` and review the diff): {failures:#?}"
    );
}

/// Held by tests that must not share this (2-core) machine with each other: one headless Chromium
/// at a time (two starve each other's timers), and neither beside lavapipe's golden replay, which
/// keeps both cores busy while the browser tests check the page's responsiveness by the clock.
pub fn machine_to_itself() -> std::sync::MutexGuard<'static, ()> {
    static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    ALONE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
