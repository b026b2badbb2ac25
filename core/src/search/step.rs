//! One bi-level step, queued on the device without reading anything back, and the one read that
//! brings a group of queued steps' losses to the host. An epoch reads every `read_every` steps
//! (and after its last), so on a GPU the steps between two reads run without the host waiting for
//! the device's queue to drain.

use super::{EpochRun, Search, SearchEvent, StepReport};
use crate::architect::{Pass, PassCtx, Pending, StepBatches, Unroll, alpha_grad_pending, read_passes, weight_grads_pending};
use crate::data::Batch;
use crate::error::CoreError;

/// Losses and numbers correct of one bi-level step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOut {
    /// The weight step's pass on the training batch.
    pub train: Pass,
    /// The α step's pass on the validation batch (at w' in second order).
    pub arch: Pass,
}

/// A step whose passes have not been read yet.
pub(super) struct Queued {
    /// Step within the epoch.
    step: usize,
    /// Images in its training batch.
    images: usize,
    /// The α step's pass, then the weight step's.
    passes: [Pending; 2],
}

impl Search {
    /// Reads the queued steps' losses every `steps` steps of an epoch (and after its last): 1 reads
    /// each step as it is taken; more lets a GPU run that many steps without the host waiting for
    /// it. Results are the same for every value; progress is reported (and a non-finite loss
    /// found) when the steps are read. 0 counts as 1.
    pub fn set_read_every(&mut self, steps: usize) {
        self.read_every = steps.max(1);
    }

    /// One bi-level step, read at once: an α step on `val` (first or second order), then a weight
    /// step on `train`, at learning rate `lr` and drop-path probability `drop_prob`, then one read
    /// of both passes' losses and numbers correct. A non-finite loss is an error (the weights
    /// have taken the step by then).
    pub async fn step(&mut self, train: &Batch, val: &Batch, lr: f64, drop_prob: f64) -> Result<StepOut, CoreError> {
        let passes = self.queue_step(train, val, lr, drop_prob);
        let [arch, train] = read_passes(passes.into()).await.try_into().expect("two passes read");
        self.check_step(StepOut { train, arch })
    }

    /// [`Search::step`] with nothing read: the α step, the weight gradients, their clipping and the
    /// weight update are all queued on the device; the passes to read come back (what an epoch
    /// does with each step until it reads a group of them).
    pub fn queue_step(&mut self, train: &Batch, val: &Batch, lr: f64, drop_prob: f64) -> [Pending; 2] {
        let cfg = &self.config;
        let unroll = Unroll { order: cfg.order, lr, momentum: cfg.momentum, weight_decay: cfg.weight_decay, momentum_buf: &self.sgd.buf, fd_draws: cfg.fd_draws };
        let (arch, ga) = alpha_grad_pending(
            &self.net, &self.weights, &self.alpha, StepBatches { train, val }, &unroll,
            PassCtx::new(Some(&mut self.stats), &mut self.model_rng, drop_prob),
            &self.device,
        );
        self.adam_step(ga);
        let (train_pass, gw) = weight_grads_pending(
            &self.net, &self.weights, &self.alpha, train,
            PassCtx::new(Some(&mut self.stats), &mut self.model_rng, drop_prob),
            &self.device,
        );
        self.sgd.step_clipped(&mut self.weights.tensors, gw, self.config.grad_clip, lr, self.config.weight_decay);
        [arch, train_pass]
    }

    /// `out` if both its losses are finite.
    fn check_step(&self, out: StepOut) -> Result<StepOut, CoreError> {
        match [out.train.loss, out.arch.loss].into_iter().find(|l| !l.is_finite()) {
            Some(bad) => Err(CoreError::Numerical(format!("loss became {bad} ({:?}-order step)", self.config.order))),
            None => Ok(out),
        }
    }

    /// Queues the next step of `run` on `train` and `val`, and reads the queued steps if it makes
    /// `read_every` of them or ends the epoch.
    pub(super) async fn take_step(&mut self, run: &mut EpochRun, train: &Batch, val: &Batch, observe: &mut dyn FnMut(&SearchEvent)) -> Result<(), CoreError> {
        let passes = self.queue_step(train, val, run.plan.lr, run.plan.drop_prob);
        run.queued.push(Queued { step: run.next, images: train.y.len(), passes });
        run.next += 1;
        if run.queued.len() >= self.read_every || run.next == run.plan.train_batches.len() {
            self.read_queued(run, observe).await?;
        }
        Ok(())
    }

    /// Reads every queued step of `run` in one read and reports them in order; the first with a
    /// non-finite loss is an error naming its step.
    pub(super) async fn read_queued(&self, run: &mut EpochRun, observe: &mut dyn FnMut(&SearchEvent)) -> Result<(), CoreError> {
        let queued = std::mem::take(&mut run.queued);
        let steps: Vec<(usize, usize)> = queued.iter().map(|q| (q.step, q.images)).collect();
        let mut passes = read_passes(queued.into_iter().flat_map(|q| q.passes).collect()).await.into_iter();
        let (epoch, total) = (run.plan.epoch, run.plan.train_batches.len());
        for (step, images) in steps {
            let (arch, train) = (passes.next().expect("α pass read"), passes.next().expect("weight pass read"));
            let out = self.check_step(StepOut { train, arch }).map_err(|e| match e {
                CoreError::Numerical(m) => CoreError::Numerical(format!("{m} at epoch {epoch}, step {step} (try a lower learning rate)")),
                other => other,
            })?;
            run.tally.add(out.train.loss, out.train.correct, images);
            observe(&SearchEvent::Step(StepReport {
                epoch,
                step,
                steps: total,
                train_loss: out.train.loss,
                train_acc: run.tally.accuracy(),
                arch_loss: Some(out.arch.loss),
            }));
        }
        Ok(())
    }
}
