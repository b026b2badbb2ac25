//! `rdarts sweep report DIR`: per (space, data set), one table like the paper's — method × final
//! λmax, DARTS-ES epoch, parameter-free operations in the normal cell, supernet validation
//! accuracy and the trained cell's test error, mean ± std over seeds — as Markdown
//! (`report.md`), one CSV row per run (`runs.csv`), and `report.html` with the λmax curves of
//! every run by method and the λmax-vs-test-error scatter with its correlation.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use plotters::prelude::*;
use rdarts_core::search::RobustAction;

use super::Sweep;
use super::task::{Paths, flag};
use crate::report::{Plot, RunRecord};

/// What one run of the sweep came to, as far as it got.
#[derive(Debug, Clone)]
pub struct Row {
    /// The run's name.
    pub name: String,
    /// Its method.
    pub method: String,
    /// Search space.
    pub space: String,
    /// Data set.
    pub dataset: String,
    /// Seed.
    pub seed: String,
    /// Epochs finished, of those configured.
    pub epochs: (usize, usize),
    /// λmax after each epoch that measured it (newest record per epoch).
    pub lambdas: Vec<(usize, f64)>,
    /// Epoch (1-based) where DARTS-ES stopped or would have stopped.
    pub es_epoch: Option<usize>,
    /// Parameter-free operations among the normal cell's (of the result, or of the newest epoch).
    pub param_free: Option<(usize, usize)>,
    /// Supernet validation accuracy at the last epoch.
    pub valid_acc: Option<f64>,
    /// Test error (%) of the found cell trained from scratch.
    pub test_error: Option<f64>,
    /// Test error (%) of DARTS-ES's cell trained from scratch.
    pub test_error_es: Option<f64>,
    /// Whether every part has finished.
    pub finished: bool,
}

impl Row {
    /// The newest λmax.
    pub fn final_lambda(&self) -> Option<f64> {
        self.lambdas.last().map(|l| l.1)
    }
}

fn test_error(dir: &Path) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join(super::task::TRAIN_DONE)).ok()?).ok()?;
    v["test_error_percent"].as_f64()
}

/// Reads every run of the sweep in `dir` (runs not started yet included, with nothing measured).
pub fn rows(dir: &Path) -> Result<Vec<Row>> {
    let sweep = Sweep::read(dir)?;
    let mut rows = Vec::new();
    for run in &sweep.runs {
        let p = Paths::of(dir, &run.name);
        let rec = RunRecord::read(&p.search).ok();
        let value = |f: &str, default: &str| run.point.get(f).cloned().or(flag(&run.search, f).map(String::from)).unwrap_or(default.into());
        let mut row = Row {
            name: run.name.clone(),
            method: run.method.clone(),
            // A run not started yet has only its grid value ("s2"): named as a started run's
            // configuration names it ("S2"), so that both fall in one group.
            space: rec.as_ref().map_or_else(
                || value("space", "?").parse::<rdarts_core::space::SpaceId>().map_or_else(|_| value("space", "?"), |s| s.to_string()),
                |r| r.config.net.space.to_string(),
            ),
            dataset: value("dataset", "digits"),
            seed: rec.as_ref().map_or_else(|| value("seed", "?"), |r| r.config.seed.to_string()),
            epochs: (0, 0),
            lambdas: Vec::new(),
            es_epoch: None,
            param_free: None,
            valid_acc: None,
            test_error: test_error(&p.train),
            test_error_es: test_error(&p.train_es),
            finished: p.finished(run),
        };
        if let Some(rec) = rec {
            let effective = rec.effective();
            row.epochs = (effective.len(), rec.config.epochs);
            row.lambdas = effective.iter().filter_map(|e| e.curvature.as_ref().map(|c| (e.epoch + 1, c.lambda_max))).collect();
            row.es_epoch = rec.robust.iter().find(|r| matches!(r.action, RobustAction::Stop | RobustAction::WouldStop | RobustAction::Rollback)).map(|r| r.stop.stop_epoch + 1);
            row.valid_acc = effective.last().map(|e| e.valid_acc);
            row.param_free = rec.current_genotype().map(|g| (g.parameter_free_normal(), g.normal.len()));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Mean and sample standard deviation.
fn mean_std(v: &[f64]) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let var = if v.len() > 1 { v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64 } else { 0.0 };
    Some((m, var.sqrt()))
}

/// `mean ± std (n)` of the values `f` gives, or `–`.
fn cell(rows: &[&Row], f: impl Fn(&Row) -> Option<f64>, digits: usize) -> String {
    let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
    match mean_std(&v) {
        None => "–".into(),
        Some((m, s)) if v.len() > 1 => format!("{m:.digits$} ± {s:.digits$} ({})", v.len()),
        Some((m, _)) => format!("{m:.digits$} (1)"),
    }
}

/// Pearson's correlation of the pairs (None under 3 pairs or without spread).
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let (mx, my) = (pairs.iter().map(|p| p.0).sum::<f64>() / n, pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// Rows by (space, data set), then by method.
type Groups<'a> = BTreeMap<(String, String), Vec<(String, Vec<&'a Row>)>>;

/// Groups rows by (space, data set), then method in first-seen order.
fn groups(rows: &[Row]) -> Groups<'_> {
    let mut g = Groups::new();
    for r in rows {
        let methods = g.entry((r.space.clone(), r.dataset.clone())).or_default();
        match methods.iter_mut().find(|(m, _)| *m == r.method) {
            Some((_, v)) => v.push(r),
            None => methods.push((r.method.clone(), vec![r])),
        }
    }
    g
}

/// The Markdown tables.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from("# Sweep report\n\nMean ± sample standard deviation over seeds (number of runs measured in brackets). λmax: the newest measurement of each run; DARTS-ES epoch: where the rule stopped the search (DARTS-ES) or would have (others); parameter-free: skip connections, pooling, `none` and noise among the normal cell's operations.\n");
    for ((space, dataset), methods) in groups(rows) {
        let _ = write!(s, "\n## {space}, {dataset}\n\n| method | runs finished | final λmax | DARTS-ES epoch | parameter-free ops (normal) | supernet valid acc % | test error % | test error %, DARTS-ES cell |\n|---|---|---|---|---|---|---|---|\n");
        for (method, rs) in methods {
            let done = rs.iter().filter(|r| r.finished).count();
            let _ = writeln!(
                s,
                "| {method} | {done}/{} | {} | {} | {} | {} | {} | {} |",
                rs.len(),
                cell(&rs, Row::final_lambda, 3),
                cell(&rs, |r| r.es_epoch.map(|e| e as f64), 1),
                cell(&rs, |r| r.param_free.map(|p| p.0 as f64), 1),
                cell(&rs, |r| r.valid_acc.map(|a| 100.0 * a), 1),
                cell(&rs, |r| r.test_error, 2),
                cell(&rs, |r| r.test_error_es, 2),
            );
        }
        let pairs: Vec<(f64, f64)> = rows.iter().filter(|r| r.space == space && r.dataset == dataset).filter_map(|r| Some((r.final_lambda()?, r.test_error?))).collect();
        let _ = writeln!(s, "\nλmax vs test error over {} runs: Pearson r = {}", pairs.len(), pearson(&pairs).map_or("– (too few runs)".into(), |r| format!("{r:.2}")));
    }
    s
}

/// One CSV row per run.
pub fn csv(rows: &[Row]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
    let mut s = String::from("run,method,space,dataset,seed,epochs_done,epochs,final_lambda_max,es_epoch,param_free_normal,normal_ops,valid_acc,test_error_percent,test_error_percent_es,finished\n");
    for r in rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.name, r.method, r.space, r.dataset, r.seed, r.epochs.0, r.epochs.1,
            opt(r.final_lambda()), r.es_epoch.map_or(String::new(), |e| e.to_string()),
            r.param_free.map_or(String::new(), |p| p.0.to_string()), r.param_free.map_or(String::new(), |p| p.1.to_string()),
            opt(r.valid_acc), opt(r.test_error), opt(r.test_error_es), r.finished
        );
    }
    s
}

/// λmax over the epochs of every run of one (space, data set), coloured by method.
fn lambda_curves(methods: &[(String, Vec<&Row>)], title: &str) -> Result<String> {
    let mut svg = String::new();
    let draw = |svg: &mut String| -> Plot {
        let root = SVGBackend::with_string(svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let all: Vec<(usize, f64)> = methods.iter().flat_map(|(_, rs)| rs.iter().flat_map(|r| r.lambdas.iter().copied())).collect();
        let x_max = all.iter().map(|p| p.0).max().unwrap_or(1).max(2);
        let y_max = all.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-6) * 1.1;
        let mut chart = ChartBuilder::on(&root).caption(title, ("sans-serif", 16)).margin(8).x_label_area_size(30).y_label_area_size(50).build_cartesian_2d(1..x_max, 0.0..y_max)?;
        chart.configure_mesh().x_desc("epoch").y_desc("λmax").draw()?;
        for (i, (method, rs)) in methods.iter().enumerate() {
            let color = crate::report::PALETTE[i % crate::report::PALETTE.len()];
            for (j, r) in rs.iter().enumerate() {
                let series = chart.draw_series(LineSeries::new(r.lambdas.iter().copied(), color.stroke_width(2)))?;
                if j == 0 {
                    series.label(method.as_str()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
                }
            }
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    draw(&mut svg).map_err(|e| anyhow::anyhow!("drawing λmax curves: {e}"))?;
    Ok(svg)
}

/// Final λmax against the trained cell's test error, one point per run, coloured by method.
fn scatter(methods: &[(String, Vec<&Row>)], title: &str) -> Result<String> {
    let mut svg = String::new();
    let draw = |svg: &mut String| -> Plot {
        let root = SVGBackend::with_string(svg, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let pts: Vec<(f64, f64)> = methods.iter().flat_map(|(_, rs)| rs.iter().filter_map(|r| Some((r.final_lambda()?, r.test_error?)))).collect();
        let (x_lo, x_hi) = crate::report::range_of(pts.iter().map(|p| p.0));
        let (y_lo, y_hi) = crate::report::range_of(pts.iter().map(|p| p.1));
        let mut chart = ChartBuilder::on(&root).caption(title, ("sans-serif", 16)).margin(8).x_label_area_size(30).y_label_area_size(50).build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        chart.configure_mesh().x_desc("final λmax").y_desc("test error %").draw()?;
        for (i, (method, rs)) in methods.iter().enumerate() {
            let color = crate::report::PALETTE[i % crate::report::PALETTE.len()];
            let p: Vec<(f64, f64)> = rs.iter().filter_map(|r| Some((r.final_lambda()?, r.test_error?))).collect();
            chart.draw_series(p.into_iter().map(|xy| Circle::new(xy, 4, color.filled())))?.label(method.as_str()).legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
        root.present()?;
        Ok(())
    };
    draw(&mut svg).map_err(|e| anyhow::anyhow!("drawing the scatter: {e}"))?;
    Ok(svg)
}

/// Writes report.md, runs.csv, report.html and the plots into the sweep directory `dir`.
pub fn write(dir: &Path) -> Result<()> {
    let rows = rows(dir)?;
    let md = markdown(&rows);
    let w = |name: &str, body: &str| crate::rundir::write_atomic(&dir.join(name), body.as_bytes());
    w("report.md", &md)?;
    w("runs.csv", &csv(&rows))?;
    std::fs::create_dir_all(dir.join("plots"))?;
    let mut html = String::from("<!doctype html><meta charset=\"utf-8\"><title>rdarts sweep report</title><body style=\"font-family:sans-serif;max-width:1000px;margin:auto\"><h1>Sweep report</h1><p>Tables: report.md (and runs.csv, one row per run).</p>\n");
    for ((space, dataset), methods) in groups(&rows) {
        let stem = format!("{space}-{dataset}");
        let curves = lambda_curves(&methods, &format!("λmax, {space}, {dataset}"))?;
        let pairs: Vec<(f64, f64)> = methods.iter().flat_map(|(_, rs)| rs.iter().filter_map(|r| Some((r.final_lambda()?, r.test_error?)))).collect();
        let r = pearson(&pairs).map_or("too few trained runs".into(), |r| format!("Pearson r = {r:.2}"));
        let points = scatter(&methods, &format!("final λmax vs test error, {space}, {dataset} ({r})"))?;
        w(&format!("plots/lambda-{stem}.svg"), &curves)?;
        w(&format!("plots/scatter-{stem}.svg"), &points)?;
        let _ = write!(html, "<h2>{space}, {dataset}</h2>\n{curves}\n{points}\n");
    }
    html.push_str("</body>\n");
    w("report.html", &html)?;
    print!("{md}");
    println!("\nwritten: {} (also report.html, runs.csv, plots/)", dir.join("report.md").display());
    Ok(())
}
