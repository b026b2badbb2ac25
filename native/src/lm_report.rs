//! Plots of language-model runs: perplexity curves (instead of accuracy) and λ per epoch, drawn
//! from a run's metrics.jsonl after every epoch.

use anyhow::Result;
use plotters::prelude::*;
use rdarts_core::lm::LmEpochReport;
use rdarts_core::lm::train::LmEpoch;

use rdarts_core::lm::{LmSearchConfig, RnnGenotype};

use crate::report::{PALETTE, finish_page, html_escape, page_head, range_of};
use crate::rundir::RunDir;

/// One named series of (x, y) points.
type Series<'a> = (&'a str, Vec<(f64, f64)>);

/// A line chart of `series` over epochs, y on a log scale when `log_y`.
fn line_chart(title: &str, y_desc: &str, series: &[Series], log_y: bool) -> Result<String> {
    let xs = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0));
    let x_max = xs.fold(1f64, f64::max);
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
    let (lo, hi) = if log_y {
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
        if lo.is_finite() && lo > 0.0 { (lo / 1.25, hi * 1.25) } else { (1.0, 10.0) }
    } else {
        range_of(ys)
    };
    let mut s = String::new();
    let draw = |s: &mut String| -> std::result::Result<(), Box<dyn std::error::Error + '_>> {
        let root = SVGBackend::with_string(s, (640, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(title, ("sans-serif", 16)).margin(10).x_label_area_size(35).y_label_area_size(60);
        macro_rules! plot {
            ($chart:expr) => {{
                let mut chart = $chart;
                chart.configure_mesh().x_desc("epoch").y_desc(y_desc).draw()?;
                for (i, (name, pts)) in series.iter().enumerate() {
                    let colour = PALETTE[i % PALETTE.len()];
                    chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, colour.filled())))?;
                    chart
                        .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))?
                        .label(*name)
                        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
                }
                chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw()?;
            }};
        }
        if log_y {
            plot!(builder.build_cartesian_2d(0f64..x_max, (lo..hi).log_scale())?);
        } else {
            plot!(builder.build_cartesian_2d(0f64..x_max, lo..hi)?);
        }
        root.present()?;
        Ok(())
    };
    draw(&mut s).map_err(|e| anyhow::anyhow!("drawing '{title}': {e}"))?;
    Ok(s)
}

/// The epochs of a recurrent search's metrics.jsonl as they stand (a DARTS-ADA rollback replaces
/// the epochs it undid).
pub fn search_epochs(run: &RunDir) -> Result<Vec<LmEpochReport>> {
    let text = std::fs::read_to_string(run.path.join("metrics.jsonl")).unwrap_or_default();
    let mut epochs: Vec<LmEpochReport> = Vec::new();
    for line in text.lines().filter(|l| l.contains("\"event\":\"epoch\"")) {
        let mut v: serde_json::Value = serde_json::from_str(line)?;
        v.as_object_mut().map(|o| o.remove("event"));
        let e: LmEpochReport = serde_json::from_value(v)?;
        epochs.truncate(e.epoch);
        epochs.push(e);
    }
    Ok(epochs)
}

/// plots/perplexity.svg (training, search and validation perplexity per epoch), plots/lambda.svg
/// (λmax and λmin) and report.html of a recurrent search; `found`: its result, before
/// genotype.json (written last) exists. Returns the page's path.
pub fn write_search_report(run: &mut RunDir, found: Option<&RnnGenotype>) -> Result<std::path::PathBuf> {
    let epochs = search_epochs(run)?;
    let at = |f: fn(&LmEpochReport) -> f64| epochs.iter().map(|e| (e.epoch as f64, f(e))).collect::<Vec<_>>();
    let ppl = [("train", at(|e| e.train_loss.exp())), ("search (α windows)", at(|e| e.arch_loss.exp())), ("validation", at(|e| e.valid_ppl))];
    let svg = line_chart("perplexity during the search", "perplexity", &ppl, true)?;
    run.write("plots/perplexity.svg", svg.as_bytes())?;
    let mut figures = vec![("perplexity", "Perplexity: training windows, the α step's windows, and the validation text".to_string(), svg)];
    let with_lambda: Vec<&LmEpochReport> = epochs.iter().filter(|e| e.curvature.is_some()).collect();
    if !with_lambda.is_empty() {
        let get = |max: bool| with_lambda.iter().map(|e| e.curvature.as_ref().map(|c| (e.epoch as f64, if max { c.lambda_max } else { c.lambda_min })).expect("filtered")).collect::<Vec<_>>();
        let lambda = [("λmax", get(true)), ("λmin", get(false))];
        let svg = line_chart("extreme eigenvalues of the α Hessian", "λ", &lambda, false)?;
        run.write("plots/lambda.svg", svg.as_bytes())?;
        figures.push(("lambda", "Extreme eigenvalues of the α Hessian of the search loss".into(), svg));
    }
    let config: LmSearchConfig = crate::common::read_config_file_as(&run.path.join("config.json"))?;
    let done: Option<RnnGenotype> = std::fs::read_to_string(run.path.join("genotype.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let genotype = found.cloned().or(done.clone());
    let status = match (&genotype, epochs.last()) {
        (Some(_), _) => "finished".to_string(),
        (None, Some(e)) => format!("running or interrupted ({} of {} epochs done)", e.epoch + 1, config.epochs),
        (None, None) => "no epoch finished yet".to_string(),
    };
    let mut h = page_head();
    h.push_str(&format!(
        "<h1>rdarts recurrent search ({:?} order)</h1>\n<p id=\"summary\">{} epochs, {} nodes, {} units, batch {}, windows of {}; weight decay {:.1e}; λmax every {} epochs; DARTS-ES/ADA: {:?}. Status: <b>{}</b>.</p>\n",
        config.order, config.epochs, config.steps, config.hidden, config.batch_size, config.bptt, config.weight_decay, config.hessian.every, config.robust.mode, html_escape(&status)
    ));
    let shown = genotype.or(epochs.last().map(|e| e.genotype.clone()));
    if let Some(g) = shown {
        let label = if found.is_some() || done.is_some() { "Found genotype" } else { "Genotype of the newest epoch" };
        h.push_str(&format!("<h2>{label}</h2>\n<p><code id=\"genotype\">{}</code></p>\n", html_escape(&g.to_string())));
    }
    if let Some(e) = epochs.last() {
        h.push_str(&format!("<p>Newest epoch ({}): validation perplexity {:.2}.</p>\n", e.epoch, e.valid_ppl));
    }
    finish_page(&mut h, &figures);
    run.write("report.html", h.as_bytes())?;
    Ok(run.path.join("report.html"))
}

/// plots/curves.svg of a language-model training run: training and validation perplexity.
pub fn write_train_curves(run: &mut RunDir, history: &[LmEpoch]) -> Result<()> {
    let at = |f: fn(&LmEpoch) -> f64| history.iter().map(|e| (e.epoch as f64, f(e).exp())).collect::<Vec<_>>();
    let series = [("train", at(|e| e.train_loss)), ("validation", at(|e| e.valid_loss))];
    run.write("plots/curves.svg", line_chart("perplexity while training from scratch", "perplexity", &series, true)?.as_bytes())?;
    Ok(())
}
