//! Gradients of the bi-level problem (docs/ALGORITHM.md §5): the weight gradient on a training batch, and the α
//! gradient on a validation batch, first order or second order (DARTS' unrolled step with the
//! finite-difference Hessian-vector product).

use burn::tensor::{Device, Gradients, Tensor};

use crate::data::Batch;
use crate::network::{Alpha, Supernet, cross_entropy, read_loss_and_correct};
use crate::params::{BnStats, Fwd, Mode, Weights, read_scalar, sq_norm};
use crate::rng::Rng;

/// Which α gradient to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// ∇α L_val(w, α).
    First,
    /// ∇α L_val(w − ξ ∇w L_train(w, α), α), by finite differences (DARTS "unrolled").
    Second,
}

/// The random draws (drop-path masks, S4's noise) of the second-order step's two
/// finite-difference passes at w⁺ and w⁻.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FdDraws {
    /// Fresh draws in each pass, as the authors' code makes them (automl/RobustDARTS
    /// `src/search/architect.py:80` and `:85`: each `self.model._loss(input, target)` draws its
    /// own masks and noise).
    #[default]
    Fresh,
    /// The same draws in both passes: the difference is then that of one function, the
    /// quantity the finite difference approximates (the λ products always replay).
    Replay,
}

/// What a training-mode pass may touch besides weights and α.
pub struct PassCtx<'a> {
    /// Running statistics to update (or `None` to leave them alone).
    pub stats: Option<&'a mut BnStats>,
    /// Randomness for noise and drop-path.
    pub rng: &'a mut Rng,
    /// Drop-path probability.
    pub drop_prob: f64,
    /// Kink pattern to record or replay (curvature probes only).
    pub tape: Option<&'a mut crate::params::KinkTape>,
}

impl<'a> PassCtx<'a> {
    /// A pass that updates `stats` (if given), draws from `rng`, drops paths with `drop_prob`, and
    /// has no kink tape.
    pub fn new(stats: Option<&'a mut BnStats>, rng: &'a mut Rng, drop_prob: f64) -> Self {
        PassCtx { stats, rng, drop_prob, tape: None }
    }
}

/// Loss and number correct of one pass.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pass {
    /// Mean cross-entropy.
    pub loss: f64,
    /// Correct predictions in the batch.
    pub correct: usize,
}

/// A pass's loss and logits still on the device: [`Pending::read`] reads them, [`read_passes`]
/// several passes' in one read (each read waits for the device's queue).
pub struct Pending {
    logits: Tensor<2>,
    loss: Tensor<1>,
    labels: Vec<usize>,
}

impl Pending {
    /// The loss and number correct.
    pub async fn read(self) -> Pass {
        let (loss, correct) = read_loss_and_correct(&self.logits, &self.loss, &self.labels).await;
        Pass { loss, correct }
    }
}

/// Passes' losses and numbers correct, in order, in one read from the device (each read waits
/// for the device's queue).
pub async fn read_passes(passes: Vec<Pending>) -> Vec<Pass> {
    let batches: Vec<_> = passes.iter().map(|p| (&p.logits, &p.loss, &p.labels[..])).collect();
    crate::network::read_losses_and_correct(&batches).await.into_iter().map(|(loss, correct)| Pass { loss, correct }).collect()
}

/// One training-mode forward and backward pass on `batch` with `w` and `alpha` as given (leaves
/// or constants): the pass and the gradients of every leaf. Like every function here that needs
/// a value on the host, it is `async` (WebGPU's reads cannot block).
async fn pass(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> (Pass, Gradients) {
    let (pending, grads) = pending_pass(net, w, alpha, batch, ctx, device);
    (pending.read().await, grads)
}

/// [`pass`] with nothing read.
fn pending_pass(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> (Pending, Gradients) {
    let (logits, loss, grads) = graph(net, w, alpha, batch, ctx, device);
    // Off the graph: a pending pass may wait for its read over several steps.
    (Pending { logits: logits.inner(), loss: loss.inner(), labels: batch.y.clone() }, grads)
}

/// The pass of [`pass`] without reading anything: logits, loss and gradients stay on the device.
fn graph(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> (Tensor<2>, Tensor<1>, Gradients) {
    let x = batch.tensor(device).autodiff();
    let mut f = Fwd { w, mode: Mode::Train, stats: ctx.stats, rng: ctx.rng, drop_prob: ctx.drop_prob, tape: ctx.tape, kernels: net.kernels, constants: Default::default() };
    let logits = net.forward(&mut f, alpha, x);
    let loss = cross_entropy(logits.clone(), &batch.y);
    let grads = loss.backward();
    (logits, loss, grads)
}

/// The gradient of every weight of a training-mode pass, with nothing read to the host (the
/// second-order step's unrolled update does not use the loss).
pub fn weight_grads_unread(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> Vec<Tensor<1>> {
    let wl = w.leaves();
    let (_, _, g) = graph(net, &wl, &alpha.constants(), batch, ctx, device);
    wl.grads(&g)
}

/// The α gradient of a training-mode pass, with nothing read to the host (finite differences of
/// gradients and curvature probes use only the gradient).
pub fn alpha_grads_unread(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> Alpha {
    let al = alpha.leaves();
    let (_, _, g) = graph(net, &w.constants(), &al, batch, ctx, device);
    al.grads(&g)
}

/// [`weight_grads`] with the pass's loss left on the device.
pub fn weight_grads_pending(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> (Pending, Vec<Tensor<1>>) {
    let wl = w.leaves();
    let (p, g) = pending_pass(net, &wl, &alpha.constants(), batch, ctx, device);
    (p, wl.grads(&g))
}

/// A training-mode pass with the gradient of every weight.
pub async fn weight_grads(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> (Pass, Vec<Tensor<1>>) {
    let wl = w.leaves();
    let (p, g) = pass(net, &wl, &alpha.constants(), batch, ctx, device).await;
    (p, wl.grads(&g))
}

/// A training-mode pass with the gradient of α.
pub async fn alpha_grads(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> (Pass, Alpha) {
    let al = alpha.leaves();
    let (p, g) = pass(net, &w.constants(), &al, batch, ctx, device).await;
    (p, al.grads(&g))
}

/// A training-mode pass with the gradients of the weights and of α.
pub async fn all_grads(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> (Pass, Vec<Tensor<1>>, Alpha) {
    let (wl, al) = (w.leaves(), alpha.leaves());
    let (p, g) = pass(net, &wl, &al, batch, ctx, device).await;
    (p, wl.grads(&g), al.grads(&g))
}

/// The two batches of a bi-level step.
#[derive(Clone, Copy)]
pub struct StepBatches<'a> {
    /// The weights' training batch (second order: the unrolled step's).
    pub train: &'a Batch,
    /// The α step's validation batch.
    pub val: &'a Batch,
}

/// How the α gradient is taken: its order, and the settings of the second-order step's
/// unrolled weight update that come from the weight optimiser.
pub struct Unroll<'a> {
    /// First or second order.
    pub order: Order,
    /// ξ: the current weight learning rate.
    pub lr: f64,
    /// SGD momentum.
    pub momentum: f64,
    /// SGD weight decay.
    pub weight_decay: f64,
    /// SGD momentum buffers.
    pub momentum_buf: &'a [Tensor<1>],
    /// The random draws of the finite difference's two passes.
    pub fd_draws: FdDraws,
}

/// The relative step r of the finite-difference Hessian-vector product: ε = r / ‖v‖ (DARTS uses 0.01).
pub const FD_RADIUS: f64 = 0.01;

/// The α gradient of docs/ALGORITHM.md §5, first or second order; returns it with the validation loss and
/// number correct on `val`.
pub async fn alpha_grad(
    net: &Supernet,
    w: &Weights,
    alpha: &Alpha,
    batches: StepBatches<'_>,
    unroll: &Unroll<'_>,
    ctx: PassCtx<'_>,
    device: &Device,
) -> (Pass, Alpha) {
    let (pending, g) = alpha_grad_pending(net, w, alpha, batches, unroll, ctx, device);
    (pending.read().await, g)
}

/// [`alpha_grad`] with nothing read from the device: the second order's finite-difference step
/// ε = r/‖v‖ stays on the device too (for v = 0 the Hessian term is 0: ε·v = 0 and the factor
/// ξ/(2ε) is 0).
pub fn alpha_grad_pending(
    net: &Supernet,
    w: &Weights,
    alpha: &Alpha,
    batches: StepBatches<'_>,
    unroll: &Unroll<'_>,
    ctx: PassCtx<'_>,
    device: &Device,
) -> (Pending, Alpha) {
    let StepBatches { train, val } = batches;
    match unroll.order {
        Order::First => {
            let al = alpha.leaves();
            let (p, g) = pending_pass(net, &w.constants(), &al, val, ctx, device);
            (p, al.grads(&g))
        }
        Order::Second => {
            let PassCtx { mut stats, rng, drop_prob, .. } = ctx;
            // w' = w − ξ (momentum · buf + ∇w L_train(w, α) + wd · w)
            let gw = weight_grads_unread(net, w, alpha, train, PassCtx::new(stats.as_deref_mut(), rng, drop_prob), device);
            let moves = crate::optim::SgdMove::for_weights(net.kernels, device);
            let w_prime = match moves {
                // One launch per tensor on wgpu: the weight optimiser's own update kernel, the
                // clipping factor 1.
                Some(moved) => moved.step(w, &gw, unroll.momentum_buf, unroll.lr, unroll.momentum, unroll.weight_decay),
                None => {
                    let step: Vec<Tensor<1>> = gw
                        .iter()
                        .zip(unroll.momentum_buf)
                        .zip(&w.tensors)
                        .map(|((g, b), p)| b.clone().mul_scalar(unroll.momentum) + g.clone() + p.clone().mul_scalar(unroll.weight_decay))
                        .collect();
                    w.axpy(-unroll.lr, &step)
                }
            };
            // ∇α and ∇w' of L_val(w', α).
            let (wl, al) = (w_prime.leaves(), alpha.leaves());
            let (out, g) = pending_pass(net, &wl, &al, val, PassCtx::new(stats, rng, drop_prob), device);
            let (v, dalpha) = (wl.grads(&g), al.grads(&g));
            // ε = r / ‖v‖ as a one-element tensor (‖v‖ + 1e-30: v = 0 leaves ε·v = 0).
            let norm = sq_norm(&v, net.kernels).sqrt();
            let eps = norm.clone().add_scalar(1e-30).recip().mul_scalar(FD_RADIUS);
            let shifted = |sign: f64| match moves {
                // w ± ε·v in one launch per tensor on wgpu.
                Some(moved) => moved.along(w, &v, &eps, sign, unroll.momentum_buf),
                None => Weights { tensors: w.tensors.iter().zip(&v).map(|(p, d)| p.clone() + d.clone().mul(eps.clone()).mul_scalar(sign)).collect() },
            };
            // Both evaluations see the same batch and BN mode; their random draws (noise,
            // drop-path) are fresh in each, as the authors', or replayed (FdDraws).
            let saved = rng.clone();
            let gp = alpha_grads_unread(net, &shifted(1.0), alpha, train, PassCtx::new(None, rng, drop_prob), device);
            if unroll.fd_draws == FdDraws::Replay {
                *rng = saved;
            }
            let gn = alpha_grads_unread(net, &shifted(-1.0), alpha, train, PassCtx::new(None, rng, drop_prob), device);
            // ξ / (2ε) = ξ (‖v‖ + 1e-30) / (2r).
            let s = norm.add_scalar(1e-30).mul_scalar(unroll.lr / (2.0 * FD_RADIUS));
            let alpha = Alpha {
                normal: dalpha.normal - (gp.normal - gn.normal).mul(s.clone().reshape([1, 1])),
                reduce: dalpha.reduce - (gp.reduce - gn.reduce).mul(s.reshape([1, 1])),
            };
            (out, alpha)
        }
    }
}

/// Loss and accuracy of a batch in evaluation mode (running BN statistics, no drop-path, no graph).
pub async fn evaluate_batch(
    net: &Supernet,
    w: &Weights,
    alpha: &Alpha,
    batch: &Batch,
    stats: &mut BnStats,
    rng: &mut Rng,
    device: &Device,
) -> (f64, usize) {
    let x = batch.tensor(device);
    let mut f = Fwd { w, mode: Mode::Eval, stats: Some(stats), rng, drop_prob: 0.0, tape: None, kernels: net.kernels, constants: Default::default() };
    let logits = net.forward(&mut f, alpha, x);
    let loss = cross_entropy(logits.clone(), &batch.y);
    read_loss_and_correct(&logits, &loss, &batch.y).await
}

/// The training-mode loss of a batch without building a graph (for finite-difference checks and
/// curvature probes).
pub async fn train_mode_loss(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> f64 {
    read_scalar(&train_mode_loss_unread(net, w, alpha, batch, ctx, device)).await
}

/// [`train_mode_loss`] left on the device.
pub fn train_mode_loss_unread(net: &Supernet, w: &Weights, alpha: &Alpha, batch: &Batch, ctx: PassCtx<'_>, device: &Device) -> Tensor<1> {
    let x = batch.tensor(device);
    let mut f = Fwd { w, mode: Mode::Train, stats: ctx.stats, rng: ctx.rng, drop_prob: ctx.drop_prob, tape: ctx.tape, kernels: net.kernels, constants: Default::default() };
    let logits = net.forward(&mut f, alpha, x);
    cross_entropy(logits, &batch.y)
}
