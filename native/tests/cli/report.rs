//! The run report: every SVG the run directory holds parses as XML with the expected drawing
//! elements, and report.html, rendered in headless Chromium (Debian's package; test.sh installs
//! it), shows every figure at a non-zero size, the found genotype and the DARTS-ES/ADA events.

use std::path::Path;
use std::process::Command;

use crate::BIN;

fn tmp(name: &str) -> crate::Scratch {
    crate::scratch("report", name)
}

/// A tiny search with λ every epoch and a DARTS-ES rule that fires at its second sample.
fn tiny_run(out: &Path) {
    let o = out.to_str().unwrap();
    let args = [
        "search", "--quiet", "--backend", "cpu", "--epochs", "3", "--max-images", "64", "--init-channels", "4", "--layers", "3",
        "--nodes", "2", "--batch-size", "16", "--lanczos-steps", "3", "--hessian-every", "1", "--robust", "ada",
        "--es-window", "1", "--es-delta", "1", "--es-factor", "1e-9", "--es-start-epoch", "0", "--ada-max-weight-decay", "9e-4",
        "--out", o,
    ];
    let r = Command::new(BIN).args(args).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
}

fn chromium() -> &'static str {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(c).exists() {
            return c;
        }
    }
    panic!("Chromium is needed for this test: run scripts/install-chromium.sh (test.sh does)");
}

#[test]
fn svgs_are_valid_and_the_page_renders_every_figure() {
    let run = tmp("run");
    tiny_run(&run);
    let plots = run.join("plots");
    let expected = ["lambda", "accuracy", "loss", "alpha-normal", "alpha-reduce", "cell-normal", "cell-reduce"];
    for name in expected {
        let path = plots.join(format!("{name}.svg"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{name}.svg is not valid XML: {e}"));
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "svg", "{name}");
        let size = |a: &str| root.attribute(a).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        assert!(size("width") > 0.0 && size("height") > 0.0, "{name}: no size");
        let count = |tag: &str| root.descendants().filter(|n| n.tag_name().name() == tag).count();
        match name {
            // 3 epochs of λ (polyline) and 2 robust events (dashed lines).
            "lambda" => assert!(count("polyline") >= 3 && count("circle") >= 3, "{name}: {text}"),
            "cell-normal" | "cell-reduce" => assert_eq!(count("path") - 1, 4 + 2, "{name}: 4 chosen edges and 2 concatenations"),
            "alpha-normal" | "alpha-reduce" => assert!(count("polyline") >= 5 * 8, "{name}: 5 edges × 8 ops"),
            _ => assert!(count("polyline") >= 2, "{name}"),
        }
    }
    for dot in ["cell-normal.dot", "cell-reduce.dot"] {
        let t = std::fs::read_to_string(plots.join(dot)).unwrap();
        assert!(t.starts_with("digraph") && t.matches(" -> ").count() == 6, "{dot}: {t}");
    }

    // `rdarts report` rewrites the page; render it.
    let r = Command::new(BIN).args(["report", run.to_str().unwrap()]).output().unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let page = run.join("report.html");
    // Its policy allows its one script by hash and nothing from elsewhere (the render check below
    // runs only if the hash is right).
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ") && html.contains("script-src 'sha256-"), "no policy on the report");
    let profile = tmp("chromium-profile");
    let out = Command::new(chromium())
        .args([
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1200,3000", "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", run.join("report.png").display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let dom = Command::new(chromium())
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout).to_string();
    let check = dom.split("<pre id=\"render-check\">").nth(1).and_then(|s| s.split("</pre>").next()).expect("render-check element");
    let figures: Vec<&str> = check.split_whitespace().collect();
    assert_eq!(figures.len(), expected.len(), "rendered figures: {check}");
    for f in &figures {
        let parts: Vec<&str> = f.split(':').collect();
        let (w, h) = parts[1].split_once('x').unwrap();
        let (w, h, n): (f64, f64, usize) = (w.parse().unwrap(), h.parse().unwrap(), parts[2].parse().unwrap());
        assert!(expected.contains(&parts[0]), "{f}");
        assert!(w > 100.0 && h > 100.0 && n > 10, "figure {f} did not render");
    }
    let genotype = std::fs::read_to_string(run.join("genotype.txt")).unwrap();
    let shown = genotype.trim().replace('\'', "&#39;");
    assert!(dom.contains(genotype.trim()) || dom.contains(&shown), "the page shows the found genotype");
    assert!(dom.contains("<table id=\"events\">") && dom.contains("Rollback") && dom.contains("AtMaximum"), "events table");
    assert!(std::fs::metadata(run.join("report.png")).unwrap().len() > 10_000, "screenshot");
}
