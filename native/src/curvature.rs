//! `rdarts hessian` and `rdarts early-stop`: curvature of a PyTorch DARTS network, and the
//! DARTS-ES rule replayed over a λ history.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use rdarts_core::backend;
use rdarts_core::block_on;
use rdarts_core::hessian::{AlphaHessian, HessianAt, symmetric_eigen};
use rdarts_core::interop::{TensorFile, infer_config, load_batch, load_darts_state};
use rdarts_core::limits::MAX_EPOCHS;
use rdarts_core::network::Supernet;
use rdarts_core::rng::Rng;
use rdarts_core::robust::{EsRule, replay};
use rdarts_core::search::{HessianConfig, Probe, SearchConfig};
use rdarts_core::space::SpaceId;

use crate::common::BackendArg;

/// Arguments of `rdarts hessian`.
#[derive(Args, Debug)]
pub struct HessianArgs {
    /// A run directory: the state of its newest intact checkpoint, on validation batches of its
    /// data set.
    #[arg(long, conflicts_with_all = ["torch", "batch"])]
    pub run: Option<PathBuf>,
    /// Validation batches to average over (with --run).
    #[arg(long, default_value_t = 1, requires = "run")]
    pub batches: usize,
    /// The network: a DARTS search model's state dict with `alphas_normal` / `alphas_reduce`, as
    /// safetensors (the reference code's parameter names).
    #[arg(long, requires = "batch")]
    pub torch: Option<PathBuf>,
    /// The batch: safetensors with `x` (f32, N×C×H×W, normalised) and `y` (integer labels, N).
    #[arg(long, requires = "torch")]
    pub batch: Option<PathBuf>,
    /// Search space the state dict was made for (its cell count, C, nodes and classes are read
    /// from the file).
    #[arg(long, default_value = "s5")]
    pub space: String,
    /// Lanczos products at most (2 gradient evaluations each).
    #[arg(long, default_value_t = HessianConfig::default().lanczos_steps)]
    pub steps: usize,
    /// Stop once λmax and λmin are known to this relative accuracy (0: take every product).
    #[arg(long, default_value_t = HessianConfig::default().lanczos_tol)]
    pub tol: f64,
    /// Also build the dense Hessian (one product per α entry) and print every eigenvalue.
    #[arg(long)]
    pub spectrum: bool,
    /// α weight decay added to the Hessian (docs/ALGORITHM.md §6: the search's).
    #[arg(long, default_value_t = SearchConfig::default().arch_weight_decay)]
    pub arch_weight_decay: f64,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Runs `rdarts hessian`.
pub fn hessian(a: HessianArgs) -> Result<()> {
    if let Some(run) = &a.run {
        return hessian_of_run(run, &a);
    }
    let (Some(torch), Some(batch_path)) = (&a.torch, &a.batch) else {
        bail!("give either --run RUN_DIR, or --torch MODEL.safetensors with --batch BATCH.safetensors");
    };
    let space: SpaceId = a.space.parse()?;
    let (model_bytes, batch_bytes) = (read(torch)?, read(batch_path)?);
    let model = TensorFile::parse(&torch.display().to_string(), &model_bytes)?;
    let batch_file = TensorFile::parse(&batch_path.display().to_string(), &batch_bytes)?;
    let xs = batch_file.shape("x")?;
    if xs.len() != 4 || xs[2] != xs[3] {
        bail!("{}: 'x' has shape {xs:?}, expected [N, C, S, S]", batch_path.display());
    }
    let config = infer_config(&model, space, xs[2])?;
    let net = Supernet::new(&config)?;
    let backend = backend::select(a.backend.into())?;
    let (w, alpha) = load_darts_state(&model, &net, &backend.device)?;
    let batch = load_batch(&batch_file, &config)?;
    let start = std::time::Instant::now();
    let at = HessianAt { net: &net, w: &w, alpha: &alpha, batch: &batch, arch_weight_decay: a.arch_weight_decay, drop_prob: 0.0, rng: Rng::new(0) };
    let mut h = block_on(AlphaHessian::new(at, &backend.device));
    let e = block_on(h.extremes(a.steps, a.tol, 1));
    let seconds = start.elapsed().as_secs_f64();
    let spectrum = a.spectrum.then(|| {
        let n = h.dim();
        symmetric_eigen(&block_on(h.dense()), n).0
    });
    if a.json {
        let v = serde_json::json!({
            "space": config.space.to_string(), "channels": config.channels, "layers": config.layers,
            "nodes": config.nodes, "classes": config.classes, "batch": batch.y.len(), "alpha_entries": h.dim(),
            "loss": h.loss, "lambda_max": e.max, "lambda_min": e.min, "products": e.products, "residual": e.residual, "residual_min": e.residual_min,
            "seconds": seconds, "spectrum": spectrum, "backend": backend.description,
        });
        println!("{v}");
        return Ok(());
    }
    println!("backend: {backend}");
    println!(
        "network: {} C = {}, {} cells, {} nodes, {} classes; batch of {}; {} α entries",
        config.space, config.channels, config.layers, config.nodes, config.classes, batch.y.len(), h.dim()
    );
    println!("loss (training-mode BatchNorm): {:.6}", h.loss);
    println!(
        "λmax {:.6}  λmin {:.6}  (Lanczos, residual bounds {:.2e} / {:.2e}, {} products = {} gradient evaluations, {seconds:.2}s; α weight decay {} included)",
        e.max,
        e.min,
        e.residual,
        e.residual_min,
        e.products,
        2 * e.products,
        a.arch_weight_decay
    );
    if let Some(s) = spectrum {
        let text: Vec<String> = s.iter().rev().map(|v| format!("{v:.6}")).collect();
        println!("spectrum (descending): {}", text.join(" "));
    }
    Ok(())
}

fn hessian_of_run(dir: &Path, a: &HessianArgs) -> Result<()> {
    let backend = backend::select(a.backend.into())?;
    let (mut search, checkpoint) = crate::search_cmd::load_run(dir, &backend.device)?;
    let (c, spectrum) = block_on(search.curvature_probe(Probe { batches: a.batches, lanczos_steps: a.steps, lanczos_tol: a.tol, spectrum: a.spectrum }));
    if a.json {
        let v = serde_json::json!({
            "run": dir.display().to_string(), "checkpoint": checkpoint.display().to_string(), "epoch": search.epoch(),
            "lambda_max": c.lambda_max, "lambda_min": c.lambda_min, "batches": c.batches,
            "gradient_evals": c.gradient_evals, "seconds": c.seconds, "spectrum": spectrum, "backend": backend.description,
        });
        println!("{v}");
        return Ok(());
    }
    println!("backend: {backend}");
    println!("state: {} (after epoch {} of {})", checkpoint.display(), search.epoch(), search.config().epochs);
    println!(
        "λmax {:.6}  λmin {:.6}  (mean over {} validation batch(es) of {}, {} gradient evaluations, {:.2}s; α weight decay {} included)",
        c.lambda_max, c.lambda_min, c.batches, search.config().batch_size, c.gradient_evals, c.seconds, search.config().arch_weight_decay
    );
    if let Some(s) = spectrum {
        let text: Vec<String> = s.iter().rev().map(|v| format!("{v:.6}")).collect();
        println!("spectrum of the first batch (descending): {}", text.join(" "));
    }
    Ok(())
}

/// Arguments of `rdarts early-stop`.
#[derive(Args, Debug)]
pub struct EarlyStopArgs {
    /// A run's metrics.jsonl (epochs with λmax), or a text file with one λmax per line (samples
    /// every `--every` epochs from epoch 0) or `epoch λmax` pairs (0-based epochs).
    pub history: PathBuf,
    /// Local-average window, in eigenvalue samples.
    #[arg(long, default_value_t = EsRule::default().window)]
    pub window: usize,
    /// How many local averages back the comparison looks.
    #[arg(long, default_value_t = EsRule::default().delta)]
    pub delta: usize,
    /// Stop when current / earlier local average exceeds this.
    #[arg(long, default_value_t = EsRule::default().factor)]
    pub factor: f64,
    /// No stop at a rolled-back epoch before this one.
    #[arg(long, default_value_t = EsRule::default().start_epoch)]
    pub start_epoch: usize,
    /// Epochs between eigenvalue samples.
    #[arg(long, default_value_t = EsRule::default().every)]
    pub every: usize,
    /// The search's number of epochs: as in the authors' code, the rule is not applied at the last
    /// one. Read from the run's config.json when HISTORY is a run's metrics.jsonl; without either,
    /// every sample is checked.
    #[arg(long)]
    pub epochs: Option<usize>,
}

/// The search's number of epochs from the config.json beside a run's metrics.jsonl, if there is
/// one that says.
fn run_epochs(history: &Path) -> Result<Option<usize>> {
    let config = history.with_file_name("config.json");
    if history.file_name().is_none_or(|n| n != "metrics.jsonl") || !config.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&config).with_context(|| format!("{}: cannot read", config.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", config.display()))?;
    match v["epochs"].as_u64() {
        Some(0) => bail!("{}: 'epochs' must be at least 1, found 0", config.display()),
        e => Ok(e.map(|e| e as usize)),
    }
}

/// Reads a λ history: metrics.jsonl or a plain list (see [`EarlyStopArgs::history`]). For a run
/// with DARTS-ADA rollbacks only the first iteration is taken (the others restart from earlier
/// epochs).
pub fn read_history(path: &Path, every: usize) -> Result<Vec<(usize, f64)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#')) {
        let at = || format!("{}:{}", path.display(), i + 1);
        if line.trim_start().starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(line).with_context(|| format!("{}: invalid JSON", at()))?;
            if v["event"] != "epoch" || v["iteration"].as_u64().unwrap_or(1) != 1 {
                continue;
            }
            if let Some(l) = v["curvature"]["lambda_max"].as_f64() {
                let epoch = v["epoch"].as_u64().with_context(|| format!("{}: epoch event without 'epoch'", at()))?;
                if epoch > MAX_EPOCHS as u64 {
                    bail!("{}: epoch {epoch} is past the limit of {MAX_EPOCHS}", at());
                }
                out.push((epoch as usize, l));
            }
            continue;
        }
        let fields: Vec<&str> = line.split([' ', '\t', ',']).filter(|f| !f.is_empty()).collect();
        let num = |s: &str| s.parse::<f64>().with_context(|| format!("{}: '{s}' is not a number", at()));
        match fields.as_slice() {
            [l] => out.push((out.len() * every, num(l)?)),
            [e, l] => {
                let e = num(e)?;
                if e < 0.0 || e.fract() != 0.0 {
                    bail!("{}: epoch '{e}' is not a non-negative integer", at());
                }
                if e > MAX_EPOCHS as f64 {
                    bail!("{}: epoch {e} is past the limit of {MAX_EPOCHS}", at());
                }
                out.push((e as usize, num(l)?));
            }
            _ => bail!("{}: expected 'λmax' or 'epoch λmax', found '{line}'", at()),
        }
    }
    if out.is_empty() {
        bail!("{}: no λmax values found", path.display());
    }
    if let Some(w) = out.windows(2).find(|w| w[1].0 <= w[0].0) {
        bail!("{}: epochs must increase, found {} after {}", path.display(), w[1].0, w[0].0);
    }
    Ok(out)
}

/// Runs `rdarts early-stop`.
pub fn early_stop(a: EarlyStopArgs) -> Result<()> {
    #[allow(clippy::neg_cmp_op_on_partial_ord)] // a NaN factor is refused too
    if a.window == 0 || a.every == 0 || !(a.factor > 0.0) {
        bail!("--window and --every must be at least 1 and --factor positive");
    }
    for (flag, v) in [("--window", a.window), ("--delta", a.delta), ("--every", a.every), ("--start-epoch", a.start_epoch), ("--epochs", a.epochs.unwrap_or(0))] {
        if v > MAX_EPOCHS {
            bail!("{flag} must be at most {MAX_EPOCHS}, found {v}");
        }
    }
    let history = read_history(&a.history, a.every)?;
    let epochs = match a.epochs {
        Some(0) => bail!("--epochs must be at least 1"),
        Some(e) => Some(e),
        None => run_epochs(&a.history)?,
    };
    let rule = EsRule { window: a.window, delta: a.delta, factor: a.factor, start_epoch: a.start_epoch, every: a.every };
    println!("rule: window {}, delta {}, factor {}, start epoch {}, every {} epochs ({} samples)", a.window, a.delta, a.factor, a.start_epoch, a.every, history.len());
    println!("{:>6} {:>10} {:>14}", "epoch", "λmax", "local average");
    match epochs {
        Some(e) => println!("search of {e} epochs: the rule is not applied at its last epoch ({})", e - 1),
        None => println!("number of epochs unknown (--epochs): every sample is checked"),
    }
    let (rows, stop) = replay(&rule, &history, epochs.map(|e| e - 1));
    for r in &rows {
        let avg = r.local_avg.map_or(String::new(), |(e, v)| format!("{v:.4} (epoch {e})"));
        println!("{:>6} {:>10.4} {avg:>14}", r.epoch, r.lambda_max);
    }
    if let Some(stop) = stop {
        println!(
            "stop at epoch {}: local average {:.4} > {} × {:.4}; DARTS-ES returns the genotype of epoch {}; DARTS-ADA would roll back to it and raise the regularisation",
            stop.at_epoch, stop.current, a.factor, stop.previous, stop.stop_epoch
        );
        return Ok(());
    }
    println!("no stop: the rule never fired on this history");
    Ok(())
}
