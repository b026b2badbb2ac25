//! `rdarts train` and `rdarts genotype` end to end on the embedded digits (CPU backend).

use std::path::Path;
use crate::rdarts;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::BIN;
/// DARTS-V2, the published genotype, as the DARTS code prints it.
pub const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

fn tmp(name: &str) -> crate::Scratch {
    crate::scratch("train", name)
}


fn train_args(out: &Path) -> Vec<String> {
    ["train", DARTS_V2, "--backend", "cpu", "--quiet", "--epochs", "3", "--layers", "3", "--init-channels", "8", "--max-images", "768",
     "--test-images", "500", "--out"]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
}

fn epochs(run: &Path) -> Vec<String> {
    // Each epoch's line without its wall-clock seconds.
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object_mut().unwrap().remove("seconds");
            v.to_string()
        })
        .collect()
}

#[test]
fn training_learns_and_a_resumed_run_matches_an_uninterrupted_one() {
    let full = tmp("full");
    let started = Instant::now();
    let out = Command::new(BIN).args(train_args(&full)).output().unwrap();
    let epoch = started.elapsed() / 3;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(full.join("result.json")).unwrap()).unwrap();
    let acc = result["test_accuracy"].as_f64().unwrap();
    eprintln!("test accuracy after 3 epochs on 768 digits: {acc}");
    // Chance is 10 %.
    assert!(acc > 0.3, "accuracy {acc} is not well above chance; {stdout}");
    assert!(stdout.contains("test error"), "{stdout}");
    assert!(full.join("plots/curves.svg").exists());

    // Killed half an epoch after its first checkpoint is written (an epoch as long as the full
    // run's under this machine's present load, so the kill lands in epoch 2 however fast the
    // machine), then resumed.
    let cut = tmp("cut");
    let mut child = Command::new(BIN).args(train_args(&cut)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    while !cut.join("checkpoints/checkpoint-000001.safetensors").exists() && start.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(epoch / 2);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!cut.join("result.json").exists(), "the run should have been interrupted");
    let out = rdarts(&["resume", "--quiet", "--backend", "cpu", cut.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("resuming"));
    assert_eq!(epochs(&cut), epochs(&full), "per-epoch losses and accuracies");
    let r2: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(cut.join("result.json")).unwrap()).unwrap();
    assert_eq!(r2, result);
    // Finished runs are neither resumed nor overwritten by accident.
    let again = rdarts(&["resume", cut.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("has finished"));
    let args = train_args(&cut);
    let again = rdarts(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a finished run"));
}

#[test]
fn genotype_command_converts_draws_validates_and_counts() {
    let dir = tmp("genotype");
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("g.json");
    let out = rdarts(&["genotype", DARTS_V2, "--to", "json", "-o", json.to_str().unwrap(), "--params"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("3349342 parameters without the auxiliary head, auxiliary head 476426"), "{stderr}");
    // JSON back to text: the same genotype.
    let text = rdarts(&["genotype", json.to_str().unwrap()]);
    let back: rdarts_core::genotype::Genotype = String::from_utf8_lossy(&text.stdout).trim().parse().unwrap();
    assert_eq!(back, DARTS_V2.parse().unwrap());
    let svg = rdarts(&["genotype", json.to_str().unwrap(), "--to", "svg"]);
    let svg = String::from_utf8_lossy(&svg.stdout).to_string();
    let doc = roxmltree::Document::parse(&svg).expect("valid SVG");
    assert_eq!(doc.descendants().filter(|n| n.attribute("class") == Some("edge")).count(), 2 * (8 + 4));
    let dot = rdarts(&["genotype", DARTS_V2, "--to", "dot"]);
    assert_eq!(String::from_utf8_lossy(&dot.stdout).matches("digraph").count(), 2);
    // DARTS-V2 is in S5 (the DARTS space) but not in S2 (skip and sep_conv_3x3 only).
    assert!(rdarts(&["genotype", DARTS_V2, "--space", "s5"]).status.success());
    let bad = rdarts(&["genotype", DARTS_V2, "--space", "s2"]);
    let e = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && e.contains("is not in space S2"), "{e}");
    let bad = rdarts(&["genotype", "Genotype(normal=[('sep_conv_3x3', 5)])"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).starts_with("error: "));
}

/// `rdarts train --preset paper` trains the network the authors trained for each data set: C = 36
/// and 20 cells on CIFAR-10, their evaluation code's defaults (C = 16, 8 cells) on CIFAR-100 and
/// SVHN; the rest of the schedule is the same.
#[test]
fn the_paper_preset_picks_the_authors_network_per_data_set() {
    use rdarts::datasets::DatasetName;
    use rdarts_core::train::TrainConfig;
    let net = |d: DatasetName| {
        let c = TrainConfig::paper_for(d.kind());
        (c.net.channels, c.net.layers, c.net.auxiliary, c.epochs, c.batch_size, c.augment.cutout)
    };
    assert_eq!(net(DatasetName::Cifar10), (36, 20, true, 600, 96, 16));
    assert_eq!(net(DatasetName::Cifar100), (16, 8, true, 600, 96, 16));
    assert_eq!(net(DatasetName::Svhn), (16, 8, true, 600, 96, 16));
}

/// A genotype holding `none` (RS-ws may answer with one, as the authors' sampler) trains: the
/// edge is zeros, as in their evaluation network's `OPS` table.
#[test]
fn a_genotype_with_none_trains() {
    let out = crate::scratch("train", "none");
    let g = "Genotype(normal=[('none', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('none', 2)], normal_concat=[2, 3], \
             reduce=[('max_pool_3x3', 0), ('none', 1), ('none', 0), ('skip_connect', 2)], reduce_concat=[2, 3])";
    let r = rdarts(&[
        "train", g, "--backend", "cpu", "--quiet", "--epochs", "1", "--max-images", "32", "--test-images", "16", "--batch-size", "16",
        "--init-channels", "4", "--layers", "3", "--out", out.to_str().unwrap(),
    ]);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let result: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("result.json")).unwrap()).unwrap();
    assert!(result["test_accuracy"].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{result}");
}
