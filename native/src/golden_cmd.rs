//! `rdarts golden`: replay the golden traces on a backend and compare them with the committed
//! file, or (with `--bless`) rewrite the file and print what changed.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use rdarts_core::backend;
use rdarts_core::golden::{GOLDEN_VERSION, GoldenFile, Tolerances, cases, deviation, run_trace};

use crate::common::BackendArg;

/// Arguments of `rdarts golden`.
#[derive(Args, Debug)]
pub struct GoldenArgs {
    /// The golden file.
    #[arg(long, default_value = "tests/golden/traces.json")]
    pub file: PathBuf,
    /// Where to compute.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    /// Rewrite the file with this backend's traces (a reviewed decision: the differences are printed).
    #[arg(long)]
    pub bless: bool,
}

/// Runs `rdarts golden`.
pub fn golden(a: GoldenArgs) -> Result<()> {
    let backend = backend::select(a.backend.into())?;
    println!("backend: {backend}");
    let old: Option<GoldenFile> = match std::fs::read_to_string(&a.file) {
        Ok(t) => Some(serde_json::from_str(&t).with_context(|| format!("{}: invalid golden file", a.file.display()))?),
        Err(_) if a.bless => None,
        Err(e) => bail!("{}: cannot read ({e}); create it with --bless", a.file.display()),
    };
    if let Some(o) = &old
        && o.version != GOLDEN_VERSION
        && !a.bless
    {
        bail!("{}: golden format version {}, this rdarts writes {GOLDEN_VERSION}; re-bless", a.file.display(), o.version);
    }
    for order in [rdarts_core::architect::Order::First, rdarts_core::architect::Order::Second] {
        let t = Tolerances::for_order(order);
        println!("tolerances, {order:?} order: loss {:.0e} relative, α {:.0e} absolute, λmax {:.0e} relative", t.loss_rel, t.alpha_abs, t.lambda_rel);
    }
    println!("{:<5} {:<6} {:>10} {:>10} {:>10}", "space", "order", "loss", "α", "λmax");
    let mut traces = Vec::new();
    let mut failed = 0;
    for (space, order) in cases() {
        let t = rdarts_core::block_on(run_trace(space, order, &backend.device))?;
        let recorded = old.as_ref().and_then(|o| o.traces.iter().find(|r| r.space == t.space && r.order == t.order));
        match recorded {
            Some(r) => {
                let d = deviation(r, &t);
                let ok = d.within(&Tolerances::for_order(order));
                failed += usize::from(!ok);
                println!(
                    "{:<5} {:<6} {:>10.2e} {:>10.2e} {:>10.2e}  {}",
                    space.to_string(),
                    format!("{order:?}").to_lowercase(),
                    d.loss_rel,
                    d.alpha_abs,
                    d.lambda_rel,
                    if d.shape_mismatch { "SHAPE DIFFERS" } else if ok { "ok" } else { "OUTSIDE TOLERANCE" }
                );
            }
            None => println!("{:<5} {:<6} (not in the file)", space.to_string(), format!("{order:?}").to_lowercase()),
        }
        traces.push(t);
    }
    if a.bless {
        let file = GoldenFile { version: GOLDEN_VERSION, made_with: format!("rdarts {} on {}", env!("CARGO_PKG_VERSION"), backend.description), traces };
        if let Some(dir) = a.file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        crate::rundir::write_atomic(&a.file, format!("{}\n", serde_json::to_string_pretty(&file)?).as_bytes())?;
        println!("wrote {} (the deviations above are from the previous file)", a.file.display());
        return Ok(());
    }
    if failed > 0 {
        bail!("{failed} trace(s) differ from {} beyond tolerance", a.file.display());
    }
    println!("all traces within tolerance of {}", a.file.display());
    Ok(())
}
