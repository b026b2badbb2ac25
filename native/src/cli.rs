//! Command-line interface: argument parsing, turning arguments into a [`SearchConfig`], and the
//! `search` command's progress output and artifacts.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use rdarts_core::architect::Order;
use rdarts_core::backend::{self, BackendChoice};
use rdarts_core::search::{Search, SearchConfig, SearchEvent};
use rdarts_core::space::SpaceId;

use crate::datasets::{self, DatasetName};
use crate::rundir::RunDir;

/// rdarts: differentiable architecture search (DARTS, RobustDARTS) on any GPU or the CPU.
#[derive(Parser, Debug)]
#[command(name = "rdarts", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an architecture search (default: a small demo on the embedded digits).
    Search(SearchArgs),
}

/// Starting points for a search's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small and fast: finishes in minutes on a laptop CPU.
    Demo,
    /// The paper's search setting (C = 16, 8 cells, batch 64, 50 epochs, second order).
    Paper,
}

/// α gradient order on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OrderArg {
    /// First order.
    First,
    /// Second order (unrolled).
    Second,
}

/// Backend on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// A GPU through wgpu if there is one, else the CPU.
    Auto,
    /// The CPU backend.
    Cpu,
    /// wgpu on any adapter, software ones included.
    Wgpu,
}

/// Arguments of `rdarts search`. Flags override the config file, which overrides the preset.
#[derive(Args, Debug)]
pub struct SearchArgs {
    /// Starting settings.
    #[arg(long, value_enum, default_value_t = Preset::Demo)]
    pub preset: Preset,
    /// A TOML or JSON file holding a search configuration (missing fields: the paper's values).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Search space: s1, s2, s3, s4 or s5 (the original DARTS space).
    #[arg(long)]
    pub space: Option<String>,
    /// First- or second-order α gradient.
    #[arg(long, value_enum)]
    pub order: Option<OrderArg>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Random seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Initial learning rate of the weights.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning rate of α.
    #[arg(long)]
    pub arch_lr: Option<f64>,
    /// Weight decay of the weights (R-DARTS(L2) raises it).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Initial channels C.
    #[arg(long)]
    pub init_channels: Option<usize>,
    /// Number of cells.
    #[arg(long)]
    pub layers: Option<usize>,
    /// Intermediate nodes per cell.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Use only the first N images (0 = all).
    #[arg(long)]
    pub max_images: Option<usize>,
    /// Maximum ScheduledDropPath probability.
    #[arg(long)]
    pub drop_path_prob: Option<f64>,
    /// Cutout side length (0 = off).
    #[arg(long)]
    pub cutout: Option<usize>,
    /// Probability of Cutout per image (its maximum when scheduled).
    #[arg(long)]
    pub cutout_prob: Option<f64>,
    /// R-DARTS(L2): weight decay from the paper's grid, level 0–4 = 3e-4, 9e-4, 27e-4, 81e-4, 243e-4.
    #[arg(long, value_name = "LEVEL")]
    pub rdarts_l2: Option<usize>,
    /// R-DARTS(DP): ScheduledDropPath from the paper's grid, level 0–3 = 0, 0.2, 0.4, 0.6, with
    /// Cutout 16 on the same schedule when above 0.
    #[arg(long, value_name = "LEVEL")]
    pub rdarts_dp: Option<usize>,
    /// Data set.
    #[arg(long, value_enum, default_value_t = DatasetName::Digits)]
    pub dataset: DatasetName,
    /// Folder holding the data set's files.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
    pub backend: BackendArg,
    /// Run directory for config, metrics and genotypes.
    #[arg(long, default_value = "runs/search")]
    pub out: PathBuf,
    /// Replace a run already in --out.
    #[arg(long)]
    pub overwrite: bool,
    /// No progress bars (one line per epoch only).
    #[arg(long)]
    pub quiet: bool,
}

/// Reads a configuration file (TOML or JSON by extension, else by content).
pub fn read_config_file(path: &Path) -> Result<SearchConfig> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let is_json = path.extension().is_some_and(|e| e == "json") || text.trim_start().starts_with('{');
    if is_json {
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON configuration", path.display()))
    } else {
        toml::from_str(&text).with_context(|| format!("{}: invalid TOML configuration", path.display()))
    }
}

/// Turns arguments into a validated configuration: preset, then file, then flags.
pub fn search_config(a: &SearchArgs) -> Result<SearchConfig> {
    let mut c = match &a.config {
        Some(p) => read_config_file(p)?,
        None => match a.preset {
            Preset::Demo => SearchConfig::demo(),
            Preset::Paper => SearchConfig::paper(),
        },
    };
    if let Some(s) = &a.space {
        c.net.space = s.parse::<SpaceId>()?;
    }
    if let Some(o) = a.order {
        c.order = match o {
            OrderArg::First => Order::First,
            OrderArg::Second => Order::Second,
        };
    }
    macro_rules! set {
        ($($flag:ident => $($field:ident).+),* $(,)?) => { $( if let Some(v) = a.$flag { c.$($field).+ = v; } )* };
    }
    set!(epochs => epochs, batch_size => batch_size, seed => seed, lr => lr, arch_lr => arch_lr,
         weight_decay => weight_decay, init_channels => net.channels, layers => net.layers,
         nodes => net.nodes, max_images => max_images, drop_path_prob => drop_path_prob);
    if let Some(level) = a.rdarts_l2 {
        c = c.with_rdarts_l2(level)?;
    }
    if let Some(level) = a.rdarts_dp {
        c = c.with_rdarts_dp(level)?;
    }
    set!(cutout => augment.cutout, cutout_prob => augment.cutout_prob);
    c.validate()?;
    Ok(c)
}

/// Entry point: parses arguments and runs the command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Search(a) => search(a),
    }
}

fn search(a: SearchArgs) -> Result<()> {
    let config = search_config(&a)?;
    let loading = std::time::Instant::now();
    let data = datasets::load(a.dataset, a.data.as_deref())?;
    let load_seconds = loading.elapsed().as_secs_f64();
    let choice = match a.backend {
        BackendArg::Auto => BackendChoice::Auto,
        BackendArg::Cpu => BackendChoice::Cpu,
        BackendArg::Wgpu => BackendChoice::Wgpu,
    };
    let backend = backend::select(choice)?;
    println!("backend: {backend}");
    let mut run = RunDir::create(&a.out, a.overwrite)?;
    let mut search = Search::new(config, data, &backend.device)?;
    let cfg = search.config.clone();
    run.write("config.json", serde_json::to_string_pretty(&cfg)?.as_bytes())?;
    println!(
        "search: space {}, {} order, {} epochs, batch {}, C = {}, {} cells, {} nodes, {} weights, {} α, data: {} ({} images, loaded in {:.2}s)",
        cfg.net.space,
        if cfg.order == Order::First { "first" } else { "second" },
        cfg.epochs,
        cfg.batch_size,
        cfg.net.channels,
        cfg.net.layers,
        cfg.net.nodes,
        search.net.num_params(),
        search.net.space.alpha_len(),
        search.data().name,
        search.data().len(),
        load_seconds,
    );
    while !search.finished() {
        let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{}/{}", search.epoch + 1, cfg.epochs));
        let mut metric_err = None;
        let report = search.run_epoch(&mut |ev| {
            if let SearchEvent::Step(s) = ev {
                bar.set_length(s.steps as u64);
                bar.set_position(s.step as u64 + 1);
                bar.set_message(format!("loss {:.3} acc {:.1}%", s.train_loss, 100.0 * s.train_acc));
            }
            if let Err(e) = run.metric(&serde_json::to_value(ev).expect("events serialise")) {
                metric_err.get_or_insert(e);
            }
        })?;
        bar.finish_and_clear();
        if let Some(e) = metric_err {
            return Err(e);
        }
        println!(
            "epoch {}/{}: train loss {:.3} acc {:.1}% | valid loss {:.3} acc {:.1}% | lr {:.4} | {:.1}s",
            report.epoch + 1,
            cfg.epochs,
            report.train_loss,
            100.0 * report.train_acc,
            report.valid_loss,
            100.0 * report.valid_acc,
            report.lr,
            report.seconds
        );
        run.append("genotypes.txt", &format!("epoch {} {}", report.epoch, report.genotype))?;
    }
    let g = search.genotype();
    run.write("genotype.txt", format!("{g}\n").as_bytes())?;
    run.write("genotype.json", serde_json::to_string_pretty(&g)?.as_bytes())?;
    println!("found: {g}");
    println!(
        "normal cell: {} of {} chosen ops are parameter-free; results in {}",
        g.parameter_free_normal(),
        g.normal.len(),
        run.path.display()
    );
    Ok(())
}
