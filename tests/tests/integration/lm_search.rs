//! The recurrent search (`rdarts_core::lm::LmSearch`) on the embedded corpus: it learns, tracks λ,
//! and DARTS-ES, DARTS-ADA and R-DARTS(L2) act on it through the controller the image search uses;
//! an interrupted search resumes exactly.

use rdarts_core::block_on;
use rdarts_core::lm::{Corpus, LmEvent, LmSearch, LmSearchConfig, LmSnapshot};
use rdarts_core::search::{HessianConfig, RobustAction, RobustConfig, RobustMode};
use rdarts_tests::cpu;

/// The small preset on the first 12 000 training tokens (375 rows of 32 streams, windows of 20),
/// λ every epoch with at most 6 products.
fn tiny(epochs: usize) -> LmSearchConfig {
    LmSearchConfig { epochs, max_tokens: 12_000, hessian: HessianConfig { every: 1, lanczos_steps: 6, ..HessianConfig::default() }, ..LmSearchConfig::small() }
}

/// A rule that fires as soon as it has two λ samples: window 1, delta 1, any ratio above 1e-6.
fn eager(mode: RobustMode) -> RobustConfig {
    RobustConfig { mode, window: 1, delta: 1, factor: 1e-6, start_epoch: 0, ..RobustConfig::default() }
}

#[test]
fn a_small_recurrent_search_lowers_the_validation_perplexity_and_tracks_lambda() {
    let corpus = Corpus::embedded();
    let mut s = LmSearch::new(tiny(3), &corpus, &cpu()).unwrap();
    let mut windows = 0;
    let mut reports = Vec::new();
    while !s.finished() {
        reports.push(block_on(s.run_epoch(&mut |e| windows += matches!(e, LmEvent::Step { .. }) as usize)).unwrap());
    }
    for r in &reports {
        let c = r.curvature.as_ref().expect("λ every epoch");
        eprintln!("epoch {}: valid ppl {:.1}, λ ∈ [{:.4}, {:.4}] ({} gradients), {}", r.epoch, r.valid_ppl, c.lambda_min, c.lambda_max, c.gradient_evals, r.genotype);
        assert!(c.lambda_max.is_finite() && c.lambda_max >= c.lambda_min && c.gradient_evals <= 12);
        assert_eq!(r.genotype.steps(), 4);
        assert!(r.alpha.iter().all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-5));
    }
    // 375 rows make 19 windows of 20 an epoch; each window of 10 (one in 20) adds at most one.
    assert!((3 * 19..=3 * 19 + 9).contains(&windows), "{windows} windows in 3 epochs");
    let (first, last) = (&reports[0], &reports[2]);
    // Uniform guessing over 2 001 words is a perplexity of 2 001.
    assert!(first.valid_ppl < 2001.0 && last.valid_ppl < first.valid_ppl, "{} → {}", first.valid_ppl, last.valid_ppl);
    assert_eq!(s.controller().tracker().ev.len(), 3, "every λ reaches the DARTS-ES record");
    assert_eq!(block_on(s.result_genotype()), last.genotype);
}

#[test]
fn darts_es_and_ada_act_on_the_recurrent_search_through_the_shared_controller() {
    let corpus = Corpus::embedded();
    // DARTS-ES: stops when the rule fires and answers with the stop epoch's genotype.
    let mut es = LmSearch::new(LmSearchConfig { robust: eager(RobustMode::Es), ..tiny(4) }, &corpus, &cpu()).unwrap();
    let mut fired = Vec::new();
    let mut genotypes = Vec::new();
    while !es.finished() {
        let r = block_on(es.run_epoch(&mut |e| if let LmEvent::Robust(r) = e { fired.push(r.clone()) })).unwrap();
        genotypes.push(r.genotype);
    }
    assert_eq!(fired.len(), 1, "{fired:?}");
    let stop = &fired[0];
    assert_eq!(stop.action, RobustAction::Stop);
    assert!(es.epoch() < 4, "DARTS-ES ended the search early, after {} epochs", es.epoch());
    assert_eq!(stop.at.genotype, genotypes[stop.stop.stop_epoch]);
    assert_eq!(block_on(es.result_genotype()), stop.at.genotype);

    // DARTS-ADA: rolls back to the stop epoch's state and multiplies the weight decay, until it
    // reaches its maximum (two raises of 3× from 5e-7: 6 epochs run, where 1e-3 took 7 raises
    // and twice the time).
    let base = tiny(4);
    let robust = RobustConfig { max_weight_decay: 4.5e-6, ..eager(RobustMode::Ada) };
    let mut ada = LmSearch::new(LmSearchConfig { robust, ..base.clone() }, &corpus, &cpu()).unwrap();
    let mut events = Vec::new();
    let mut epochs_run = 0;
    while !ada.finished() {
        block_on(ada.run_epoch(&mut |e| if let LmEvent::Robust(r) = e { events.push(r.clone()) })).unwrap();
        epochs_run += 1;
    }
    let first = events.first().expect("the rule fired");
    assert_eq!(first.action, RobustAction::Rollback);
    assert_eq!(first.next_epoch, first.stop.stop_epoch + 1, "the stop epoch's state was restored");
    assert!((first.weight_decay - 3.0 * base.weight_decay).abs() < 1e-18, "weight decay {}", first.weight_decay);
    assert_eq!(first.iteration, 2);
    assert!(epochs_run > 4, "rolled-back epochs run again ({epochs_run} epochs run)");
    assert_eq!(ada.controller().robust().events.len(), events.len());
    assert!((ada.config().weight_decay - 4.5e-6).abs() < 1e-18, "weight decay {}", ada.config().weight_decay);
    let last = events.last().unwrap();
    assert_eq!(last.action, RobustAction::AtMaximum, "{events:?}");
}

#[test]
fn an_interrupted_recurrent_search_resumes_exactly_from_its_checkpoint() {
    let corpus = Corpus::embedded();
    let config = LmSearchConfig { robust: RobustConfig { mode: RobustMode::Off, ..RobustConfig::default() }, ..tiny(2) };
    let mut straight = LmSearch::new(config.clone(), &corpus, &cpu()).unwrap();
    block_on(straight.run_epoch(&mut |_| {})).unwrap();
    let bytes = block_on(straight.snapshot()).to_bytes();
    let want = block_on(straight.run_epoch(&mut |_| {})).unwrap();

    let snap = LmSnapshot::from_bytes("search.ckpt", &bytes).unwrap();
    let mut resumed = LmSearch::new(config.clone(), &corpus, &cpu()).unwrap();
    resumed.resume_from(&snap, Vec::new()).unwrap();
    let got = block_on(resumed.run_epoch(&mut |_| {})).unwrap();
    assert_eq!((got.train_loss, got.valid_loss, &got.genotype), (want.train_loss, want.valid_loss, &want.genotype));
    assert_eq!(got.curvature.map(|c| c.lambda_max), want.curvature.map(|c| c.lambda_max));

    // Another configuration's checkpoint, and a damaged one, are refused with the file named.
    let mut other = LmSearch::new(LmSearchConfig { seed: 4, ..config }, &corpus, &cpu()).unwrap();
    let err = other.resume_from(&snap, Vec::new()).unwrap_err().to_string();
    assert!(err.contains("checkpoint"), "{err}");
    let err = LmSnapshot::from_bytes("search.ckpt", &bytes[..bytes.len() / 2]).unwrap_err().to_string();
    assert!(err.contains("search.ckpt"), "{err}");
}

/// One window of the recurrent search cell on the CPU backend and on wgpu (lavapipe in CI): the
/// weight step's NLL and gradients, the α gradient and the next hidden state agree. Tolerances as
/// `cross_backend.rs` argues them (float32, other summation orders): NLL 1e-4 relative, every
/// gradient and the hidden state 1e-4 of their largest entry plus a floor (measured on lavapipe:
/// the hidden state, after 6 steps of the recurrence with BatchNorm over 8 rows, differs by
/// 4.2e-5 where its largest entry is 2.3).
#[test]
fn one_recurrent_window_agrees_on_the_cpu_and_on_wgpu() {
    use burn::tensor::Tensor;
    use rdarts_core::architect::{Order, PassCtx};
    use rdarts_core::lm::step::{LmUnroll, Start, alpha_grad, weight_grads};
    use rdarts_core::lm::{Batched, RnnCell, RnnConfig, RnnModel};
    use rdarts_core::params::{BnStats, Weights, init_weights, tensor1};
    use rdarts_core::rng::Rng;
    use rdarts_tests::{max_abs, max_abs_diff, to_vec, wgpu};

    let Some(gpu) = wgpu() else { return };
    let corpus = Corpus::embedded();
    let config = RnnConfig { tokens: corpus.vocab.len(), hidden: 16, dropout: 0.2, dropout_h: 0.1, dropout_x: 0.2, dropout_i: 0.1, dropout_e: 0.1 };
    let model = RnnModel::new(config, RnnCell::Search { steps: 3 }).unwrap();
    let host = block_on(init_weights(&model.specs, &mut Rng::new(7), &cpu()).read());
    let shape = model.alpha_shape();
    let alpha_host: Vec<f32> = Rng::new(8).normal_vec(shape[0] * shape[1]).iter().map(|x| 0.5 * x).collect();
    let data = Batched::new(&corpus.train[..2000], 8).unwrap();
    let (train_win, val_win) = (data.window(0, 6), data.window(100, 6));
    let run = |dev: &burn::tensor::Device| {
        let w = Weights::from_host(&host, dev);
        let alpha = tensor1(alpha_host.clone(), dev).reshape(shape);
        let hidden = Tensor::<2>::zeros([8, 16], dev).add_scalar(0.1);
        let mut stats = BnStats::new(&model.bn_channels, dev);
        let mut rng = Rng::new(9);
        let (loss, grads, next) = block_on(weight_grads(&model, &w, Some(&alpha), &train_win, &hidden, 1e-3, PassCtx::new(Some(&mut stats), &mut rng, 0.0)));
        let unroll = LmUnroll { order: Order::First, lr: 20.0, weight_decay: 5e-7, clip: 0.25, step_embedding: false };
        let start = Start { win: &train_win, hidden: &hidden };
        let (arch_loss, ga, _) = block_on(alpha_grad(&model, &w, &alpha, start, Start { win: &val_win, hidden: &hidden }, unroll, PassCtx::new(Some(&mut stats), &mut rng, 0.0)));
        (loss, grads.iter().map(to_vec).collect::<Vec<_>>(), to_vec(&next), arch_loss, to_vec(&ga))
    };
    let (c, g) = (run(&cpu()), run(&gpu));
    assert!((c.0 - g.0).abs() <= 1e-4 * c.0.abs(), "NLL {} vs {}", c.0, g.0);
    assert!((c.3 - g.3).abs() <= 1e-4 * c.3.abs(), "α-step NLL {} vs {}", c.3, g.3);
    for (i, (a, b)) in c.1.iter().zip(&g.1).enumerate() {
        assert!(max_abs_diff(a, b) <= 1e-4 * max_abs(a) + 1e-7, "gradient of {}: {} (largest {})", model.specs[i].name, max_abs_diff(a, b), max_abs(a));
    }
    eprintln!("hidden state: largest difference {:.2e} of largest entry {:.2e}", max_abs_diff(&c.2, &g.2), max_abs(&c.2));
    assert!(max_abs_diff(&c.2, &g.2) <= 1e-4 * max_abs(&c.2) + 1e-6, "hidden state {}", max_abs_diff(&c.2, &g.2));
    assert!(max_abs_diff(&c.4, &g.4) <= 1e-4 * max_abs(&c.4) + 1e-7, "α gradient {} (largest {})", max_abs_diff(&c.4, &g.4), max_abs(&c.4));
}

/// A recurrent search window reads from the device once (its two NLLs together); the evaluation
/// once per validation window; the epoch's end once more (α, for the genotype and the report).
#[test]
fn a_recurrent_search_window_reads_from_the_device_once() {
    use rdarts_core::params::host_reads_on_this_thread as host_reads;
    let corpus = Corpus::embedded();
    let config = LmSearchConfig { hessian: HessianConfig { every: 0, ..HessianConfig::default() }, ..tiny(1) };
    let mut s = LmSearch::new(config.clone(), &corpus, &cpu()).unwrap();
    let mut windows = 0;
    let before = host_reads();
    block_on(s.run_epoch(&mut |e| windows += matches!(e, LmEvent::Step { .. }) as usize)).unwrap();
    let reads = host_reads() - before;
    // The validation text in 10 streams: 858 rows, windows of `bptt` from row 0 while a target exists.
    let eval_windows = (corpus.valid.len() / config.eval_batch_size - 1).div_ceil(config.bptt);
    assert_eq!(reads as usize, windows + eval_windows + 1, "{windows} windows, {eval_windows} evaluation windows");
}
