//! The random-search baseline with weight sharing (docs/ALGORITHM.md §10): the supernet trained
//! on one uniformly sampled architecture per batch, then sampled architectures ranked on
//! validation data with the shared weights. Async like the DARTS epoch, so it also runs where
//! reads cannot block.

use burn::tensor::{Tensor, TensorData};

use super::{EpochReport, Kept, RsBatchNorm, SampledArch, SampledWeights, Search, SearchEvent, StepReport};
use crate::clock::now_seconds;
use crate::data::{Batch, full_batches, make_batch};
use crate::error::CoreError;
use crate::genotype::Genotype;
use crate::network::{cross_entropy, read_loss_and_correct};
use crate::params::{Fwd, Mode};
use crate::rng::Rng;
use crate::space::{CellKind, Primitive};
use crate::tally::{Tally, evaluate_chunks};

/// How two (accuracy, loss) scores rank: the higher accuracy above, then the lower loss.
fn ranking((acc_a, loss_a): (f64, f64), (acc_b, loss_b): (f64, f64)) -> std::cmp::Ordering {
    acc_a.total_cmp(&acc_b).then(loss_b.total_cmp(&loss_a))
}

impl Search {
    /// RS-ws's answer: among the re-ranked candidates the best on the whole validation half, else
    /// the candidate with the best validation accuracy (then loss) on its batches.
    pub fn best_sampled(&self) -> Option<&SampledArch> {
        let by = |score: fn(&SampledArch) -> Option<(f64, f64)>| {
            self.sampled.iter().filter_map(|s| score(s).map(|v| (s, v))).max_by(|(_, a), (_, b)| ranking(*a, *b)).map(|(s, _)| s)
        };
        by(|s| s.rerank).or_else(|| by(|s| Some((s.valid_acc, s.valid_loss))))
    }

    /// A uniformly random architecture of the space: per node two distinct inputs, on each any op
    /// of the edge's list, `none` included, as the authors' sampler draws them
    /// (`src/search/randomNAS/darts_wrapper_discrete.py:221-235`); with its one-hot op weights and
    /// active (edge, op) pairs per cell type.
    fn sample_arch(&self, rng: &mut Rng) -> (Genotype, SampledWeights) {
        let space = &self.net.space;
        let (edges, k) = (space.edges(), space.ops_per_edge());
        let mut cells = Vec::new();
        let mut parts = Vec::new();
        for kind in [CellKind::Normal, CellKind::Reduce] {
            let ops = space.ops(kind);
            let mut active = vec![vec![false; k]; edges];
            let mut gene = Vec::new();
            let mut offset = 0;
            for node in 0..self.config.net.nodes {
                let mut inputs: Vec<usize> = (0..node + 2).collect();
                rng.shuffle(&mut inputs);
                let mut chosen = inputs[..2].to_vec();
                chosen.sort_unstable();
                for input in chosen {
                    let e = offset + input;
                    let j = rng.below(ops[e].len());
                    active[e][j] = true;
                    gene.push((ops[e][j], input));
                }
                offset += node + 2;
            }
            let w: Vec<f32> = active.iter().flatten().map(|&a| if a { 1.0 } else { 0.0 }).collect();
            parts.push((Tensor::<2>::from_data(TensorData::new(w, [edges, k]), &self.device), active));
            cells.push(gene);
        }
        let concat: Vec<usize> = (2..self.config.net.nodes + 2).collect();
        let [normal, reduce]: [Vec<(Primitive, usize)>; 2] = cells.try_into().expect("two cell types");
        let g = Genotype { normal, normal_concat: concat.clone(), reduce, reduce_concat: concat };
        (g, parts.try_into().expect("two cell types"))
    }

    /// One training-mode pass of a sampled architecture on `batch` that updates the running
    /// statistics: loss, number correct and the weight gradients.
    async fn arch_train_pass(&mut self, arch: &SampledWeights, batch: &Batch, drop_prob: f64) -> (f64, usize, Vec<Tensor<1>>) {
        let w = self.weights.leaves();
        let (wn, wr) = (arch[0].0.clone().autodiff(), arch[1].0.clone().autodiff());
        let mut f = Fwd { w: &w, mode: Mode::Train, stats: Some(&mut self.stats), rng: &mut self.model_rng, drop_prob, tape: None, kernels: Default::default(), constants: Default::default() };
        let logits = self.net.forward_weighted(&mut f, &wn, &wr, Some((&arch[0].1, &arch[1].1)), batch.tensor(&self.device).autodiff());
        let loss = cross_entropy(logits.clone(), &batch.y);
        let (value, hits) = read_loss_and_correct(&logits, &loss, &batch.y).await;
        (value, hits, w.grads(&loss.backward()))
    }

    /// Loss and number correct of a sampled architecture on `batch` with BatchNorm as
    /// `rs_batch_norm` says (evaluation mode: the running statistics; training mode: the batch's),
    /// running statistics untouched, no drop-path, no graph, the search's streams not advanced.
    async fn arch_eval_pass(&self, arch: &SampledWeights, batch: &Batch) -> (f64, usize) {
        let mut rng = self.model_rng.clone();
        let mut stats = self.stats.clone();
        let (mode, stats) = match self.config.rs_batch_norm {
            RsBatchNorm::Eval => (Mode::Eval, Some(&mut stats)),
            RsBatchNorm::Train => (Mode::Train, None),
        };
        let mut f = Fwd { w: &self.weights, mode, stats, rng: &mut rng, drop_prob: 0.0, tape: None, kernels: Default::default(), constants: Default::default() };
        let logits = self.net.forward_weighted(&mut f, &arch[0].0, &arch[1].0, Some((&arch[0].1, &arch[1].1)), batch.tensor(&self.device));
        let loss = cross_entropy(logits.clone(), &batch.y);
        read_loss_and_correct(&logits, &loss, &batch.y).await
    }

    /// Loss and accuracy of one sampled architecture on the validation images `indices`, in
    /// chunks of the batch size (training-mode BatchNorm depends on the batch).
    async fn evaluate_arch(&self, arch: &SampledWeights, indices: &[usize]) -> (f64, f64) {
        evaluate_chunks(&self.data, indices, self.config.batch_size, async |b: &Batch| self.arch_eval_pass(arch, b).await).await
    }

    /// RS-ws's ranking after the last epoch, as the authors' code ranks
    /// (`src/search/randomNAS/random_weight_share.py:98-132`, `get_eval_arch`): `rs_candidates`
    /// sampled architectures, each scored on the next `rs_eval_batches` validation batches (one
    /// stream of full batches in random order through the candidates, as their `valid_iter`), then
    /// the best `rs_rerank` scored again on the whole validation half.
    async fn rank_candidates(&mut self, observe: &mut dyn FnMut(&SearchEvent)) -> Result<(), CoreError> {
        let cfg = self.config.clone();
        let mut rng = Rng::new(cfg.seed).fork(2000);
        let mut stream: Vec<Vec<usize>> = Vec::new();
        let mut candidates = Vec::with_capacity(cfg.rs_candidates);
        for index in 0..cfg.rs_candidates {
            let (genotype, arch) = self.sample_arch(&mut rng);
            let mut images = Vec::with_capacity(cfg.rs_eval_batches * cfg.batch_size);
            for _ in 0..cfg.rs_eval_batches {
                if stream.is_empty() {
                    stream = full_batches(&self.split.valid, cfg.batch_size, &mut rng);
                    stream.reverse();
                }
                images.extend(stream.pop().expect("refilled above"));
            }
            let (valid_loss, valid_acc) = self.evaluate_arch(&arch, &images).await;
            if !valid_loss.is_finite() {
                return Err(CoreError::Numerical(format!("the validation loss of sampled architecture {} became {valid_loss} ({genotype})", index + 1)));
            }
            let s = SampledArch { index, genotype, valid_acc, valid_loss, rerank: None };
            observe(&SearchEvent::Sampled(s.clone()));
            candidates.push((s, arch));
        }
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        let score = |i: usize| (candidates[i].0.valid_acc, candidates[i].0.valid_loss);
        order.sort_by(|&i, &j| ranking(score(j), score(i)));
        for &i in order.iter().take(cfg.rs_rerank) {
            let (loss, acc) = self.evaluate_arch(&candidates[i].1, &self.split.valid).await;
            candidates[i].0.rerank = Some((acc, loss));
            observe(&SearchEvent::Sampled(candidates[i].0.clone()));
        }
        self.sampled.extend(candidates.into_iter().map(|(s, _)| s));
        Ok(())
    }

    /// One RS-ws epoch: a weight step per training batch, each on a freshly sampled architecture;
    /// after the last epoch, `rs_candidates` sampled architectures ranked on validation batches.
    pub(super) async fn run_epoch_rs(&mut self, observe: &mut dyn FnMut(&SearchEvent)) -> Result<EpochReport, CoreError> {
        let plan = self.plan_epoch();
        let (epoch, steps) = (plan.epoch, plan.train_batches.len());
        let mut tally = Tally::default();
        let mut last = None;
        for (step, idx) in plan.train_batches.iter().enumerate() {
            let mut arch_rng = self.data_rng.fork(7);
            let (g, arch) = self.sample_arch(&mut arch_rng);
            let b = make_batch(&self.data, idx, Some(&plan.augment), &mut self.data_rng);
            let (loss, hits, gw) = self.arch_train_pass(&arch, &b, plan.drop_prob).await;
            if !loss.is_finite() {
                return Err(CoreError::Numerical(format!("loss became {loss} at epoch {epoch}, step {step}")));
            }
            self.sgd.step_clipped(&mut self.weights.tensors, gw, self.config.grad_clip, plan.lr, self.config.weight_decay);
            tally.add(loss, hits, b.y.len());
            observe(&SearchEvent::Step(StepReport { epoch, step, steps, train_loss: loss, train_acc: tally.accuracy(), arch_loss: None }));
            last = Some((g, arch));
        }
        // Validation accuracy of the epoch's last sampled architecture.
        let (g, arch) = last.ok_or_else(|| CoreError::invalid("batch_size", "no training batch in an epoch"))?;
        let cfg = self.config.clone();
        let n = cfg.eval_images.max(cfg.batch_size).min(self.split.valid.len());
        let (valid_loss, valid_acc) = self.evaluate_arch(&arch, &self.split.valid[..n]).await;
        let values = [("the validation loss", valid_loss), ("the training loss", tally.mean_loss())];
        self.ensure_finite(epoch, values).await?;
        self.epoch += 1;
        if self.finished() {
            self.rank_candidates(observe).await?;
        }
        let report = EpochReport {
            epoch,
            lr: plan.lr,
            train_loss: tally.mean_loss(),
            train_acc: tally.accuracy(),
            valid_loss,
            valid_acc,
            genotype: self.best_sampled().map_or(g, |b| b.genotype.clone()),
            alpha_normal: Vec::new(),
            alpha_reduce: Vec::new(),
            seconds: now_seconds() - plan.start,
            curvature: None,
            weight_decay: cfg.weight_decay,
            drop_path_prob: cfg.drop_path_prob,
            iteration: 1,
        };
        observe(&SearchEvent::Epoch(report.clone()));
        self.ctl.end_epoch(plan.epoch, Kept { genotype: report.genotype.clone(), valid_acc }, None, false)?;
        Ok(report)
    }
}
