//! Plots of language-model runs: perplexity curves (instead of accuracy) and λ per epoch, drawn
//! from a run's metrics.jsonl after every epoch.

use anyhow::Result;
use plotters::prelude::*;
use rdarts_core::lm::LmEpochReport;
use rdarts_core::lm::train::LmEpoch;

use crate::report::{PALETTE, range_of};
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

/// plots/perplexity.svg (training, search and validation perplexity per epoch) and
/// plots/lambda.svg (λmax and λmin) of a recurrent search.
pub fn write_search_curves(run: &mut RunDir) -> Result<()> {
    let epochs = search_epochs(run)?;
    let at = |f: fn(&LmEpochReport) -> f64| epochs.iter().map(|e| (e.epoch as f64, f(e))).collect::<Vec<_>>();
    let ppl = [("train", at(|e| e.train_loss.exp())), ("search (α windows)", at(|e| e.arch_loss.exp())), ("validation", at(|e| e.valid_ppl))];
    run.write("plots/perplexity.svg", line_chart("perplexity during the search", "perplexity", &ppl, true)?.as_bytes())?;
    let with_lambda: Vec<&LmEpochReport> = epochs.iter().filter(|e| e.curvature.is_some()).collect();
    if !with_lambda.is_empty() {
        let get = |max: bool| with_lambda.iter().map(|e| e.curvature.as_ref().map(|c| (e.epoch as f64, if max { c.lambda_max } else { c.lambda_min })).expect("filtered")).collect::<Vec<_>>();
        let lambda = [("λmax", get(true)), ("λmin", get(false))];
        run.write("plots/lambda.svg", line_chart("extreme eigenvalues of the α Hessian", "λ", &lambda, false)?.as_bytes())?;
    }
    Ok(())
}

/// plots/curves.svg of a language-model training run: training and validation perplexity.
pub fn write_train_curves(run: &mut RunDir, history: &[LmEpoch]) -> Result<()> {
    let at = |f: fn(&LmEpoch) -> f64| history.iter().map(|e| (e.epoch as f64, f(e).exp())).collect::<Vec<_>>();
    let series = [("train", at(|e| e.train_loss)), ("validation", at(|e| e.valid_loss))];
    run.write("plots/curves.svg", line_chart("perplexity while training from scratch", "perplexity", &series, true)?.as_bytes())?;
    Ok(())
}
