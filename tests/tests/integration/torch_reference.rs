//! rdarts against PyTorch's double backprop (docs/ALGORITHM.md §6). `tests/fixtures/torch/make_torch_fixture.py`
//! builds a small DARTS search network (S5: ReLU, max- and avg-pool, separable and dilated
//! convolutions, FactorizedReduce), draws weights, α and a batch, and records the training-mode
//! loss, ∇α L, the full Hessian ∇²α L and two Hessian-vector products. Here the same state dict and
//! batch are loaded through `rdarts_core::interop` (as `rdarts hessian --torch` does) and compared.
//!
//! Tolerances, from the arithmetic involved:
//! - loss: 1e-5 relative (float32 forward, different summation order: ~1e-6 expected);
//! - ∇α L: 1e-4 · max|g| per entry (float32 backward through ~40 ops);
//! - H·v: 2e-3 relative in L2 (our central difference: rounding ≈ 2e-4 at the default step, see
//!   `rdarts_core::hessian`; PyTorch's float32 double backprop adds its own ~1e-5);
//! - λmax by Lanczos in 20 products (40 gradient evaluations): 1e-3 relative to the exact
//!   eigenvalue of the reference Hessian plus the α weight decay (1e-3·I).

use rdarts_core::block_on;
use rdarts_core::interop::{TensorFile, infer_config, load_batch, load_darts_state};
use rdarts_core::network::Supernet;
use rdarts_core::space::SpaceId;
use rdarts_tests::{alpha_hessian, cpu};
use serde_json::Value;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/torch").join(name)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn rel_l2(a: &[f64], b: &[f64]) -> f64 {
    let d = a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum::<f64>().sqrt();
    d / b.iter().map(|y| y * y).sum::<f64>().sqrt()
}

#[test]
fn loss_gradient_and_curvature_match_pytorch_double_backprop() {
    let dev = cpu();
    let expected: Value = serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap();
    let model_bytes = std::fs::read(fixture("model.safetensors")).unwrap();
    let batch_bytes = std::fs::read(fixture("batch.safetensors")).unwrap();
    let model = TensorFile::parse("model.safetensors", &model_bytes).unwrap();
    let batch_file = TensorFile::parse("batch.safetensors", &batch_bytes).unwrap();
    let image_size = batch_file.shape("x").unwrap()[2];
    let config = infer_config(&model, SpaceId::S5, image_size).unwrap();
    let cfg = &expected["config"];
    assert_eq!(
        (config.channels, config.layers, config.nodes, config.classes, config.in_channels),
        (cfg["channels"].as_u64().unwrap() as usize, cfg["layers"].as_u64().unwrap() as usize, cfg["nodes"].as_u64().unwrap() as usize,
         cfg["classes"].as_u64().unwrap() as usize, cfg["in_channels"].as_u64().unwrap() as usize),
        "settings inferred from the state dict"
    );
    let net = Supernet::new(&config).unwrap();
    let (w, alpha) = load_darts_state(&model, &net, &dev).unwrap();
    let batch = load_batch(&batch_file, &config).unwrap();

    let wd = 1e-3;
    let mut h = alpha_hessian(&net, &w, &alpha, &batch, wd, &dev);
    let loss = expected["loss"].as_f64().unwrap();
    eprintln!("loss: rdarts {:.7} PyTorch {loss:.7}", h.loss);
    assert!((h.loss - loss).abs() <= 1e-5 * loss.abs(), "loss {} vs {loss}", h.loss);

    let g = block_on(h.gradient());
    let g_ref = floats(&expected["grad"]);
    let scale = g_ref.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let worst = g.iter().zip(&g_ref).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    eprintln!("∇α L: max |Δ| {worst:.2e} of max |g| {scale:.2e}");
    assert!(worst <= 1e-4 * scale, "gradient differs by {worst:e} (max |g| {scale:e})");

    for (i, p) in expected["products"].as_array().unwrap().iter().enumerate() {
        let v = floats(&p["v"]);
        let hv_ref: Vec<f64> = floats(&p["hv"]).iter().zip(&v).map(|(h, x)| h + wd * x).collect();
        let e = rel_l2(&block_on(h.apply(&v)), &hv_ref);
        eprintln!("H·v #{i}: relative L2 error {e:.2e}");
        assert!(e <= 2e-3, "H·v #{i}: relative error {e:e}");
    }

    let e = block_on(h.extremes(20, 0.0, 3));
    let (lmax, lmin) = (expected["lambda_max"].as_f64().unwrap() + wd, expected["lambda_min"].as_f64().unwrap() + wd);
    eprintln!("λmax: rdarts {:.6} PyTorch {lmax:.6}; λmin: rdarts {:.6} PyTorch {lmin:.6} ({} products)", e.max, e.min, e.products);
    assert!(e.products <= 20);
    assert!((e.max - lmax).abs() <= 1e-3 * lmax.abs(), "λmax {} vs {lmax}", e.max);
    assert!((e.min - lmin).abs() <= 1e-2 * lmax.abs(), "λmin {} vs {lmin}", e.min);
}

#[test]
fn a_state_dict_for_another_network_is_refused_with_the_reason() {
    let dev = cpu();
    let bytes = std::fs::read(fixture("model.safetensors")).unwrap();
    let model = TensorFile::parse("model.safetensors", &bytes).unwrap();
    let config = infer_config(&model, SpaceId::S5, 8).unwrap();
    let refuse = |config: &rdarts_core::network::NetConfig| {
        load_darts_state(&model, &Supernet::new(config).unwrap(), &dev).expect_err("refused").to_string()
    };
    // More cells: the reduction cells move, so a shape differs first.
    let err = refuse(&rdarts_core::network::NetConfig { layers: 6, ..config.clone() });
    assert!(err.starts_with("model.safetensors: tensor 'cells.") && err.contains("expected ["), "{err}");
    // Another space: its candidate ops have other parameters.
    let err = refuse(&rdarts_core::network::NetConfig { space: SpaceId::S2, ..config.clone() });
    assert!(err.contains("missing parameter 'cells.0._ops.0._ops.1.op.1.weight'") && err.contains("S2 network"), "{err}");
    // Fewer nodes: fewer channels enter the next cell.
    let err = refuse(&rdarts_core::network::NetConfig { nodes: 2, ..config.clone() });
    assert!(err.ends_with("tensor 'cells.1.preprocess1.op.1.weight' has shape [8, 12, 1, 1], expected [8, 8, 1, 1]"), "{err}");
    // The batch must fit the network.
    let batch = std::fs::read(fixture("batch.safetensors")).unwrap();
    let batch = TensorFile::parse("batch.safetensors", &batch).unwrap();
    let err = load_batch(&batch, &rdarts_core::network::NetConfig { image_size: 16, ..config.clone() }).err().unwrap().to_string();
    assert_eq!(err, "batch.safetensors: 'x' has shape [16, 3, 8, 8], expected [N, 3, 16, 16]");
    let err = load_batch(&batch, &rdarts_core::network::NetConfig { classes: 2, ..config }).err().unwrap().to_string();
    assert_eq!(err, "batch.safetensors: 'y' holds a label outside 0..2");
}

/// A state dict whose tensors have the wrong rank, or whose names claim an absurd number of cells,
/// is refused with the tensor named (it used to index out of bounds, or size a network of 10⁹
/// cells before failing).
#[test]
fn a_hostile_state_dict_is_refused_before_a_network_is_sized() {
    let bytes = std::fs::read(fixture("model.safetensors")).unwrap();
    let model = TensorFile::parse("model.safetensors", &bytes).unwrap();
    let rewrite = |edit: &dyn Fn(&str, Vec<f32>, Vec<usize>) -> Vec<(String, Vec<f32>, Vec<usize>)>| {
        let mut tensors: Vec<(String, Vec<u8>, Vec<usize>)> = Vec::new();
        for name in model.names() {
            let Ok((v, shape)) = model.f32(&name, None) else { continue }; // counters (num_batches_tracked) are not needed here
            for (n, v, s) in edit(&name, v, shape) {
                tensors.push((n, v.iter().flat_map(|x| x.to_le_bytes()).collect(), s));
            }
        }
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, b, s)| (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap()))
            .collect();
        safetensors::serialize(views, None).unwrap()
    };
    let rank0 = rewrite(&|n, v, s| if n == "classifier.weight" { vec![(n.into(), v[..1].to_vec(), vec![])] } else { vec![(n.into(), v, s)] });
    let file = TensorFile::parse("rank.safetensors", &rank0).unwrap();
    let err = infer_config(&file, SpaceId::S5, 8).unwrap_err().to_string();
    assert_eq!(err, "rank.safetensors: 'classifier.weight' has shape [], expected [classes, features]");
    let absurd = rewrite(&|n, v, s| {
        let mut out = vec![(n.to_string(), v.clone(), s.clone())];
        if n == "stem.0.weight" {
            out.push(("cells.999999999.extra.weight".into(), vec![0.0], vec![1]));
        }
        out
    });
    let file = TensorFile::parse("cells.safetensors", &absurd).unwrap();
    let config = infer_config(&file, SpaceId::S5, 8).unwrap();
    let err = Supernet::new(&config).expect_err("refused").to_string();
    assert_eq!(err, "invalid layers: must be at most 100, found 1000000000");
}

/// rdarts against the authors' own code: for S1, S2, S3 and S5, `tests/fixtures/authors/
/// make_authors_fixture.py` built automl/RobustDARTS's search `Network`, took three of their
/// first-order `Architect` steps between SGD steps, and computed the Hessian with their
/// `Analyzer.compute_Hw` (α weight decay included) and its eigenvalues as their search does. The
/// same state dict and batch loaded as `rdarts hessian --torch` loads them give the same loss
/// (1e-4 relative) and λmax, λmin within 2 % of the spectral scale max(|λmax|, |λmin|) (Lanczos,
/// 30 products). S4's noise makes their Hessian random; it has no fixture.
#[test]
fn loss_and_extreme_eigenvalues_match_the_authors_code() {
    let dev = cpu();
    for (dir, space) in [("s1", SpaceId::S1), ("s2", SpaceId::S2), ("s3", SpaceId::S3), ("s5", SpaceId::S5)] {
        let path = |f: &str| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/authors").join(dir).join(f);
        let expected: Value = serde_json::from_slice(&std::fs::read(path("expected.json")).unwrap()).unwrap();
        let (model_bytes, batch_bytes) = (std::fs::read(path("model.safetensors")).unwrap(), std::fs::read(path("batch.safetensors")).unwrap());
        let model = TensorFile::parse("model.safetensors", &model_bytes).unwrap();
        let batch_file = TensorFile::parse("batch.safetensors", &batch_bytes).unwrap();
        let config = infer_config(&model, space, batch_file.shape("x").unwrap()[2]).unwrap();
        let net = Supernet::new(&config).unwrap();
        let (w, alpha) = load_darts_state(&model, &net, &dev).unwrap_or_else(|e| panic!("{dir}: {e}"));
        let batch = load_batch(&batch_file, &config).unwrap();
        let wd = expected["alpha_weight_decay"].as_f64().unwrap();
        let mut h = alpha_hessian(&net, &w, &alpha, &batch, wd, &dev);
        assert_eq!(h.dim() as u64, expected["alpha_entries"].as_u64().unwrap(), "{dir}: α entries");
        let loss = expected["loss"].as_f64().unwrap();
        let e = block_on(h.extremes(30, 0.0, 3));
        let (lmax, lmin) = (expected["lambda_max"].as_f64().unwrap(), expected["lambda_min"].as_f64().unwrap());
        let scale = lmax.abs().max(lmin.abs());
        eprintln!("{dir}: loss {:.6} vs {loss:.6}; λmax {:.5} vs {lmax:.5}; λmin {:.5} vs {lmin:.5}", h.loss, e.max, e.min);
        assert!((h.loss - loss).abs() <= 1e-4 * loss.abs(), "{dir}: loss {} vs {loss}", h.loss);
        assert!((e.max - lmax).abs() <= 0.02 * scale, "{dir}: λmax {} vs {lmax}", e.max);
        assert!((e.min - lmin).abs() <= 0.02 * scale, "{dir}: λmin {} vs {lmin}", e.min);
    }
}
