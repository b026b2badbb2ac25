//! What the benchmarks share: their arguments (the shape, warm-up and repetitions), the fixed
//! data every timed step uses, and measurements (median and spread) with their output.

use clap::Args;
use rdarts_core::architect::Order;
use rdarts_core::data::{Batch, DataKind, Dataset, make_batch};
use rdarts_core::network::NetConfig;
use rdarts_core::rng::Rng;
use rdarts_core::search::{HessianConfig, SearchConfig};
use rdarts_core::space::SpaceId;
use serde::Serialize;

use crate::common::{BackendArg, OrderArg};

/// Arguments of `rdarts bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Batch size.
    #[arg(long, default_value_t = SearchConfig::default().batch_size)]
    pub batch_size: usize,
    /// Initial channels C.
    #[arg(long, default_value_t = NetConfig::default().channels)]
    pub init_channels: usize,
    /// Cells.
    #[arg(long, default_value_t = NetConfig::default().layers)]
    pub layers: usize,
    /// Image side (3 channels).
    #[arg(long, default_value_t = 32)]
    pub image_size: usize,
    /// Spaces to time (comma-separated).
    #[arg(long, default_value = "s2,s5", value_delimiter = ',')]
    pub spaces: Vec<String>,
    /// α-gradient orders to time (comma-separated: first, second).
    #[arg(long, value_enum, default_value = "first,second", value_delimiter = ',')]
    pub orders: Vec<OrderArg>,
    /// Untimed repetitions first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Timed repetitions (at least 1).
    #[arg(long, default_value_t = 5, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub reps: usize,
    /// Lanczos products of the λmax measurement at most.
    #[arg(long, default_value_t = HessianConfig::default().lanczos_steps)]
    pub lanczos_steps: usize,
    /// Lanczos' relative residual tolerance (0: take every product).
    #[arg(long, default_value_t = HessianConfig::default().lanczos_tol)]
    pub lanczos_tol: f64,
    /// Print JSON lines only.
    #[arg(long)]
    pub json: bool,
    /// Compare our kernels with the plain-tensor reference instead, side by side: the kernels alone
    /// (the depthwise convolution and the node sum) and whole search steps.
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
    /// Seconds of each timed repetition, in order (a trend shows something growing).
    pub times_s: Vec<f64>,
    /// Resident memory of the process after each timed repetition, MiB (Linux `VmRSS`; empty
    /// where unavailable): flat when nothing is retained across repetitions.
    pub rss_mib: Vec<f64>,
}

/// What each timed repetition took and left behind.
#[derive(Debug, Default)]
pub struct Samples {
    /// Seconds per timed repetition.
    pub seconds: Vec<f64>,
    /// Resident memory after each timed repetition, MiB.
    pub rss_mib: Vec<f64>,
}

impl Samples {
    /// Records one repetition that started at `start`.
    pub fn record(&mut self, start: std::time::Instant) {
        self.seconds.push(start.elapsed().as_secs_f64());
        self.rss_mib.extend(rss_mib());
    }
}

/// Times `run` over `warmup` untimed and `reps` timed repetitions.
pub fn time_reps<E>(warmup: usize, reps: usize, mut run: impl FnMut() -> Result<(), E>) -> Result<Samples, E> {
    let mut samples = Samples::default();
    for rep in 0..warmup + reps {
        let start = std::time::Instant::now();
        run()?;
        if rep >= warmup {
            samples.record(start);
        }
    }
    Ok(samples)
}

/// The search configuration of a timed step: the bench's shape, λ tracking off.
pub fn step_config(a: &BenchArgs, space: SpaceId, order: Order) -> SearchConfig {
    SearchConfig {
        net: NetConfig { space, channels: a.init_channels, layers: a.layers, ..NetConfig::default() },
        batch_size: a.batch_size,
        order,
        hessian: HessianConfig { every: 0, ..HessianConfig::default() },
        ..SearchConfig::default()
    }
}

/// Random CIFAR-shaped data and the fixed training and validation batch every timed step uses.
pub fn step_data(a: &BenchArgs) -> (Dataset, Batch, Batch) {
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
    DataKind::Cifar10.dataset("random CIFAR-shaped images", pixels, labels, 3, size).expect("valid random data")
}

/// A memory figure of this process from Linux's `/proc/self/status` (`VmHWM`, `VmRSS`), in MiB.
fn status_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status.lines().find(|l| l.starts_with(key))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Peak resident memory of this process (Linux `VmHWM`), in MiB.
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// Resident memory of this process now (Linux `VmRSS`), in MiB.
pub fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

/// Median, fastest and slowest of the repetitions in `samples`, with every repetition kept.
pub fn summarise(case: String, backend: &str, samples: Samples, shape: [usize; 4]) -> Measurement {
    let mut times = samples.seconds.clone();
    times.sort_by(f64::total_cmp);
    let median = if times.len() % 2 == 1 { times[times.len() / 2] } else { 0.5 * (times[times.len() / 2 - 1] + times[times.len() / 2]) };
    Measurement {
        case,
        backend: backend.to_string(),
        median_s: median,
        min_s: times[0],
        max_s: *times.last().expect("at least one repetition"),
        reps: times.len(),
        shape,
        times_s: samples.seconds,
        rss_mib: samples.rss_mib,
    }
}

/// Prints one measurement (a JSON line with `json`).
pub fn report(m: &Measurement, json: bool) {
    if json {
        println!("{}", serde_json::to_string(m).expect("serialises"));
    } else {
        println!("{:<32} median {:>9.4}s  min {:>9.4}s  max {:>9.4}s  ({} reps)", m.case, m.median_s, m.min_s, m.max_s, m.reps);
        let times: Vec<String> = m.times_s.iter().map(|t| format!("{t:.3}")).collect();
        let rss: Vec<String> = m.rss_mib.iter().map(|r| format!("{r:.0}")).collect();
        println!("{:<32} per repetition: seconds [{}], resident MiB after [{}]", "", times.join(", "), rss.join(", "));
    }
}
