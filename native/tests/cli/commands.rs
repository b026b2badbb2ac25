//! The `rdarts` binary: a tiny search end to end, and bad input giving a one-line error and a
//! non-zero exit, never a panic.

use std::path::Path;
use crate::{assert_clean_error, rdarts, run_tiny};


fn tmp(name: &str) -> crate::Scratch {
    crate::scratch("cli", name)
}

#[test]
fn tiny_search_writes_its_artifacts() {
    let out_dir = tmp("ok");
    let o = out_dir.to_str().unwrap();
    let args = ["--out", o, "--space", "s2"];
    let out = run_tiny(&args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout {stdout} stderr {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("backend: cpu"), "{stdout}");
    assert!(stdout.contains("found: Genotype("), "{stdout}");
    let text = std::fs::read_to_string(out_dir.join("genotype.txt")).unwrap();
    let g: rdarts_core::genotype::Genotype = text.trim().parse().unwrap();
    g.validate(Some(&rdarts_core::space::SearchSpace::new(rdarts_core::space::SpaceId::S2, 2).unwrap())).unwrap();
    let json: rdarts_core::genotype::Genotype =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("genotype.json")).unwrap()).unwrap();
    assert_eq!(json, g);
    let metrics = std::fs::read_to_string(out_dir.join("metrics.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.iter().filter(|e| e["event"] == "step").count(), 2, "32 training images / batch 16");
    assert_eq!(events.iter().filter(|e| e["event"] == "epoch").count(), 1);
    let epoch = events.iter().find(|e| e["event"] == "epoch").unwrap();
    assert!(epoch["curvature"]["lambda_max"].as_f64().unwrap().is_finite(), "λmax at the last epoch: {epoch}");
    assert_eq!(epoch["curvature"]["gradient_evals"], 6, "3 Lanczos products");
    assert!(stdout.contains("λmax "), "{stdout}");
    let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["net"]["space"], "S2");
    assert_eq!(config["net"]["in_channels"], 1);

    // Curvature of the saved state.
    let h = rdarts(&["hessian", "--run", o, "--backend", "cpu", "--steps", "3", "--json"]);
    assert!(h.status.success(), "{}", String::from_utf8_lossy(&h.stderr));
    let h: serde_json::Value = serde_json::from_slice(&h.stdout).unwrap();
    assert!(h["lambda_max"].as_f64().unwrap() >= h["lambda_min"].as_f64().unwrap() && h["epoch"] == 1, "{h}");
    assert!(out_dir.join("checkpoints/checkpoint-000001.safetensors").exists());
    for f in ["alphas.jsonl", "lambda.jsonl", "alpha.json", "run.json"] {
        assert!(out_dir.join(f).exists(), "{f}");
    }

    // The finished run is not overwritten by accident.
    let again = run_tiny(&args);
    assert_clean_error(&again, "already holds a finished run");
}

#[test]
fn bad_input_gives_a_clear_error() {
    let out_dir = tmp("bad");
    let o = out_dir.to_str().unwrap();
    let with = |extra: &[&str]| {
        let mut a = vec!["--out", o];
        a.extend(extra);
        run_tiny(&a)
    };
    assert_clean_error(&with(&["--space", "s9"]), "unknown search space 's9'");
    assert_clean_error(&with(&["--batch-size", "0"]), "batch_size");
    assert_clean_error(&with(&["--init-channels", "5"]), "channels");
    assert_clean_error(&with(&["--dataset", "cifar10"]), "--data");
    assert_clean_error(&with(&["--dataset", "cifar10", "--data", "/nonexistent/rdarts-data"]), "does not exist");

    // A CIFAR-10 folder with a truncated batch, and one with a batch missing.
    let data = tmp("cifar");
    let bin = data.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = |label: u8| { let mut r = vec![label]; r.extend(vec![7u8; 3072]); r };
    for i in 1..=5 {
        let mut bytes: Vec<u8> = (0..4).flat_map(|j| record(j as u8)).collect();
        if i == 3 {
            bytes.truncate(bytes.len() - 100);
        }
        std::fs::write(bin.join(format!("data_batch_{i}.bin")), bytes).unwrap();
    }
    let d = data.to_str().unwrap();
    assert_clean_error(&with(&["--dataset", "cifar10", "--data", d]), "data_batch_3.bin");
    std::fs::remove_file(bin.join("data_batch_4.bin")).unwrap();
    let out = with(&["--dataset", "cifar10", "--data", d]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("data_batch_3.bin") || stderr.contains("data_batch_4.bin"), "{stderr}");
    assert_clean_error(&out, "cifar-10-batches-bin");

    // Configuration files: unknown field and wrong type.
    let cfg = data.join("bad.toml");
    std::fs::write(&cfg, "epochs = 2\nbatchsize = 3\n").unwrap();
    assert_clean_error(&with(&["--config", cfg.to_str().unwrap()]), "batchsize");
    std::fs::write(&cfg, "epochs = \"many\"\n").unwrap();
    assert_clean_error(&with(&["--config", cfg.to_str().unwrap()]), "epochs");
    assert!(!Path::new(o).join("genotype.json").exists());
}

#[test]
fn a_valid_cifar10_folder_is_read() {
    let data = tmp("cifar-ok");
    std::fs::create_dir_all(&data).unwrap();
    // Flat layout (files directly in --data), 8 images per batch.
    for i in 1..=5 {
        let bytes: Vec<u8> = (0..8u8).flat_map(|j| { let mut r = vec![j % 10]; r.extend((0..3072).map(|p| ((p + j as usize * 31) % 256) as u8)); r }).collect();
        std::fs::write(data.join(format!("data_batch_{i}.bin")), bytes).unwrap();
    }
    let out_dir = tmp("cifar-run");
    let out = run_tiny(&["--dataset", "cifar10", "--data", data.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("40 images"), "{stdout}");
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/formats").join(name)).unwrap()
}

/// Each data set in the layout its users have on disk, searched for one tiny epoch.
#[test]
fn every_dataset_layout_is_found() {
    let root = tmp("layouts");
    let gz = |b: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(b).unwrap();
        e.finish().unwrap()
    };
    let mut idx_images = vec![0, 0, 8, 3, 0, 0, 0, 40, 0, 0, 0, 28, 0, 0, 0, 28];
    idx_images.extend((0..40 * 784).map(|i| (i % 253) as u8));
    let mut idx_labels = vec![0, 0, 8, 1, 0, 0, 0, 40];
    idx_labels.extend((0..40).map(|i| (i % 10) as u8));
    let layouts: Vec<(&str, &str, Vec<(&str, Vec<u8>)>, usize)> = vec![
        ("svhn", "svhn", vec![("train_32x32.mat", fixture("svhn-compressed.mat"))], 6),
        ("cifar10-py", "cifar10", (1..=5).map(|i| {
            (["cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/data_batch_2", "cifar-10-batches-py/data_batch_3",
              "cifar-10-batches-py/data_batch_4", "cifar-10-batches-py/data_batch_5"][i - 1], fixture("cifar10-py2.pkl"))
        }).collect(), 35),
        ("cifar100-py", "cifar100", vec![("cifar-100-python/train", fixture("cifar100-p4.pkl"))], 5),
        ("mnist", "mnist", vec![
            ("MNIST/raw/train-images-idx3-ubyte.gz", gz(&idx_images)),
            ("MNIST/raw/train-labels-idx1-ubyte.gz", gz(&idx_labels)),
        ], 40),
        ("fashion", "fashion-mnist", vec![
            ("train-images-idx3-ubyte", idx_images.clone()),
            ("train-labels-idx1-ubyte", idx_labels.clone()),
        ], 40),
    ];
    for (dir, dataset, files, n) in layouts {
        let d = root.join(dir);
        for (rel, bytes) in files {
            let p = d.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        let out_dir = root.join(format!("{dir}-run"));
        let out = run_tiny(&["--dataset", dataset, "--data", d.to_str().unwrap(), "--out", out_dir.to_str().unwrap(),
            "--batch-size", "2", "--rdarts-dp", "1"]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{dataset}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("({n} images")), "{dataset}: {stdout}");
        let config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out_dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(config["drop_path_prob"], 0.2, "{dataset}");
        assert_eq!(config["augment"]["cutout"], 16, "{dataset}");
    }
    // A folder with half the batches names the missing one.
    std::fs::remove_file(root.join("cifar10-py/cifar-10-batches-py/data_batch_4")).unwrap();
    let out = run_tiny(&["--dataset", "cifar10", "--data", root.join("cifar10-py").to_str().unwrap(), "--out", root.join("x").to_str().unwrap()]);
    assert_clean_error(&out, "data_batch_4");
}

/// DARTS-ADA on the embedded digits with a rule that fires at its second sample: the metrics show
/// the rollback to the stop epoch, the raised weight decay, and the stop at the maximum.
#[test]
fn darts_ada_run_restarts_from_the_stop_epoch_with_the_raised_factor() {
    let out_dir = tmp("ada");
    let o = out_dir.to_str().unwrap();
    let out = run_tiny(&[
        "--out", o, "--epochs", "3", "--hessian-every", "1", "--robust", "ada", "--es-window", "1", "--es-delta", "1",
        "--es-factor", "1e-9", "--es-start-epoch", "0", "--ada-max-weight-decay", "9e-4",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("DARTS-ADA: ") && stdout.contains("rolled back to epoch 1"), "{stdout}");
    let metrics = std::fs::read_to_string(out_dir.join("metrics.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = metrics.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let epochs: Vec<(u64, u64, f64)> = events
        .iter()
        .filter(|e| e["event"] == "epoch")
        .map(|e| (e["epoch"].as_u64().unwrap(), e["iteration"].as_u64().unwrap(), e["weight_decay"].as_f64().unwrap()))
        .collect();
    assert_eq!(epochs, [(0, 1, 3e-4), (1, 1, 3e-4), (1, 2, 9e-4), (2, 2, 9e-4)]);
    let robust: Vec<&serde_json::Value> = events.iter().filter(|e| e["event"] == "robust").collect();
    assert_eq!(robust.len(), 2, "{robust:?}");
    assert_eq!(robust[0]["action"], "rollback");
    assert_eq!((robust[0]["stop"]["stop_epoch"].as_u64(), robust[0]["next_epoch"].as_u64()), (Some(0), Some(1)));
    assert_eq!(robust[0]["weight_decay"], 9e-4);
    assert_eq!(robust[1]["action"], "at_maximum");
    let es: rdarts_core::genotype::Genotype = std::fs::read_to_string(out_dir.join("genotype_es.txt")).unwrap().trim().parse().unwrap();
    assert_eq!(serde_json::to_value(&es).unwrap(), robust[0]["genotype"]);

    // The same history through `rdarts early-stop`: the rule fires at epoch 1 (first iteration only).
    let metrics_path = out_dir.join("metrics.jsonl");
    let replay = rdarts(&["early-stop", metrics_path.to_str().unwrap(), "--window", "1", "--delta", "1", "--factor", "1e-9", "--start-epoch", "0", "--every", "1"]);
    let text = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success() && text.contains("stop at epoch 1") && text.contains("genotype of epoch 0"), "{text}");
}

#[test]
fn early_stop_replays_the_rule_over_a_plain_list() {
    let dir = tmp("es");
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("lambda.txt");
    // Flat at 1.0 for epochs 0..22 (every 2), then 1.2 and 2.5: the average of the last five
    // reaches 1.34 > 1.3 × 1.0 at epoch 26, rolling back to epoch 26 − 4 − 8 = 14.
    let mut values = vec!["1.0"; 12];
    values.extend(["1.2", "2.5"]);
    std::fs::write(&list, values.join("\n")).unwrap();
    let out = rdarts(&["early-stop", list.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("stop at epoch 26") && text.contains("genotype of epoch 14"), "{text}");
    // A search of 27 epochs ends with that sample: the rule is not applied at the last epoch.
    let out = rdarts(&["early-stop", list.to_str().unwrap(), "--epochs", "27"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("no stop") && text.contains("not applied at its last epoch (26)"), "{text}");
    // A stricter factor: no stop.
    let out = rdarts(&["early-stop", list.to_str().unwrap(), "--factor", "1.5"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no stop"));
    // Bad input names the file and line.
    std::fs::write(&list, "1.0\nabc\n").unwrap();
    assert_clean_error(&rdarts(&["early-stop", list.to_str().unwrap()]), "lambda.txt:2: 'abc' is not a number");
    std::fs::write(&list, "4 1.0\n2 1.0\n").unwrap();
    assert_clean_error(&rdarts(&["early-stop", list.to_str().unwrap()]), "epochs must increase");
    // A run's config.json that claims zero epochs is refused by name, not trusted.
    let metrics = dir.join("metrics.jsonl");
    std::fs::write(&metrics, r#"{"event":"epoch","epoch":0,"iteration":1,"curvature":{"lambda_max":1.0}}"#).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"epochs": 0}"#).unwrap();
    assert_clean_error(&rdarts(&["early-stop", metrics.to_str().unwrap()]), "config.json: 'epochs' must be at least 1, found 0");
}

/// `rdarts hessian` on the PyTorch fixture (tests/fixtures/torch) reproduces its λmax.
#[test]
fn hessian_command_reproduces_the_pytorch_fixture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/torch");
    let (model, batch) = (dir.join("model.safetensors"), dir.join("batch.safetensors"));
    let out = rdarts(&["hessian", "--torch", model.to_str().unwrap(), "--batch", batch.to_str().unwrap(), "--backend", "cpu", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let want = expected["lambda_max"].as_f64().unwrap() + 1e-3;
    let lmax = got["lambda_max"].as_f64().unwrap();
    assert!((lmax - want).abs() <= 1e-3 * want, "λmax {lmax} vs {want}");
    assert_eq!(got["alpha_entries"], 144);
    // The batch given as the model is refused with the file's name.
    let out = rdarts(&["hessian", "--torch", batch.to_str().unwrap(), "--batch", batch.to_str().unwrap(), "--backend", "cpu"]);
    assert_clean_error(&out, "batch.safetensors: no tensor named 'stem.0.weight'");
}

/// RS-ws on the embedded digits, ranked as the authors' code ranks: every sampled architecture
/// scored on its validation batches, the best `--rs-rerank` of them scored again on the whole
/// validation half, the answer the best of those.
#[test]
fn random_search_with_weight_sharing_returns_the_best_sampled_architecture() {
    let out_dir = tmp("rsws");
    let o = out_dir.to_str().unwrap();
    let out = run_tiny(&["--out", o, "--method", "rs-ws", "--epochs", "2", "--rs-candidates", "6", "--rs-eval-batches", "1", "--rs-rerank", "2", "--space", "s3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    let metrics = std::fs::read_to_string(out_dir.join("metrics.jsonl")).unwrap();
    let sampled: Vec<serde_json::Value> =
        metrics.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()).filter(|e| e["event"] == "sampled").collect();
    let (first, rerank) = sampled.split_at(6);
    assert_eq!((first.len(), rerank.len()), (6, 2), "6 candidates, the best 2 re-scored");
    let space = rdarts_core::space::SearchSpace::new(rdarts_core::space::SpaceId::S3, 2).unwrap();
    let score = |s: &serde_json::Value| (s["valid_acc"].as_f64().unwrap(), -s["valid_loss"].as_f64().unwrap());
    let mut ranked: Vec<&serde_json::Value> = first.iter().collect();
    for s in &ranked {
        let g: rdarts_core::genotype::Genotype = serde_json::from_value(s["genotype"].clone()).unwrap();
        g.validate(Some(&space)).unwrap();
        assert!((0.0..=1.0).contains(&s["valid_acc"].as_f64().unwrap()));
        assert!(s["rerank"].is_null());
    }
    // `none` is sampled like any other op of S3 (none, skip, sep 3×3), as the authors' sampler.
    assert!(first.iter().any(|s| s["genotype"].to_string().contains("\"none\"")), "no none in 6 candidates × 8 edges");
    ranked.sort_by(|a, b| score(b).partial_cmp(&score(a)).unwrap());
    let reranked: Vec<u64> = rerank.iter().map(|s| s["index"].as_u64().unwrap()).collect();
    assert_eq!(reranked, ranked[..2].iter().map(|s| s["index"].as_u64().unwrap()).collect::<Vec<_>>(), "the best two by their batches");
    let full = |s: &serde_json::Value| (s["rerank"][0].as_f64().unwrap(), -s["rerank"][1].as_f64().unwrap());
    let best = rerank.iter().max_by(|a, b| full(a).partial_cmp(&full(b)).unwrap()).unwrap();
    let expected: rdarts_core::genotype::Genotype = serde_json::from_value(best["genotype"].clone()).unwrap();
    let found: rdarts_core::genotype::Genotype = std::fs::read_to_string(out_dir.join("genotype.txt")).unwrap().trim().parse().unwrap();
    assert_eq!(found, expected, "the answer is the best on the whole validation half");
    assert!(stdout.contains("RS-ws: best of 6 sampled architectures") && stdout.contains("on the whole validation half"), "{stdout}");
    // DARTS-ES/ADA need α: refused with RS-ws.
    let bad = run_tiny(&["--out", o, "--overwrite", "--method", "rs-ws", "--robust", "es"]);
    assert_clean_error(&bad, "random search");
}

/// DARTS-ADA with `--preset paper` raises the weight decay as the authors' published runs did
/// (their launch scripts: ×10 up to 0.03), not as their code's defaults do (×3 up to 243e-4);
/// `--ada-preset` chooses either explicitly, and other presets keep the code's defaults.
#[test]
fn darts_ada_with_the_paper_preset_runs_as_published() {
    use clap::Parser;
    let config = |args: &[&str]| {
        let cli = rdarts::cli::Cli::try_parse_from(["rdarts", "search"].iter().chain(args)).unwrap();
        let rdarts::cli::Command::Search(a) = cli.command else { panic!("a search") };
        let c = rdarts::search_cmd::search_config(&a).unwrap();
        (c.robust.mul_factor, c.robust.max_weight_decay)
    };
    assert_eq!(config(&["--preset", "paper", "--robust", "ada"]), (10.0, 0.03));
    assert_eq!(config(&["--preset", "paper", "--robust", "ada", "--ada-preset", "reference"]), (3.0, 243e-4));
    assert_eq!(config(&["--robust", "ada"]), (3.0, 243e-4));
    assert_eq!(config(&["--robust", "ada", "--ada-preset", "launch-scripts"]), (10.0, 0.03));
    assert_eq!(config(&["--preset", "paper", "--robust", "ada", "--ada-mul-factor", "4"]), (4.0, 0.03));
}

/// RS-ws scores candidates with BatchNorm in evaluation mode by default (the running statistics,
/// as the authors' code); `--rs-batch-norm train` uses each batch's own statistics instead, which
/// gives other scores for the same candidates.
#[test]
fn random_search_scores_candidates_with_evaluation_mode_batch_norm_by_default() {
    let losses = |extra: &[&str]| {
        let out_dir = tmp(&format!("rsws-bn{}", extra.len()));
        let o = out_dir.to_str().unwrap();
        let mut args = vec!["--out", o, "--method", "rs-ws", "--epochs", "1", "--rs-candidates", "3", "--rs-eval-batches", "1", "--rs-rerank", "0", "--space", "s3"];
        args.extend(extra);
        let out = run_tiny(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("config.json")).unwrap()).unwrap();
        let metrics = std::fs::read_to_string(out_dir.join("metrics.jsonl")).unwrap();
        let l: Vec<f64> = metrics
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["event"] == "sampled")
            .map(|e| e["valid_loss"].as_f64().unwrap())
            .collect();
        (config["rs_batch_norm"].as_str().unwrap().to_string(), l)
    };
    let (eval_mode, eval) = losses(&[]);
    let (train_mode, train) = losses(&["--rs-batch-norm", "train"]);
    assert_eq!((eval_mode.as_str(), train_mode.as_str()), ("eval", "train"));
    assert_eq!((eval.len(), train.len()), (3, 3));
    assert!(eval.iter().zip(&train).all(|(a, b)| a != b), "the same candidates scored otherwise: {eval:?} vs {train:?}");
}

/// `rdarts bench` on wgpu (lavapipe in CI) counts each step's kernel launches and host reads: none
/// on the step's path (its losses are read with other steps' by the epoch; second order's
/// finite-difference radius stays on the device), so a read added there fails here; the CPU
/// backend launches no kernels and reports none.
#[test]
fn bench_counts_dispatches_and_host_reads_per_step() {
    let bench = |backend: &str| {
        let out = rdarts(&[
            "bench", "--backend", backend, "--json", "--batch-size", "2", "--init-channels", "2", "--layers", "3",
            "--image-size", "8", "--spaces", "s2", "--orders", "first,second", "--warmup", "1", "--reps", "1",
            "--lanczos-steps", "1",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<serde_json::Value> =
            String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        move |case: &str| lines.iter().find(|m| m["case"] == case).cloned()
    };
    if std::env::var("RDARTS_SKIP_WGPU").as_deref() != Ok("1") {
        let find = bench("wgpu");
        let launches = |case: &str| {
            let m = find(&format!("kernel launches per repetition {case}")).unwrap_or_else(|| panic!("no launch count for {case}"));
            let most = m["most_launched"].as_array().expect("most launched kernels").clone();
            assert!(!most.is_empty() && most.windows(2).all(|w| w[0][1].as_u64() >= w[1][1].as_u64()), "{m}");
            m["value"].as_u64().expect("a count")
        };
        let (first, second, lambda) = (launches("step s2 first-order"), launches("step s2 second-order"), launches("lambda_max s2 lanczos 1"));
        // Second order evaluates four gradients (α's at w' and at w ± ε·v, then the weights'), first
        // order two.
        assert!(first > 100 && 2 * second > 3 * first, "first {first}, second {second}");
        assert!(lambda > 0);
        assert_eq!(find("host reads per step s2 first-order").expect("reads")["value"], 0);
        assert_eq!(find("host reads per step s2 second-order").expect("reads")["value"], 0);
    }
    let find = bench("cpu");
    assert!(find("step s2 first-order").is_some());
    assert!(find("kernel launches per repetition step s2 first-order").is_none());
}
