//! `rdarts genotype`: print, convert (JSON ↔ DARTS text), draw and validate a genotype.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use rdarts_core::draw::{cell_dot, cell_svg};
use rdarts_core::evalnet::EvalConfig;
use rdarts_core::genotype::Genotype;
use rdarts_core::space::{SearchSpace, SpaceId};

/// Output forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenotypeFormat {
    /// The DARTS text form, `Genotype(normal=[...], ...)`.
    Text,
    /// JSON.
    Json,
    /// Graphviz DOT of both cells.
    Dot,
    /// An SVG drawing of both cells.
    Svg,
}

/// Arguments of `rdarts genotype`.
#[derive(Args, Debug)]
pub struct GenotypeArgs {
    /// A genotype: DARTS text (`Genotype(normal=[...], ...)`), a .json or .txt file, or a run
    /// directory (its genotype.json).
    pub genotype: String,
    /// What to print.
    #[arg(long, value_enum, default_value_t = GenotypeFormat::Text)]
    pub to: GenotypeFormat,
    /// Check the genotype against a search space (s1–s5): every op on its edge's list.
    #[arg(long)]
    pub space: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Also print the parameter count of its evaluation network (docs/ALGORITHM.md §11; with the paper's
    /// CIFAR-10 shape unless changed below), without and with the auxiliary head.
    #[arg(long)]
    pub params: bool,
    /// Evaluation network: initial channels (with --params).
    #[arg(long, default_value_t = EvalConfig::default().channels)]
    pub init_channels: usize,
    /// Evaluation network: cells (with --params).
    #[arg(long, default_value_t = EvalConfig::default().layers)]
    pub layers: usize,
    /// Evaluation network: classes (with --params).
    #[arg(long, default_value_t = EvalConfig::default().classes)]
    pub classes: usize,
}

/// Reads a genotype from DARTS text, a file (JSON or text) or a run directory.
pub fn load_genotype(spec: &str) -> Result<Genotype> {
    let trimmed = spec.trim();
    if trimmed.starts_with("Genotype(") {
        return Ok(trimmed.parse()?);
    }
    let path = Path::new(spec);
    let file = if path.is_dir() { path.join("genotype.json") } else { path.to_path_buf() };
    let text = std::fs::read_to_string(&file).with_context(|| {
        format!("{}: cannot read (give DARTS text 'Genotype(...)', a .json/.txt file or a run directory)", file.display())
    })?;
    let t = text.trim();
    if t.starts_with('{') {
        let g: Genotype = serde_json::from_str(t).with_context(|| format!("{}: invalid genotype JSON", file.display()))?;
        g.validate(None).with_context(|| file.display().to_string())?;
        Ok(g)
    } else {
        t.parse::<Genotype>().with_context(|| file.display().to_string())
    }
}

/// Both cells side by side in one SVG document.
pub fn genotype_svg(g: &Genotype) -> String {
    let a = cell_svg("normal", "normal cell", &g.normal, &g.normal_concat);
    let b = cell_svg("reduce", "reduction cell", &g.reduce, &g.reduce_concat);
    let size = |s: &str, attr: &str| -> f64 {
        s.split(&format!("{attr}=\"")).nth(1).and_then(|r| r.split('"').next()).and_then(|v| v.parse().ok()).unwrap_or(0.0)
    };
    let (w, h) = (size(&a, "width").max(size(&b, "width")), size(&a, "height") + size(&b, "height"));
    let shift = size(&a, "height");
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w:.0}\" height=\"{h:.0}\" viewBox=\"0 0 {w:.0} {h:.0}\">{}<g transform=\"translate(0,{shift:.0})\">{}</g></svg>\n",
        a.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1),
        b.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
    )
}

/// Runs `rdarts genotype`.
pub fn genotype(a: GenotypeArgs) -> Result<()> {
    let g = load_genotype(&a.genotype)?;
    if let Some(space) = &a.space {
        let id: SpaceId = space.parse()?;
        let space = SearchSpace::new(id, g.nodes())?;
        g.validate(Some(&space))?;
        eprintln!("valid in space {id} ({} nodes)", g.nodes());
    }
    if a.params {
        let cfg = EvalConfig { channels: a.init_channels, layers: a.layers, classes: a.classes, ..Default::default() };
        let net = rdarts_core::evalnet::EvalNet::new(&cfg, &g)?;
        eprintln!(
            "evaluation network (C = {}, {} cells, {} classes, 32×32 RGB): {} parameters without the auxiliary head, auxiliary head {}",
            a.init_channels, a.layers, a.classes, net.num_params(), net.num_aux_params()
        );
    }
    let out = match a.to {
        GenotypeFormat::Text => format!("{g}\n"),
        GenotypeFormat::Json => format!("{}\n", serde_json::to_string_pretty(&g)?),
        GenotypeFormat::Dot => format!("{}{}", cell_dot("normal", &g.normal, &g.normal_concat), cell_dot("reduce", &g.reduce, &g.reduce_concat)),
        GenotypeFormat::Svg => genotype_svg(&g),
    };
    match &a.output {
        Some(p) => crate::rundir::write_atomic(p, out.as_bytes())?,
        None => print!("{out}"),
    }
    Ok(())
}
