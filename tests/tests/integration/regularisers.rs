//! ScheduledDropPath and Cutout act in training only (docs/ALGORITHM.md §9).

use rdarts_core::data::{Augment, make_batch};
use rdarts_core::formats::embedded_digits;
use rdarts_core::params::{BnStats, Fwd, Mode};
use rdarts_core::rng::Rng;
use rdarts_core::space::SpaceId;
use rdarts_tests::{cpu, random_batch, tiny_setup, to_vec};

#[test]
fn drop_path_is_active_in_training_and_off_in_evaluation() {
    let dev = cpu();
    let (net, w, alpha) = tiny_setup(SpaceId::S2, 3, &dev);
    let batch = random_batch(8, &net.config, 4);
    let mut stats = BnStats::new(&net.bn_channels, &dev);
    let logits = |mode: Mode, p: f64, stats: &mut BnStats| {
        let mut rng = Rng::new(7);
        let mut f = Fwd { w: &w, mode, stats: Some(stats), rng: &mut rng, drop_prob: p, tape: None, kernels: Default::default(), constants: Default::default() };
        to_vec(&net.forward(&mut f, &alpha, batch.tensor(&dev)))
    };
    let train_off = logits(Mode::Train, 0.0, &mut stats);
    let train_on = logits(Mode::Train, 0.5, &mut stats);
    assert_ne!(train_off, train_on, "drop-path changes training outputs");
    let eval_off = logits(Mode::Eval, 0.0, &mut stats);
    let eval_on = logits(Mode::Eval, 0.9, &mut stats);
    assert_eq!(eval_off, eval_on, "drop-path is off at evaluation");
}

#[test]
fn cutout_applies_only_to_augmented_batches() {
    let ds = embedded_digits().truncate(16);
    let idx: Vec<usize> = (0..16).collect();
    let plain = make_batch(&ds, &idx, None, &mut Rng::new(1));
    let again = make_batch(&ds, &idx, None, &mut Rng::new(2));
    assert_eq!(plain.x, again.x, "evaluation batches are not augmented");
    let zero_pixels = |x: &[f32]| x.iter().filter(|v| **v == 0.0).count();
    let cut = Augment { crop_padding: 0, flip: false, cutout: 16, cutout_prob: 1.0 };
    let with = make_batch(&ds, &idx, Some(&cut), &mut Rng::new(3));
    // A 16×16 square (clipped at borders) per image: at least 8×8 = 64 zeroed pixels each.
    assert!(zero_pixels(&with.x) >= zero_pixels(&plain.x) + 16 * 64);
    let never = Augment { cutout_prob: 0.0, ..cut };
    assert_eq!(make_batch(&ds, &idx, Some(&never), &mut Rng::new(3)).x, plain.x);
}
