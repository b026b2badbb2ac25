//! The arguments of `rdarts search` and how they become a [`SearchConfig`]: preset, then
//! configuration file, then flags, then validation.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use rdarts_core::kernels::Kernels;
use rdarts_core::search::{AdaTarget, Method, RobustConfig, RobustMode, SearchConfig};
use rdarts_core::space::SpaceId;

use crate::common::{LmArgs, OrderArg, RunArgs, ScheduleArgs, read_config_file_as};

/// The finite difference's random draws on the command line (`architect::FdDraws`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FdDrawsArg {
    /// Fresh draws in each pass (the authors' code).
    Fresh,
    /// The same draws in both passes.
    Replay,
}

/// RS-ws's BatchNorm mode on the command line (`search::RsBatchNorm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RsBatchNormArg {
    /// Evaluation mode (running statistics), as the authors' code.
    Eval,
    /// Training mode (each batch's statistics).
    Train,
}

/// Starting points for a search's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// Small and fast: finishes in minutes on a laptop CPU.
    Demo,
    /// The paper's search setting (C = 16, 8 cells, batch 64, 50 epochs, second order).
    Paper,
}

/// Search method on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MethodArg {
    /// Differentiable architecture search.
    Darts,
    /// Random search with weight sharing.
    RsWs,
}

/// DARTS-ES/ADA on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RobustArg {
    /// Track λmax only (where DARTS-ES would stop is still reported).
    Off,
    /// DARTS-ES.
    Es,
    /// DARTS-ADA.
    Ada,
}

/// DARTS-ADA presets (docs/ALGORITHM.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AdaPreset {
    /// The reference code's defaults: weight decay ×3 up to 243e-4.
    Reference,
    /// The authors' launch scripts: ×10 up to 0.03.
    LaunchScripts,
}

/// What DARTS-ADA raises, on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AdaTargetArg {
    /// The weights' L2 factor.
    WeightDecay,
    /// The maximum drop-path probability (+0.2 up to 0.6, with Cutout).
    DropPath,
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
    /// Epochs, batch size, seed, learning rate, C, cells, images used.
    #[command(flatten)]
    pub schedule: ScheduleArgs,
    /// First- or second-order α gradient.
    #[arg(long, value_enum)]
    pub order: Option<OrderArg>,
    /// The random draws (drop-path, S4 noise) of the second-order step's two finite-difference
    /// passes: `fresh` in each, as the authors' code (default), or `replay` the same draws.
    #[arg(long, value_enum)]
    pub fd_draws: Option<FdDrawsArg>,
    /// Learning rate of α.
    #[arg(long)]
    pub arch_lr: Option<f64>,
    /// Weight decay of the weights (R-DARTS(L2) raises it).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Intermediate nodes per cell.
    #[arg(long)]
    pub nodes: Option<usize>,
    /// Shrink the images by this factor before the search (2: 32×32 → 16×16 by 2×2 block means).
    #[arg(long, value_name = "FACTOR")]
    pub downsample: Option<usize>,
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
    /// DARTS, or random search with weight sharing (the paper's baseline).
    #[arg(long, value_enum)]
    pub method: Option<MethodArg>,
    /// RS-ws: sampled architectures ranked at the end.
    #[arg(long)]
    pub rs_candidates: Option<usize>,
    /// RS-ws: validation batches per candidate.
    #[arg(long)]
    pub rs_eval_batches: Option<usize>,
    /// RS-ws: the best N candidates scored again on the whole validation half (0: off).
    #[arg(long, value_name = "N")]
    pub rs_rerank: Option<usize>,
    /// RS-ws: BatchNorm when candidates are scored: `eval` (running statistics, the authors'
    /// code) or `train` (each batch's statistics).
    #[arg(long, value_enum)]
    pub rs_batch_norm: Option<RsBatchNormArg>,
    /// Compute λmax every N epochs and at the last (0 = never; default 2).
    #[arg(long, value_name = "N")]
    pub hessian_every: Option<usize>,
    /// Lanczos products per λ computation at most (2 gradient evaluations each; default 20).
    #[arg(long)]
    pub lanczos_steps: Option<usize>,
    /// Stop Lanczos once λmax and λmin are known to this relative accuracy (residual bound; 0 =
    /// always take --lanczos-steps products; default 0.01).
    #[arg(long, value_name = "TOL")]
    pub lanczos_tol: Option<f64>,
    /// Average λ over this many validation batches (1 = the reference's single batch).
    #[arg(long)]
    pub hessian_batches: Option<usize>,
    /// DARTS-ES (stop when λmax climbs), DARTS-ADA (roll back and raise the regularisation), or off.
    #[arg(long, value_enum)]
    pub robust: Option<RobustArg>,
    /// DARTS-ADA's raise: the reference code's (×3 up to 243e-4) or its launch scripts' (×10 up to
    /// 0.03, what the published runs used; the default with `--preset paper`).
    #[arg(long, value_enum)]
    pub ada_preset: Option<AdaPreset>,
    /// What DARTS-ADA raises.
    #[arg(long, value_enum)]
    pub ada_target: Option<AdaTargetArg>,
    /// DARTS-ES window (eigenvalue samples per local average).
    #[arg(long)]
    pub es_window: Option<usize>,
    /// DARTS-ES delta (local averages back).
    #[arg(long)]
    pub es_delta: Option<usize>,
    /// DARTS-ES factor (stop when current / earlier average exceeds it).
    #[arg(long)]
    pub es_factor: Option<f64>,
    /// No DARTS-ES stop at a rolled-back epoch before this one.
    #[arg(long)]
    pub es_start_epoch: Option<usize>,
    /// DARTS-ADA weight-decay multiplier.
    #[arg(long)]
    pub ada_mul_factor: Option<f64>,
    /// DARTS-ADA's largest weight decay.
    #[arg(long)]
    pub ada_max_weight_decay: Option<f64>,
    /// Data, backend, --overwrite, --quiet.
    #[command(flatten)]
    pub run: RunArgs,
    /// Image classification or language modelling, and the language model's sizes.
    #[command(flatten)]
    pub lm: LmArgs,
    /// Kernels: `auto` (ours where the backend has them: the node sum, the depthwise convolution
    /// and BatchNorm in WGSL on wgpu and as loops on the CPU backend, the 1×1 convolution as a
    /// matrix product on both, SGD's update and BatchNorm's running statistics in WGSL on wgpu) or `reference` (Burn's plain tensor ops everywhere; for comparison
    /// and as an escape hatch).
    #[arg(long, alias = "node-sum", default_value = "auto")]
    pub kernels: Kernels,
    /// Steps to queue on the device between two reads of their losses (default: 1 on the CPU, 10
    /// on wgpu, where each read waits for the GPU). Results do not depend on it; progress and a
    /// diverged loss show when the steps are read.
    #[arg(long, value_name = "STEPS")]
    pub read_every: Option<usize>,
    /// Run directory for config, metrics and genotypes.
    #[arg(long, default_value = "runs/search")]
    pub out: PathBuf,
    /// Checkpoints to keep (one is written after every epoch; DARTS-ADA keeps as many as it may
    /// roll back over).
    #[arg(long, default_value_t = 3)]
    pub keep_checkpoints: usize,
}

/// Turns arguments into a validated configuration: preset, then file, then flags.
pub fn search_config(a: &SearchArgs) -> Result<SearchConfig> {
    crate::common::refuse_lm_flags(&a.lm)?;
    let mut c = match &a.config {
        Some(p) => read_config_file_as(p)?,
        None => match a.preset {
            Preset::Demo => SearchConfig::demo(),
            Preset::Paper => SearchConfig::paper(),
        },
    };
    if let Some(s) = &a.space {
        c.net.space = s.parse::<SpaceId>()?;
    }
    if let Some(d) = a.fd_draws {
        c.fd_draws = match d {
            FdDrawsArg::Fresh => rdarts_core::architect::FdDraws::Fresh,
            FdDrawsArg::Replay => rdarts_core::architect::FdDraws::Replay,
        };
    }
    if let Some(o) = a.order {
        c.order = o.into();
    }
    macro_rules! set {
        ($($flag:ident).+ => $($field:ident).+) => { if let Some(v) = a.$($flag).+ { c.$($field).+ = v; } };
        ($($($flag:ident).+ => $($field:ident).+),* $(,)?) => { $( set!($($flag).+ => $($field).+); )* };
    }
    set!(schedule.epochs => epochs, schedule.batch_size => batch_size, schedule.seed => seed, schedule.lr => lr,
         arch_lr => arch_lr, weight_decay => weight_decay, schedule.init_channels => net.channels,
         schedule.layers => net.layers, nodes => net.nodes, schedule.max_images => max_images, downsample => downsample,
         drop_path_prob => drop_path_prob);
    if let Some(level) = a.rdarts_l2 {
        c = c.with_rdarts_l2(level)?;
    }
    if let Some(level) = a.rdarts_dp {
        c = c.with_rdarts_dp(level)?;
    }
    set!(cutout => augment.cutout, cutout_prob => augment.cutout_prob);
    if let Some(m) = a.method {
        c.method = match m {
            MethodArg::Darts => Method::Darts,
            MethodArg::RsWs => Method::RsWs,
        };
    }
    set!(rs_candidates => rs_candidates, rs_eval_batches => rs_eval_batches, rs_rerank => rs_rerank);
    if let Some(b) = a.rs_batch_norm {
        c.rs_batch_norm = match b {
            RsBatchNormArg::Eval => rdarts_core::search::RsBatchNorm::Eval,
            RsBatchNormArg::Train => rdarts_core::search::RsBatchNorm::Train,
        };
    }
    if let Some(m) = a.robust {
        c.robust.mode = match m {
            RobustArg::Off => RobustMode::Off,
            RobustArg::Es => RobustMode::Es,
            RobustArg::Ada => RobustMode::Ada,
        };
    }
    // DARTS-ADA with the paper preset runs as the published runs did: the authors' launch
    // scripts (scripts/DARTS-ADA_search.sh: --mul_factor 10 --max_weight_decay 0.03), not their
    // code's defaults (src/search/args.py:67-68: ×3 up to 243e-4), unless --ada-preset says which.
    let ada_preset = a.ada_preset.or((a.preset == Preset::Paper && c.robust.mode == RobustMode::Ada).then_some(AdaPreset::LaunchScripts));
    if let Some(p) = ada_preset {
        let preset = match p {
            AdaPreset::Reference => RobustConfig::default(),
            AdaPreset::LaunchScripts => RobustConfig::launch_scripts(),
        };
        (c.robust.mul_factor, c.robust.max_weight_decay) = (preset.mul_factor, preset.max_weight_decay);
    }
    if let Some(t) = a.ada_target {
        c.robust.target = match t {
            AdaTargetArg::WeightDecay => AdaTarget::WeightDecay,
            AdaTargetArg::DropPath => AdaTarget::DropPath,
        };
    }
    set!(hessian_every => hessian.every, lanczos_steps => hessian.lanczos_steps, lanczos_tol => hessian.lanczos_tol, hessian_batches => hessian.batches,
         es_window => robust.window, es_delta => robust.delta, es_factor => robust.factor,
         es_start_epoch => robust.start_epoch, ada_mul_factor => robust.mul_factor,
         ada_max_weight_decay => robust.max_weight_decay);
    c.validate()?;
    Ok(c)
}
