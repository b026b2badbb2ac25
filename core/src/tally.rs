//! Running loss and accuracy over an epoch or an evaluation, and the one evaluation loop that
//! the search, RS-ws and training share.

use crate::data::{Batch, Dataset, make_batch};
use crate::rng::Rng;

/// The smallest chunk of images an evaluation-mode pass takes: small training batches would make
/// evaluation needlessly slow, and evaluation-mode BatchNorm treats every image alone.
pub const EVAL_CHUNK_MIN: usize = 64;

/// Sums of per-batch losses (weighted by batch size), correct predictions and images seen.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    loss_sum: f64,
    correct: usize,
    seen: usize,
}

impl Tally {
    /// Adds a batch of `images` with mean loss `loss` and `correct` right answers.
    pub fn add(&mut self, loss: f64, correct: usize, images: usize) {
        self.loss_sum += loss * images as f64;
        self.correct += correct;
        self.seen += images;
    }

    /// Mean loss per image so far (0 before any image).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }

    /// Fraction correct so far (0 before any image).
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.seen.max(1) as f64
    }
}

/// Mean loss and accuracy of `pass` over the images `idx` of `data`, without augmentation, in
/// consecutive chunks of `chunk` images; `pass` gives a chunk's mean loss and number correct.
pub async fn evaluate_chunks(data: &Dataset, idx: &[usize], chunk: usize, mut pass: impl AsyncFnMut(&Batch) -> (f64, usize)) -> (f64, f64) {
    let mut tally = Tally::default();
    // Without augmentation a batch draws nothing from its stream.
    let mut unused = Rng::new(0);
    for part in idx.chunks(chunk.max(1)) {
        let b = make_batch(data, part, None, &mut unused);
        let (loss, correct) = pass(&b).await;
        tally.add(loss, correct, part.len());
    }
    (tally.mean_loss(), tally.accuracy())
}
