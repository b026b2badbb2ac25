//! λmax tracking, DARTS-ES and DARTS-ADA inside a search (docs/ALGORITHM.md §6–§8), and the exactness of the
//! state snapshots that DARTS-ADA rolls back to, on tiny searches on the embedded digits (CPU).

use rdarts_core::formats::embedded_digits;
use rdarts_core::network::NetConfig;
use rdarts_core::block_on;
use rdarts_core::search::{EpochReport, HessianConfig, RobustAction, RobustConfig, RobustMode, Search, SearchConfig, SearchEvent, Snapshot};
use rdarts_core::space::SpaceId;
use rdarts_tests::cpu;

fn config(epochs: usize, every: usize) -> SearchConfig {
    SearchConfig {
        net: NetConfig { space: SpaceId::S5, channels: 4, layers: 3, nodes: 2, ..NetConfig::default() },
        epochs,
        batch_size: 16,
        seed: 9,
        order: rdarts_core::architect::Order::First,
        arch_lr: 1e-2,
        max_images: 64,
        eval_images: 16,
        hessian: HessianConfig { every, lanczos_steps: 4, ..HessianConfig::default() },
        ..SearchConfig::default()
    }
}

/// A rule that fires at every sample from the second on (window 1, delta 1, start 0, factor ≈ 0):
/// λmax is positive on these networks, so "current > previous · 1e-9" holds.
fn eager(mode: RobustMode) -> RobustConfig {
    RobustConfig { mode, window: 1, delta: 1, factor: 1e-9, start_epoch: 0, ..RobustConfig::default() }
}

fn run(search: &mut Search) -> (Vec<EpochReport>, Vec<SearchEvent>) {
    let (mut reports, mut events) = (Vec::new(), Vec::new());
    while !search.finished() {
        reports.push(block_on(search.run_epoch(&mut |e| if !matches!(e, SearchEvent::Step(_)) { events.push(e.clone()) })).unwrap());
    }
    (reports, events)
}

#[test]
fn curvature_is_tracked_on_schedule_without_changing_the_search() {
    // Two batches: the epoch's last α batch and one more from a stream of its own.
    let mut cfg = config(4, 2);
    cfg.hessian.batches = 2;
    let mut with = Search::new(cfg, embedded_digits(), &cpu()).unwrap();
    let (reports, _) = run(&mut with);
    let sampled: Vec<usize> = reports.iter().filter(|r| r.curvature.is_some()).map(|r| r.epoch).collect();
    assert_eq!(sampled, [0, 2, 3], "every 2 epochs and at the last");
    for r in reports.iter().filter_map(|r| r.curvature.as_ref()) {
        assert!(r.lambda_max >= r.lambda_min && r.lambda_max.is_finite(), "{r:?}");
        assert_eq!((r.gradient_evals, r.batches), (16, 2), "4 Lanczos products on each of 2 batches");
    }
    assert_eq!(with.tracker().ev.len(), 3);
    let mut without = Search::new(config(4, 0), embedded_digits(), &cpu()).unwrap();
    run(&mut without);
    assert_eq!(block_on(with.alpha().read()), block_on(without.alpha().read()), "λ tracking must not perturb the search");
}

#[test]
fn darts_es_stops_and_answers_with_the_stop_epochs_genotype() {
    let mut s = Search::new(SearchConfig { robust: eager(RobustMode::Es), ..config(5, 1) }, embedded_digits(), &cpu()).unwrap();
    let (reports, events) = run(&mut s);
    // Samples at 0 and 1: the second compares 1 local average back and fires; stop epoch 1 − 1 = 0.
    assert_eq!(reports.len(), 2, "stopped after epoch 1");
    let robust: Vec<_> = events.iter().filter_map(|e| if let SearchEvent::Robust(r) = e { Some(r) } else { None }).collect();
    assert_eq!(robust.len(), 1);
    let r = robust[0];
    assert_eq!((r.action, r.stop.at_epoch, r.stop.stop_epoch), (RobustAction::Stop, 1, 0));
    assert_eq!(r.at.genotype, reports[0].genotype);
    assert_eq!(block_on(s.result_genotype()), reports[0].genotype);
    assert!(s.finished());
}

#[test]
fn darts_ada_rolls_back_raises_weight_decay_up_to_the_maximum() {
    let robust = RobustConfig { max_weight_decay: 27e-4, ..eager(RobustMode::Ada) };
    let mut s = Search::new(SearchConfig { robust, ..config(3, 1) }, embedded_digits(), &cpu()).unwrap();
    let (reports, events) = run(&mut s);
    let epochs: Vec<(usize, usize, f64)> = reports.iter().map(|r| (r.epoch, r.iteration, r.weight_decay)).collect();
    // Epoch 1 fires → back to the end of epoch 0, ×3; again; then at 27e-4 no further stop.
    let expect = [(0, 1, 3e-4), (1, 1, 3e-4), (1, 2, 9e-4), (1, 3, 27e-4), (2, 3, 27e-4)];
    assert_eq!(epochs.len(), expect.len(), "{epochs:?}");
    for (got, want) in epochs.iter().zip(expect) {
        assert_eq!((got.0, got.1), (want.0, want.1), "{epochs:?}");
        assert!((got.2 - want.2).abs() < 1e-12, "{epochs:?}");
    }
    let actions: Vec<RobustAction> = events.iter().filter_map(|e| if let SearchEvent::Robust(r) = e { Some(r.action) } else { None }).collect();
    assert_eq!(actions, [RobustAction::Rollback, RobustAction::Rollback, RobustAction::AtMaximum]);
    // DARTS-ES's answer is the first stop's genotype: epoch 0's.
    assert_eq!(s.robust().first.as_ref().unwrap().at.genotype, reports[0].genotype);
    assert_eq!(s.config().weight_decay, 27e-4, "the weight decay in effect (the SGD step reads it from the configuration)");
    // Epoch 1 re-run after a rollback starts from the same state as the first time: with a
    // larger weight decay its weights differ, but its data order is the same one.
    assert_eq!(reports[1].train_acc, reports[2].train_acc);
}

#[test]
fn a_restored_snapshot_continues_exactly_and_survives_its_file_form() {
    let mut s = Search::new(SearchConfig { drop_path_prob: 0.3, ..config(3, 1) }, embedded_digits(), &cpu()).unwrap();
    block_on(s.run_epoch(&mut |_| {})).unwrap();
    let snap = block_on(s.snapshot());
    let bytes = snap.to_bytes();
    let back = Snapshot::from_bytes("state", &bytes).unwrap();
    assert!(back == snap, "snapshot changed through its file form");
    let first = block_on(s.run_epoch(&mut |_| {})).unwrap();
    let alpha_first = block_on(s.alpha().read());
    s.resume_from(&back, Vec::new()).unwrap();
    assert_eq!(s.epoch(), 1);
    let again = block_on(s.run_epoch(&mut |_| {})).unwrap();
    assert_eq!(block_on(s.alpha().read()), alpha_first, "re-running epoch 1 from its snapshot gives the same α");
    assert_eq!((first.train_loss, first.valid_loss), (again.train_loss, again.valid_loss));
    // Another version is refused with the reason.
    let mut other = back.clone();
    other.meta.version += 1;
    let err = Snapshot::from_bytes("ckpt.safetensors", &other.to_bytes()).unwrap_err().to_string();
    assert!(err.contains("ckpt.safetensors") && err.contains("version 3"), "{err}");
    assert!(Snapshot::from_bytes("x", &bytes[..bytes.len() / 2]).is_err(), "a truncated file is detected");
}

#[test]
fn darts_ada_drop_path_variant_raises_drop_path_with_cutout() {
    let robust = RobustConfig { target: rdarts_core::search::AdaTarget::DropPath, max_drop_path: 0.2, ..eager(RobustMode::Ada) };
    // Three epochs: the rule fires at epoch 1 (never at the last epoch, as in the reference).
    let mut s = Search::new(SearchConfig { robust, ..config(3, 1) }, embedded_digits(), &cpu()).unwrap();
    let (reports, _) = run(&mut s);
    let seen: Vec<(usize, f64)> = reports.iter().map(|r| (r.epoch, r.drop_path_prob)).collect();
    assert_eq!(seen, [(0, 0.0), (1, 0.0), (1, 0.2), (2, 0.2)]);
    assert_eq!((s.config().augment.cutout, s.config().schedule_cutout), (16, true), "Cutout joins drop-path, as R-DARTS(DP)");
    assert_eq!(s.config().weight_decay, 3e-4, "the weight decay is left alone");
}

/// The DARTS-ES rule agrees with the authors' own (`EVLocalAvg` of automl/RobustDARTS, driven as
/// their search loop drives it: tests/fixtures/es/make_es_fixture.py) on when it fires and which
/// epoch it returns, over 128 histories of 50 epochs with λ every 2 — rises at the last sample
/// only (never checked there), at the second- and third-to-last, negative previous averages,
/// random walks.
#[test]
fn the_stopping_rule_agrees_with_the_authors_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/es/es_replay.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let r = &doc["rule"];
    let n = |k: &str| r[k].as_u64().unwrap() as usize;
    let rule = rdarts_core::robust::EsRule { window: n("window"), delta: n("delta"), factor: r["factor"].as_f64().unwrap(), start_epoch: n("start_epoch"), every: n("every") };
    let cases = doc["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 128);
    let mut stops = 0;
    for c in cases {
        let history: Vec<(usize, f64)> = c["epochs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(c["lambda_max"].as_array().unwrap())
            .map(|(e, l)| (e.as_u64().unwrap() as usize, l.as_f64().unwrap()))
            .collect();
        let (_, stop) = rdarts_core::robust::replay(&rule, &history, Some(n("epochs") - 1));
        let got = stop.map(|s| (s.at_epoch as u64, s.stop_epoch as u64));
        let expected = c["trigger_epoch"].as_u64().map(|t| (t, c["stop_epoch"].as_u64().unwrap()));
        assert_eq!(got, expected, "{}: (trigger epoch, returned epoch)", c["name"]);
        stops += usize::from(expected.is_some());
    }
    assert!(stops > 10 && stops < cases.len(), "the histories exercise both outcomes ({stops} stops)");
}
