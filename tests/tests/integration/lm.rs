//! The recurrent language models against the authors' own code. `tests/fixtures/rnn/make_rnn_fixture.py`
//! runs quark0/darts' `RNNModelSearch` (the 8-node search cell) and `RNNModel` with DARTS_V2 on one
//! window of tokens from a given hidden state (training mode, every dropout 0) and records the
//! loss, the next hidden state, the gradients in α and in every weight, and for the search cell
//! the α Hessian by double backprop (extreme eigenvalues and two products). Here the same weights
//! are loaded by name into `rdarts_core::lm::RnnModel` and compared.
//!
//! Tolerances, from the arithmetic involved (float32 throughout, ~5 time steps × 9 states of
//! matrix products, BatchNorm over 4 rows, other summation orders than PyTorch's):
//! - loss: 1e-5 relative; hidden state: 1e-5 absolute (values of order 1);
//! - gradients: 1e-4 · the largest |entry| of each tensor;
//! - H·v: 2e-3 relative in L2. Ours is a central difference of α gradients along the unit
//!   direction, the base point's ReLU pattern replayed. Its error is rounding-dominated here: the
//!   worse of the two products measured 6.3e-3, 1.6e-3, 1.1e-3 and 7.3e-4 at steps 1e-3, 1e-2,
//!   2e-2 and 4e-2 (falling as 1/step, the float32 noise of ∇α L over the step, until truncation,
//!   O(step²), begins to show). The test uses 4e-2.

use burn::tensor::Tensor;
use rdarts_core::interop::{TensorFile, load_named};
use rdarts_core::lm::{RnnCell, RnnConfig, RnnGenotype, RnnModel};
use rdarts_core::params::{BnStats, Fwd, KinkTape, Mode, Weights, tensor1};
use rdarts_core::rng::Rng;
use rdarts_tests::{cpu, to_vec};
use serde_json::Value;

fn fixture(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/rnn").join(name)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn worst(a: &[f32], b: &[f64]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let d = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - y).abs()).fold(0.0, f64::max);
    (d, b.iter().fold(0.0f64, |m, y| m.max(y.abs())))
}

struct Window {
    inputs: Vec<u32>,
    targets: Vec<u32>,
    hidden: Vec<f32>,
    t: usize,
    b: usize,
}

fn window() -> Window {
    let bytes = std::fs::read(fixture("batch.safetensors")).unwrap();
    let file = TensorFile::parse("batch.safetensors", &bytes).unwrap();
    let ids = |name: &str| file.ints(name).unwrap();
    let (inputs, shape) = ids("inputs");
    let (targets, _) = ids("targets");
    let (hidden, _) = file.f32("hidden", None).unwrap();
    let to_u32 = |v: Vec<i64>| v.into_iter().map(|i| u32::try_from(i).unwrap()).collect();
    Window { inputs: to_u32(inputs), targets: to_u32(targets), hidden, t: shape[0], b: shape[1] }
}

fn config(expected: &Value) -> RnnConfig {
    let c = &expected["config"];
    let n = |k: &str| c[k].as_u64().unwrap() as usize;
    RnnConfig { tokens: n("tokens"), hidden: n("hidden"), dropout: 0.0, dropout_h: 0.0, dropout_x: 0.0, dropout_i: 0.0, dropout_e: 0.0 }
}

/// Loss, next hidden state, α gradient and weight gradients of one training-mode pass.
fn pass(model: &RnnModel, w: &Weights, alpha: Option<&Tensor<1>>, win: &Window, tape: Option<&mut KinkTape>) -> (f64, Vec<f32>, Option<Vec<f32>>, Vec<Vec<f32>>) {
    let dev = cpu();
    let leaves = w.leaves();
    let a = alpha.map(|a| a.clone().autodiff().require_grad());
    let shape = model.alpha_shape();
    let a2 = a.as_ref().map(|a| a.clone().reshape(shape));
    let mut rng = Rng::new(0);
    let mut stats = BnStats::new(&model.bn_channels, &dev);
    let mut f = Fwd { w: &leaves, mode: Mode::Train, stats: Some(&mut stats), rng: &mut rng, drop_prob: 0.0, tape, kernels: Default::default() };
    let h0 = tensor1(win.hidden.clone(), &dev).reshape([win.b, model.config.hidden]).autodiff();
    let out = model.forward(&mut f, a2.as_ref(), &win.inputs, &win.targets, [win.t, win.b], h0);
    let loss = f64::from(to_vec(&out.loss.clone().inner())[0]);
    let hidden = to_vec(&out.hidden.clone().inner());
    let grads = out.loss.backward();
    let ga = a.map(|a| to_vec(&a.grad(&grads).unwrap()));
    let gw = leaves.grads(&grads).iter().map(to_vec).collect();
    (loss, hidden, ga, gw)
}

fn check_pass(what: &str, model: &RnnModel, got: &(f64, Vec<f32>, Option<Vec<f32>>, Vec<Vec<f32>>), expected: &Value) {
    let (loss, hidden, _, gw) = got;
    let want = expected["loss"].as_f64().unwrap();
    eprintln!("{what}: loss rdarts {loss:.7} authors {want:.7}");
    assert!((loss - want).abs() <= 1e-5 * want.abs(), "{what}: loss {loss} vs {want}");
    let (d, _) = worst(hidden, &floats(&expected["hidden"]));
    assert!(d <= 1e-5, "{what}: next hidden state differs by {d:e}");
    for (spec, g) in model.specs.iter().zip(gw) {
        let (d, scale) = worst(g, &floats(&expected["grad_weights"][&spec.name]));
        eprintln!("{what}: ∇ {}: max |Δ| {d:.2e} of {scale:.2e}", spec.name);
        assert!(d <= 1e-4 * scale, "{what}: gradient of {} differs by {d:e} (max {scale:e})", spec.name);
    }
}

#[test]
fn search_cell_loss_gradients_and_curvature_match_the_authors_code() {
    let dev = cpu();
    let expected: Value = serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap();
    let steps = expected["config"]["steps"].as_u64().unwrap() as usize;
    let model = RnnModel::new(config(&expected), RnnCell::Search { steps }).unwrap();
    let bytes = std::fs::read(fixture("search.safetensors")).unwrap();
    let file = TensorFile::parse("search.safetensors", &bytes).unwrap();
    let w = load_named(&file, &model.specs, "the recurrent search model", &dev).unwrap();
    let (alpha, _) = file.f32("alpha", Some(&model.alpha_shape())).unwrap();
    let alpha = tensor1(alpha, &dev);
    let win = window();
    let exp = &expected["search"];

    let base = pass(&model, &w, Some(&alpha), &win, None);
    check_pass("search", &model, &base, exp);
    let g = base.2.as_ref().unwrap();
    let (d, scale) = worst(g, &floats(&exp["grad_alpha"]));
    eprintln!("search: ∇α L max |Δ| {d:.2e} of {scale:.2e}");
    assert!(d <= 1e-4 * scale, "α gradient differs by {d:e} (max {scale:e})");

    // H·v by central differences of ∇α L along the unit direction, the base point's ReLU
    // pattern recorded once and replayed at both points.
    let mut tape = KinkTape::new();
    pass(&model, &w, Some(&alpha), &win, Some(&mut tape));
    assert!(!tape.is_empty(), "the search cell's ReLUs are recorded");
    for (i, p) in exp["products"].as_array().unwrap().iter().enumerate() {
        let v = floats(&p["v"]);
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let eps = 4e-2;
        let shifted = |s: f64, tape: &mut KinkTape| {
            tape.rewind();
            let a: Vec<f32> = to_vec(&alpha).iter().zip(&v).map(|(a, x)| (f64::from(*a) + s * eps * x / norm) as f32).collect();
            pass(&model, &w, Some(&tensor1(a, &dev)), &win, Some(tape)).2.unwrap()
        };
        let (gp, gm) = (shifted(1.0, &mut tape), shifted(-1.0, &mut tape));
        let hv: Vec<f64> = gp.iter().zip(&gm).map(|(a, b)| (f64::from(*a) - f64::from(*b)) / (2.0 * eps) * norm).collect();
        let want = floats(&p["hv"]);
        let err = hv.iter().zip(&want).map(|(a, b)| (a - b).powi(2)).sum::<f64>().sqrt() / want.iter().map(|b| b * b).sum::<f64>().sqrt();
        eprintln!("search: H·v #{i}: relative L2 error {err:.2e}");
        assert!(err <= 2e-3, "H·v #{i}: relative error {err:e}");
    }
}

#[test]
fn published_cell_matches_the_authors_evaluation_model() {
    let dev = cpu();
    let expected: Value = serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap();
    let exp = &expected["eval"];
    let genotype: RnnGenotype = exp["genotype"].as_str().unwrap().parse().unwrap();
    assert_eq!(genotype, RnnGenotype::darts_v2());
    let model = RnnModel::new(config(&expected), RnnCell::Found(genotype)).unwrap();
    let bytes = std::fs::read(fixture("eval.safetensors")).unwrap();
    let file = TensorFile::parse("eval.safetensors", &bytes).unwrap();
    let w = load_named(&file, &model.specs, "the DARTS_V2 recurrent model", &dev).unwrap();
    let got = pass(&model, &w, None, &window(), None);
    check_pass("DARTS_V2", &model, &got, exp);
}

#[test]
fn parameter_counts_match_what_the_authors_code_prints() {
    let expected: Value = serde_json::from_slice(&std::fs::read(fixture("expected.json")).unwrap()).unwrap();
    let counts = &expected["paper_counts"];
    let paper = |hidden| RnnConfig { tokens: 10_000, hidden, dropout: 0.75, dropout_h: 0.25, dropout_x: 0.75, dropout_i: 0.2, dropout_e: 0.1 };
    let search = RnnModel::new(paper(300), RnnCell::Search { steps: 8 }).unwrap();
    let eval = RnnModel::new(paper(850), RnnCell::Found(RnnGenotype::darts_v2())).unwrap();
    assert_eq!(search.num_params() as u64, counts["search"].as_u64().unwrap());
    assert_eq!(eval.num_params() as u64, counts["eval_darts_v2"].as_u64().unwrap());
}
