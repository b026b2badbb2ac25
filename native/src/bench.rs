//! `rdarts bench`: time one search step (first and second order, S2 and S5), λmax by Lanczos, and
//! the process's peak memory, on one backend, with warm-up and repetitions; median and spread.
//! The data are random CIFAR-shaped images (timing does not depend on content).

use anyhow::Result;
use clap::Args;
use rdarts_core::architect::Order;
use rdarts_core::backend;
use rdarts_core::data::{Batch, Dataset, make_batch};
use rdarts_core::hessian::AlphaHessian;
use rdarts_core::network::NetConfig;
use rdarts_core::rng::Rng;
use rdarts_core::search::{HessianConfig, Search, SearchConfig};
use rdarts_core::space::SpaceId;
use serde::Serialize;

use crate::cli::BackendArg;

/// Arguments of `rdarts bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Initial channels C.
    #[arg(long, default_value_t = 16)]
    pub init_channels: usize,
    /// Cells.
    #[arg(long, default_value_t = 8)]
    pub layers: usize,
    /// Image side (3 channels).
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,
    /// Spaces to time (comma-separated).
    #[arg(long, default_value = "s2,s5", value_delimiter = ',')]
    pub spaces: Vec<String>,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Timed repetitions.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Lanczos products of the λmax measurement.
    #[arg(long, default_value_t = 20)]
    pub lanczos_steps: usize,
    /// Print JSON lines only.
    #[arg(long)]
    pub json: bool,
    /// Compare our WGSL node-sum kernels with the plain-tensor reference instead (node sum alone
    /// and whole search steps, side by side; needs --backend wgpu).
    #[arg(long)]
    pub kernels: bool,
}

/// One measurement.
#[derive(Serialize, Debug)]
pub struct Measurement {
    /// What was timed.
    pub case: String,
    /// Backend description.
    pub backend: String,
    /// Median seconds.
    pub median_s: f64,
    /// Fastest repetition.
    pub min_s: f64,
    /// Slowest repetition.
    pub max_s: f64,
    /// Timed repetitions.
    pub reps: usize,
    /// Batch, C, cells, image side.
    pub shape: [usize; 4],
}

/// The search configuration of a timed step: the bench's shape, λ tracking off.
pub(crate) fn step_config(a: &BenchArgs, space: SpaceId, order: Order) -> SearchConfig {
    SearchConfig {
        net: NetConfig { space, channels: a.init_channels, layers: a.layers, nodes: 4, ..NetConfig::default() },
        batch_size: a.batch_size,
        order,
        hessian: HessianConfig { every: 0, ..HessianConfig::default() },
        ..SearchConfig::default()
    }
}

/// Random CIFAR-shaped data and the fixed training and validation batch every timed step uses.
pub(crate) fn step_data(a: &BenchArgs) -> (Dataset, Batch, Batch) {
    let data = random_data(4 * a.batch_size, a.image_size);
    let mut rng = Rng::new(2);
    let idx: Vec<usize> = (0..a.batch_size).collect();
    let val_idx: Vec<usize> = (a.batch_size..2 * a.batch_size).collect();
    let train = make_batch(&data, &idx, None, &mut rng);
    let val = make_batch(&data, &val_idx, None, &mut rng);
    (data, train, val)
}

fn random_data(n: usize, size: usize) -> Dataset {
    let mut rng = Rng::new(1);
    let pixels = (0..n * 3 * size * size).map(|_| rng.below(256) as u8).collect();
    let labels = (0..n).map(|_| rng.below(10) as u8).collect();
    rdarts_core::data::DataKind::Cifar10.dataset("random CIFAR-shaped images", pixels, labels, 3, size).expect("valid random data")
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub(crate) fn summarise(case: String, backend: &str, mut times: Vec<f64>, shape: [usize; 4]) -> Measurement {
    times.sort_by(f64::total_cmp);
    let median = if times.len() % 2 == 1 { times[times.len() / 2] } else { 0.5 * (times[times.len() / 2 - 1] + times[times.len() / 2]) };
    Measurement { case, backend: backend.to_string(), median_s: median, min_s: times[0], max_s: *times.last().unwrap(), reps: times.len(), shape }
}

/// Runs `rdarts bench`.
pub fn bench(a: BenchArgs) -> Result<()> {
    let backend = backend::select(a.backend.into())?;
    if !a.json {
        println!("backend: {backend}");
        println!("shape: batch {}, C = {}, {} cells, {}×{}×3 images; {} warm-up + {} timed repetitions", a.batch_size, a.init_channels, a.layers, a.image_size, a.image_size, a.warmup, a.reps);
    }
    if a.kernels {
        return crate::bench_kernels::bench_kernels(&a, &backend);
    }
    let shape = [a.batch_size, a.init_channels, a.layers, a.image_size];
    let (data, train, val) = step_data(&a);
    for space in &a.spaces {
        let space: SpaceId = space.parse()?;
        for order in [Order::First, Order::Second] {
            let mut search = Search::new(step_config(&a, space, order), data.clone(), &backend.device)?;
            let mut times = Vec::new();
            for rep in 0..a.warmup + a.reps {
                let t = std::time::Instant::now();
                search.step(&train, &val, 0.025, 0.0)?;
                search.sync();
                if rep >= a.warmup {
                    times.push(t.elapsed().as_secs_f64());
                }
            }
            let m = summarise(format!("step {space} {order:?}-order").to_lowercase(), &backend.description, times, shape);
            report(&m, a.json);
            if order == Order::First {
                let mut times = Vec::new();
                for rep in 0..a.warmup + a.reps.min(3) {
                    let t = std::time::Instant::now();
                    let mut h = rdarts_core::block_on(AlphaHessian::new(&search.net, &search.weights, &search.alpha, &val, 1e-3, 0.0, &search.model_rng, &backend.device));
                    let e = h.extremes(a.lanczos_steps, 1);
                    if rep >= a.warmup {
                        times.push(t.elapsed().as_secs_f64());
                    }
                    std::hint::black_box(e);
                }
                let m = summarise(format!("lambda_max {space} lanczos {}", a.lanczos_steps).to_lowercase(), &backend.description, times, shape);
                report(&m, a.json);
            }
        }
    }
    let peak = peak_rss_mib();
    if a.json {
        println!("{}", serde_json::json!({"case": "peak_host_memory_mib", "value": peak, "device_memory": "not measured (wgpu exposes no allocator statistics)"}));
    } else {
        println!("peak host memory (VmHWM): {}", peak.map_or("not available".into(), |m| format!("{m:.0} MiB")));
        println!("device memory: not measured (wgpu exposes no allocator statistics)");
    }
    Ok(())
}

pub(crate) fn report(m: &Measurement, json: bool) {
    if json {
        println!("{}", serde_json::to_string(m).expect("serialises"));
    } else {
        println!("{:<32} median {:>9.4}s  min {:>9.4}s  max {:>9.4}s  ({} reps)", m.case, m.median_s, m.min_s, m.max_s, m.reps);
    }
}
