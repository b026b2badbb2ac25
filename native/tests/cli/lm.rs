//! `rdarts search --task lm`, `rdarts train --task lm` and their `rdarts resume` on the embedded
//! corpus: the search's validation perplexity falls and λ is tracked, the found cell trains and
//! reports test perplexity, a search killed mid-run resumes to the uninterrupted result, and image
//! flags are refused.

use std::path::Path;
use std::process::Command;

use crate::{BIN, assert_clean_error, rdarts, scratch};

/// A 3-epoch recurrent search on the first 12 000 training tokens.
fn search_args(out: &Path) -> Vec<String> {
    ["search", "--task", "lm", "--quiet", "--backend", "cpu", "--epochs", "3", "--max-tokens", "12000", "--lanczos-steps", "6", "--out"]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
}

/// (epoch, validation perplexity, λmax) of every epoch in metrics.jsonl, and the genotype found.
fn outcome(run: &Path) -> (Vec<(u64, f64, f64)>, String) {
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let epochs = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == "epoch")
        .map(|e| (e["epoch"].as_u64().unwrap(), e["valid_ppl"].as_f64().unwrap(), e["curvature"]["lambda_max"].as_f64().unwrap()))
        .collect();
    (epochs, std::fs::read_to_string(run.join("genotype.txt")).unwrap())
}

fn run(args: &[String]) -> std::process::Output {
    rdarts(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn a_recurrent_search_learns_and_its_cell_trains_to_a_test_perplexity() {
    let out = scratch("lm", "search");
    let o = run(&search_args(&out));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (epochs, genotype) = outcome(&out);
    assert_eq!(epochs.len(), 3);
    assert!(epochs[2].1 < epochs[0].1 && epochs[0].1 < 2001.0, "validation perplexity {epochs:?}");
    assert!(genotype.starts_with("Genotype(recurrent=[") && genotype.contains("concat=range(1, 5)"), "{genotype}");
    assert_eq!(std::fs::read_to_string(out.join("lambda.jsonl")).unwrap().lines().count(), 3);
    for plot in ["plots/perplexity.svg", "plots/lambda.svg"] {
        let text = std::fs::read_to_string(out.join(plot)).unwrap();
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{plot} is not valid XML: {e}"));
        let lines = doc.descendants().filter(|n| n.tag_name().name() == "polyline").count();
        assert!(lines >= 2, "{plot}: {lines} curves");
    }
    // The report page: both figures, the found genotype, the report's content policy.
    let r = rdarts(&["report", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<figure id=\"perplexity\">") && html.contains("<figure id=\"lambda\">") && html.contains("Status: <b>finished</b>"), "{html}");
    assert!(html.contains(&genotype.trim().replace('<', "&lt;")) && html.contains("Content-Security-Policy"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("valid ppl") && stdout.contains("λmax"), "{stdout}");

    // The found cell, from the run directory, trained from scratch for 2 short epochs.
    let train = scratch("lm", "train");
    let args = ["train", "--task", "lm", out.to_str().unwrap(), "--quiet", "--backend", "cpu", "--epochs", "2", "--hidden", "32", "--bptt", "20", "--max-tokens", "12000", "--out", train.to_str().unwrap()];
    let o = rdarts(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let result: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(train.join("result.json")).unwrap()).unwrap();
    let (valid, test) = (result["valid_perplexity"].as_f64().unwrap(), result["test_perplexity"].as_f64().unwrap());
    assert!(test.is_finite() && test > 1.0 && test < 2001.0 && valid < 2001.0, "{result}");
    assert_eq!(result["genotype"].as_str().unwrap(), genotype.trim());
    assert!(train.join("plots/curves.svg").exists());
}

#[test]
fn a_recurrent_search_killed_mid_run_resumes_to_the_uninterrupted_result() {
    // The uninterrupted run, counting its write steps (listing only prints); then a run aborted
    // at one in the middle of the second epoch.
    let reference = scratch("lm", "reference");
    let steps = crate::run_listing_write_steps(&search_args(&reference)).len();
    assert!(steps > 6, "{steps} write steps");
    let killed = scratch("lm", "killed");
    let at = (steps / 2).to_string();
    let o = Command::new(BIN).args(search_args(&killed)).env("RDARTS_FAULT_ABORT_AT", &at).output().unwrap();
    assert!(!o.status.success(), "the fault point aborts the run");
    assert!(!killed.join("genotype.json").exists());
    let o = rdarts(&["resume", killed.to_str().unwrap(), "--read-every", "2"]);
    assert_clean_error(&o, "--read-every applies to image searches");
    let o = rdarts(&["resume", killed.to_str().unwrap(), "--quiet", "--backend", "cpu"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(outcome(&killed), outcome(&reference), "resumed after an abort at write step {at} of {steps}");
    let o = rdarts(&["resume", killed.to_str().unwrap()]);
    assert_clean_error(&o, "has finished");
}

#[test]
fn image_flags_are_refused_for_the_language_task_and_the_other_way_round() {
    let out = scratch("lm", "refused");
    let o = rdarts(&["search", "--task", "lm", "--space", "s2", "--out", out.to_str().unwrap()]);
    assert_clean_error(&o, "--space applies to image searches, not to --task lm");
    let o = rdarts(&["search", "--task", "lm", "--read-every", "4", "--out", out.to_str().unwrap()]);
    assert_clean_error(&o, "--read-every applies to image searches, not to --task lm");
    let o = rdarts(&["search", "--hidden", "32", "--out", out.to_str().unwrap()]);
    assert_clean_error(&o, "--hidden applies to --task lm only");
    let o = rdarts(&["train", "--task", "lm", "Genotype(recurrent=[('tanh', 0)], concat=range(1, 2))", "--layers", "3", "--out", out.to_str().unwrap()]);
    assert_clean_error(&o, "--layers applies to image training");
    let o = rdarts(&["train", "--task", "lm", "Genotype(recurrent=[('bogus', 0)], concat=range(1, 2))", "--out", out.to_str().unwrap()]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("bogus"), "{}", String::from_utf8_lossy(&o.stderr));
    // A configuration file: missing fields take the paper's values, unknown ones are named.
    let file = scratch("lm", "config.toml");
    std::fs::write(&file, "epochs = 2\nhiden = 16\n").unwrap();
    let o = rdarts(&["search", "--task", "lm", "--config", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_clean_error(&o, "unknown field `hiden`");
    assert!(!out.exists(), "nothing is written for refused input");
}
