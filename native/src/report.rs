//! A run directory at a glance: SVG plots (λmax with the DARTS-ES/ADA events, accuracy and loss,
//! softmax(α) per edge over the epochs), the cells drawn as graphs (SVG and Graphviz DOT), and
//! `report.html`, one self-contained page showing all of it. Written after every epoch of a
//! search and by `rdarts report RUN_DIR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use rdarts_core::draw::{cell_dot, cell_svg};
use rdarts_core::genotype::Genotype;
use rdarts_core::search::{EpochReport, RobustAction, RobustReport, SearchConfig, SearchEvent};
use rdarts_core::space::{CellKind, SearchSpace};

use crate::rundir::RunDir;

/// What a run directory holds, read back.
pub struct RunRecord {
    /// The configuration the run started with.
    pub config: SearchConfig,
    /// Every finished epoch in order (DARTS-ADA repeats epochs after a rollback).
    pub epochs: Vec<EpochReport>,
    /// Every firing of the DARTS-ES rule.
    pub robust: Vec<RobustReport>,
    /// The final genotype, once the run has finished.
    pub genotype: Option<Genotype>,
}

impl RunRecord {
    /// Reads config.json, metrics.jsonl and genotype.json of `dir`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = |n: &str| dir.join(n);
        let text = std::fs::read_to_string(path("config.json")).with_context(|| format!("{}: cannot read (is this a run directory?)", path("config.json").display()))?;
        let config: SearchConfig = serde_json::from_str(&text).with_context(|| format!("{}: invalid", path("config.json").display()))?;
        let metrics = std::fs::read_to_string(path("metrics.jsonl")).unwrap_or_default();
        let (mut epochs, mut robust) = (Vec::new(), Vec::new());
        for (i, line) in metrics.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            match serde_json::from_str::<SearchEvent>(line) {
                Ok(SearchEvent::Epoch(e)) => epochs.push(e),
                Ok(SearchEvent::Robust(r)) => robust.push(r),
                Ok(SearchEvent::Step(_) | SearchEvent::Sampled(_)) => {}
                Err(e) => bail!("{}:{}: {e}", path("metrics.jsonl").display(), i + 1),
            }
        }
        let genotype = match std::fs::read_to_string(path("genotype.json")) {
            Ok(t) => Some(serde_json::from_str(&t).with_context(|| format!("{}: invalid", path("genotype.json").display()))?),
            Err(_) => None,
        };
        Ok(RunRecord { config, epochs, robust, genotype })
    }

    /// The trajectory the final state went through: for each epoch its newest record.
    pub fn effective(&self) -> Vec<&EpochReport> {
        let mut by_epoch: BTreeMap<usize, &EpochReport> = BTreeMap::new();
        for e in &self.epochs {
            by_epoch.insert(e.epoch, e);
        }
        by_epoch.into_values().collect()
    }

    /// Records grouped by DARTS-ADA iteration.
    fn iterations(&self) -> BTreeMap<usize, Vec<&EpochReport>> {
        let mut m: BTreeMap<usize, Vec<&EpochReport>> = BTreeMap::new();
        for e in &self.epochs {
            m.entry(e.iteration).or_default().push(e);
        }
        m
    }

    /// The genotype to draw: the final one, else the newest epoch's.
    pub fn current_genotype(&self) -> Option<&Genotype> {
        self.genotype.as_ref().or(self.epochs.last().map(|e| &e.genotype))
    }
}

/// The plots' colours, one per series in order.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40), RGBColor(148, 103, 189),
    RGBColor(140, 86, 75), RGBColor(227, 119, 194), RGBColor(127, 127, 127), RGBColor(188, 189, 34), RGBColor(23, 190, 207),
];

/// What drawing a plot returns (plotters' errors boxed).
pub type Plot = std::result::Result<(), Box<dyn std::error::Error>>;

/// The range of `values` with 8 % padding on each side ((0, 1) when there are none).
pub fn range_of(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-6);
    (lo - pad, hi + pad)
}

/// λmax over the epochs, one line per DARTS-ADA iteration; each firing of the rule is marked at
/// the epoch it fired and at the epoch it rolled back to.
pub fn lambda_svg(rec: &RunRecord) -> Result<String> {
    let mut s = String::new();
    let draw = |s: &mut String| -> Plot {
        let root = SVGBackend::with_string(s, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let points: Vec<(usize, usize, f64)> =
            rec.epochs.iter().filter_map(|e| e.curvature.as_ref().map(|c| (e.iteration, e.epoch, c.lambda_max))).collect();
        let x_max = rec.config.epochs.max(1) as f64;
        let (lo, hi) = range_of(points.iter().map(|p| p.2).chain([0.0]));
        let mut chart = ChartBuilder::on(&root)
            .caption("dominant eigenvalue λmax of the α Hessian", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..x_max, lo..hi)?;
        chart.configure_mesh().x_desc("epoch").y_desc("λmax").draw()?;
        if points.is_empty() {
            root.draw(&Text::new("λmax was not computed in this run (hessian.every = 0)", (140, 160), ("sans-serif", 14)))?;
        }
        let iterations: Vec<usize> = points.iter().map(|p| p.0).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        for (k, it) in iterations.iter().enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let series: Vec<(f64, f64)> = points.iter().filter(|p| p.0 == *it).map(|p| (p.1 as f64, p.2)).collect();
            let label = if iterations.len() > 1 { format!("ADA iteration {it}") } else { "λmax".to_string() };
            chart
                .draw_series(LineSeries::new(series.clone(), colour.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            chart.draw_series(series.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
        }
        for r in &rec.robust {
            let colour = match r.action {
                RobustAction::WouldStop | RobustAction::AtMaximum => RGBColor(127, 127, 127),
                _ => RGBColor(214, 39, 40),
            };
            let fired = r.stop.at_epoch as f64;
            chart.draw_series(DashedLineSeries::new(vec![(fired, lo), (fired, hi)], 4, 4, colour.stroke_width(1)))?;
            let word = match r.action {
                RobustAction::Stop => "ES stop".to_string(),
                RobustAction::Rollback => format!("ADA → wd {:.1e}", r.weight_decay),
                RobustAction::AtMaximum => "ADA at max".to_string(),
                RobustAction::WouldStop => "ES would stop".to_string(),
            };
            chart.draw_series(std::iter::once(Text::new(word, (fired, hi - (hi - lo) * 0.05), ("sans-serif", 11).into_font().color(&colour))))?;
            chart.draw_series(std::iter::once(TriangleMarker::new((r.stop.stop_epoch as f64, lo + (hi - lo) * 0.04), 6, colour.filled())))?;
        }
        if !points.is_empty() {
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw(&mut s).map_err(|e| anyhow::anyhow!("drawing the λmax plot: {e}"))?;
    Ok(s)
}

/// A learning curve of a search: accuracy or loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Curve {
    /// Training and validation accuracy, in %.
    Accuracy,
    /// Training and validation loss.
    Loss,
}

impl Curve {
    /// (training, validation) values of an epoch.
    fn values(self, e: &EpochReport) -> (f64, f64) {
        match self {
            Curve::Accuracy => (100.0 * e.train_acc, 100.0 * e.valid_acc),
            Curve::Loss => (e.train_loss, e.valid_loss),
        }
    }

    /// The plot's caption.
    fn caption(self) -> &'static str {
        match self {
            Curve::Accuracy => "accuracy (%)",
            Curve::Loss => "loss",
        }
    }
}

/// Training and validation `curve` over the epochs, per DARTS-ADA iteration.
pub fn curves_svg(rec: &RunRecord, curve: Curve) -> Result<String> {
    let mut s = String::new();
    let get = |e: &EpochReport| curve.values(e);
    let draw = |s: &mut String| -> Plot {
        let root = SVGBackend::with_string(s, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let (lo, hi) = match curve {
            Curve::Loss => range_of(rec.epochs.iter().flat_map(|e| { let (a, b) = get(e); [a, b] })),
            Curve::Accuracy => (0.0, 100.0),
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(curve.caption(), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..rec.config.epochs.max(1) as f64, lo..hi)?;
        chart.configure_mesh().x_desc("epoch").draw()?;
        for (k, (it, es)) in rec.iterations().into_iter().enumerate() {
            let suffix = if it > 1 || rec.iterations().len() > 1 { format!(" (iteration {it})") } else { String::new() };
            for (which, colour) in [(0, PALETTE[(2 * k) % 10]), (1, PALETTE[(2 * k + 1) % 10])] {
                let pts: Vec<(f64, f64)> = es.iter().map(|e| { let v = get(e); (e.epoch as f64, if which == 0 { v.0 } else { v.1 }) }).collect();
                let name = format!("{}{suffix}", if which == 0 { "train" } else { "valid" });
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, colour.filled())))?;
                chart
                    .draw_series(LineSeries::new(pts, colour.stroke_width(2)))?
                    .label(name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            }
        }
        if !rec.epochs.is_empty() {
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        }
        root.present()?;
        Ok(())
    };
    draw(&mut s).map_err(|e| anyhow::anyhow!("drawing the {} plot: {e}", curve.caption()))?;
    Ok(s)
}

/// softmax(α) of one cell type over the epochs: one small panel per edge, one line per op.
pub fn alpha_svg(rec: &RunRecord, kind: CellKind) -> Result<String> {
    let space = SearchSpace::new(rec.config.net.space, rec.config.net.nodes)?;
    let ops = space.ops(kind).to_vec();
    let edges = ops.len();
    let cols = 5.min(edges.max(1));
    let rows = edges.div_ceil(cols);
    let mut s = String::new();
    let traj = rec.effective();
    let draw = |s: &mut String| -> Plot {
        let (w, h) = (190 * cols as u32, 60 + 150 * rows as u32);
        let root = SVGBackend::with_string(s, (w, h)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, panels) = root.split_vertically(60);
        let title = format!("softmax(α), {} cells, per edge over the epochs", if kind == CellKind::Normal { "normal" } else { "reduction" });
        top.draw(&Text::new(title, (10, 5), ("sans-serif", 15)))?;
        // Legend: every op name of the space, in its colour.
        let mut names: Vec<&str> = Vec::new();
        for list in &ops {
            for p in list {
                if !names.contains(&p.name()) {
                    names.push(p.name());
                }
            }
        }
        for (i, n) in names.iter().enumerate() {
            let (x, y) = (10 + (i as i32 % 5) * 150, 28 + (i as i32 / 5) * 14);
            top.draw(&Rectangle::new([(x, y + 3), (x + 12, y + 9)], PALETTE[i % 10].filled()))?;
            top.draw(&Text::new(n.to_string(), (x + 16, y), ("sans-serif", 11)))?;
        }
        let areas = panels.split_evenly((rows, cols));
        let mut e = 0;
        for node in 0..rec.config.net.nodes {
            for input in 0..node + 2 {
                let area = &areas[e];
                let from = match input { 0 => "c_{k-2}".to_string(), 1 => "c_{k-1}".to_string(), n => format!("{}", n - 2) };
                let rows_of = |r: &EpochReport| if kind == CellKind::Normal { r.alpha_normal.clone() } else { r.alpha_reduce.clone() };
                let series: Vec<Vec<(f64, f64)>> = (0..ops[e].len())
                    .map(|k| traj.iter().filter_map(|r| rows_of(r).get(e).and_then(|row| row.get(k)).map(|&v| (r.epoch as f64, f64::from(v)))).collect())
                    .collect();
                // Each panel scales to its own values: early in a search they all sit near 1/K.
                let (lo, hi) = range_of(series.iter().flatten().map(|p| p.1));
                let mut chart = ChartBuilder::on(area)
                    .caption(format!("edge {e}: {from} → {node}"), ("sans-serif", 11))
                    .margin(4)
                    .x_label_area_size(16)
                    .y_label_area_size(34)
                    .build_cartesian_2d(0f64..rec.config.epochs.max(1) as f64, lo.max(0.0)..hi.min(1.0))?;
                chart.configure_mesh().x_labels(3).y_labels(3).label_style(("sans-serif", 9)).disable_mesh().draw()?;
                for (p, pts) in ops[e].iter().zip(series) {
                    let colour = PALETTE[names.iter().position(|n| *n == p.name()).unwrap_or(0) % 10];
                    chart.draw_series(LineSeries::new(pts, colour.stroke_width(2)))?;
                }
                e += 1;
            }
        }
        root.present()?;
        Ok(())
    };
    draw(&mut s).map_err(|e| anyhow::anyhow!("drawing the α plot: {e}"))?;
    Ok(s)
}

/// Training and test accuracy of a from-scratch training run over its epochs.
pub fn train_curves_svg(history: &[rdarts_core::train::TrainEpoch]) -> Result<String> {
    let mut s = String::new();
    let draw = |s: &mut String| -> Plot {
        let root = SVGBackend::with_string(s, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("accuracy (%) while training from scratch", ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..history.len().max(1) as f64, 0f64..100f64)?;
        chart.configure_mesh().x_desc("epoch").draw()?;
        for (name, colour, get) in [("train", PALETTE[0], 0), ("test", PALETTE[1], 1)] {
            let pts: Vec<(f64, f64)> = history.iter().map(|e| (e.epoch as f64, 100.0 * if get == 0 { e.train_acc } else { e.test_acc })).collect();
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, colour.filled())))?;
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    draw(&mut s).map_err(|e| anyhow::anyhow!("drawing the training curves: {e}"))?;
    Ok(s)
}

/// `s` with `&`, `<` and `>` escaped for HTML.
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The report's one script: each figure's rendered size and element count, for the browser test.
const RENDER_CHECK: &str = "\nconst out = [];\nfor (const f of document.querySelectorAll('figure')) {\n  const svg = f.querySelector('svg');\n  const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};\n  const n = svg ? svg.querySelectorAll('path,polyline,line,rect,circle,text,polygon').length : 0;\n  out.push(f.id + ':' + Math.round(r.width) + 'x' + Math.round(r.height) + ':' + n);\n}\ndocument.getElementById('render-check').textContent = out.join(' ');\n";

/// The SHA-256 of [`RENDER_CHECK`], base64: the report's Content-Security-Policy allows that script
/// and nothing else (an edit to the script without this hash is caught by the browser test, whose
/// render check then stays empty).
const RENDER_CHECK_SHA256: &str = "f0H7WxyQZWoTg6gxsSNqgQXawF6r48LzsoxDlt/hWAE=";

/// What a report may load: its inline styles, its one script, nothing from elsewhere.
fn report_csp() -> String {
    format!("default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-{RENDER_CHECK_SHA256}'; base-uri 'none'; form-action 'none'")
}

/// Writes every plot and drawing under `plots/` of the run and its `report.html` (each recorded in
/// the run's manifest); returns the page's path.
pub fn write_report(run: &mut RunDir) -> Result<PathBuf> {
    write_report_with(run, None)
}

/// [`write_report`] for a run whose final genotype is `found`, before genotype.json (the file that
/// marks the run finished, written last) exists.
pub fn write_report_with(run: &mut RunDir, found: Option<&Genotype>) -> Result<PathBuf> {
    let dir = run.path.clone();
    let mut rec = RunRecord::read(&dir)?;
    if let Some(g) = found {
        rec.genotype = Some(g.clone());
    }
    let mut figures: Vec<(&str, String, String)> = vec![
        ("lambda", "Dominant eigenvalue".into(), lambda_svg(&rec)?),
        ("accuracy", "Accuracy (validation on un-augmented images; the authors' code augments its validation images)".into(), curves_svg(&rec, Curve::Accuracy)?),
        ("loss", "Loss".into(), curves_svg(&rec, Curve::Loss)?),
        ("alpha-normal", "Architecture weights, normal cells".into(), alpha_svg(&rec, CellKind::Normal)?),
        ("alpha-reduce", "Architecture weights, reduction cells".into(), alpha_svg(&rec, CellKind::Reduce)?),
    ];
    let genotype = rec.current_genotype().cloned();
    if let Some(g) = &genotype {
        for (id, name, cell, concat) in [("cell-normal", "normal cell", &g.normal, &g.normal_concat), ("cell-reduce", "reduction cell", &g.reduce, &g.reduce_concat)] {
            run.write(&format!("plots/{id}.dot"), cell_dot(name, cell, concat).as_bytes())?;
            figures.insert(0, (id, format!("The {name}"), cell_svg(&format!("{id}-svg"), name, cell, concat)));
        }
        figures.swap(0, 1);
    }
    for (id, _, svg) in &figures {
        run.write(&format!("plots/{id}.svg"), svg.as_bytes())?;
    }
    let cfg = &rec.config;
    let status = match (&rec.genotype, rec.epochs.last()) {
        (Some(_), _) => "finished".to_string(),
        (None, Some(e)) => format!("running or interrupted ({} of {} epochs done)", e.epoch + 1, cfg.epochs),
        (None, None) => "no epoch finished yet".to_string(),
    };
    let mut h = page_head();
    h.push_str(&format!(
        "<h1>rdarts search: space {}, {} order</h1>\n<p id=\"summary\">{} epochs, batch {}, C = {}, {} cells, {} nodes; weight decay {:.1e}, drop-path {:.2}, λmax every {} epochs, DARTS-ES/ADA: {:?}. Status: <b>{}</b>.</p>\n",
        cfg.net.space,
        if cfg.order == rdarts_core::architect::Order::First { "first" } else { "second" },
        cfg.epochs, cfg.batch_size, cfg.net.channels, cfg.net.layers, cfg.net.nodes, cfg.weight_decay, cfg.drop_path_prob,
        cfg.hessian.every, cfg.robust.mode, html_escape(&status)
    ));
    if let Some(g) = &genotype {
        let label = if rec.genotype.is_some() { "Found genotype" } else { "Genotype of the newest epoch" };
        h.push_str(&format!("<h2>{label}</h2>\n<p><code id=\"genotype\">{}</code></p>\n", html_escape(&g.to_string())));
        h.push_str(&format!("<p>Normal cell: {} of {} chosen operations are parameter-free. Graphviz: <a href=\"plots/cell-normal.dot\">normal</a>, <a href=\"plots/cell-reduce.dot\">reduction</a>.</p>\n", g.parameter_free_normal(), g.normal.len()));
    }
    if !rec.robust.is_empty() {
        h.push_str("<h2>DARTS-ES / DARTS-ADA</h2>\n<p>Epochs count from 0, as in metrics.jsonl and the plots.</p>\n<table id=\"events\"><tr><th>fired at epoch</th><th>stop epoch</th><th>local averages</th><th>action</th><th>weight decay after</th><th>genotype at the stop epoch</th></tr>\n");
        for r in &rec.robust {
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{:.4} / {:.4}</td><td>{:?}</td><td>{:.1e}</td><td><code>{}</code></td></tr>\n",
                r.stop.at_epoch, r.stop.stop_epoch, r.stop.current, r.stop.previous, r.action, r.weight_decay, html_escape(&r.at.genotype.to_string())
            ));
        }
        h.push_str("</table>\n");
    }
    finish_page(&mut h, &figures);
    run.write("report.html", h.as_bytes())?;
    Ok(dir.join("report.html"))
}

/// A report page's head: its styles and Content-Security-Policy.
pub fn page_head() -> String {
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\"><title>rdarts run report</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:1em auto;padding:0 1em;color:#222}figure{margin:1.5em 0}figcaption{font-weight:bold;margin-bottom:.3em}code{background:#f3f3f3;padding:.1em .3em;word-break:break-all}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}svg{max-width:100%;height:auto}</style></head><body>\n".replace("{csp}", &report_csp())
}

/// Ends a report page: the `figures` (id, caption, SVG) and the render check the browser test
/// reads back (each figure's rendered size and element count).
pub fn finish_page(h: &mut String, figures: &[(&str, String, String)]) {
    for (id, caption, svg) in figures {
        h.push_str(&format!("<figure id=\"{id}\"><figcaption>{}</figcaption>\n{svg}\n</figure>\n", html_escape(caption)));
    }
    h.push_str("<pre id=\"render-check\"></pre>\n<script>");
    h.push_str(RENDER_CHECK);
    h.push_str("</script>\n</body></html>\n");
}
