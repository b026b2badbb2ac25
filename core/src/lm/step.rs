//! The steps of DARTS' recurrent search and training (quark0/darts `rnn/train_search.py`,
//! `rnn/architect.py`, `rnn/train.py`): the weight step (NLL plus the slowness term, global-norm
//! clipping, plain SGD with weight decay), the α gradient (first order, or second order by the
//! unrolled step with its clipping and finite-difference Hessian-vector product), the evaluation
//! loop, and the α Hessian's objective. Hidden states are carried between windows detached
//! (`repackage_hidden`): every function takes a plain `[B, H]` state and returns the next one.

use burn::tensor::{Gradients, Tensor};

use super::corpus::{Batched, Window};
use super::model::{RnnModel, RnnOut, slowness};
use crate::architect::{Order, PassCtx};
use crate::hessian::AlphaObjective;
use crate::kernels::Kernels;
use crate::optim::{Sgd, clip_global_norm};
use crate::params::{BnStats, Fwd, KinkTape, Mode, Weights, read_scalar};
use crate::rng::Rng;

/// The reference's finite-difference radius of the second-order step (`r=1e-2`).
pub const FD_RADIUS: f64 = 1e-2;

/// One training-mode pass of `model` at `w` (leaves or constants) and `alpha` (autodiff, or
/// `None` for a found cell) on `win` from `hidden`; returns the output and the gradients of the
/// NLL plus β times the slowness term.
fn graph(model: &RnnModel, w: &Weights, alpha: Option<&Tensor<2>>, win: &Window, hidden: &Tensor<2>, beta: f64, ctx: PassCtx<'_>) -> (RnnOut, Gradients) {
    let mut f = Fwd { w, mode: Mode::Train, stats: ctx.stats, rng: ctx.rng, drop_prob: 0.0, tape: ctx.tape, kernels: model.kernels, constants: Default::default() };
    let out = model.forward(&mut f, alpha, win, hidden.clone().autodiff());
    let objective = match slowness(&out.raw, beta) {
        Some(s) => out.loss.clone() + s,
        None => out.loss.clone(),
    };
    let grads = objective.backward();
    (out, grads)
}

/// A training-mode pass with the gradient of every weight (of the NLL plus β · slowness): the
/// NLL, the gradients and the next hidden state.
pub async fn weight_grads(model: &RnnModel, w: &Weights, alpha: Option<&Tensor<2>>, win: &Window, hidden: &Tensor<2>, beta: f64, ctx: PassCtx<'_>) -> (f64, Vec<Tensor<1>>, Tensor<2>) {
    let wl = w.leaves();
    let (out, g) = graph(model, &wl, alpha.map(|a| a.clone().autodiff()).as_ref(), win, hidden, beta, ctx);
    (read_scalar(&out.loss).await, wl.grads(&g), out.hidden.inner())
}

/// ∇α of the NLL, nothing read: the gradient and the next hidden state (and the NLL, on the device).
fn alpha_grads_unread(model: &RnnModel, w: &Weights, alpha: &Tensor<2>, win: &Window, hidden: &Tensor<2>, ctx: PassCtx<'_>) -> (Tensor<2>, Tensor<2>, Tensor<1>) {
    let al = alpha.clone().autodiff().require_grad();
    let (out, g) = graph(model, &w.constants(), Some(&al), win, hidden, 0.0, ctx);
    let grad = al.grad(&g).unwrap_or_else(|| alpha.zeros_like());
    (grad, out.hidden.inner(), out.loss.inner())
}

/// The reference's `_clip`: scales `grads` to global norm `max_norm` when larger
/// ([`clip_global_norm`]), and returns the factor max_norm / (‖grads‖ + 1e-6) even when it is
/// above 1 (the second-order step multiplies its Hessian term by it, as `rnn/architect.py`
/// does), and the clipped gradients' norm, both as one-element tensors (nothing is read).
fn clip(grads: &mut [Tensor<1>], max_norm: f64, kernels: Kernels) -> (Tensor<1>, Tensor<1>) {
    let norm = clip_global_norm(grads, max_norm, kernels);
    let coef = norm.clone().add_scalar(1e-6).recip().mul_scalar(max_norm);
    (coef.clone(), norm * coef.clamp_max(1.0))
}

/// The unrolled step's settings, from the weight optimiser.
#[derive(Clone, Copy, Debug)]
pub struct LmUnroll {
    /// First or second order.
    pub order: Order,
    /// η: the weight learning rate of this step (already scaled by the window's length).
    pub lr: f64,
    /// The weights' decay.
    pub weight_decay: f64,
    /// The gradient-norm bound.
    pub clip: f64,
    /// Whether the unrolled step moves the tied embedding too. The reference's does not (its w'
    /// is loaded from a state dict whose tied decoder weight overwrites the stepped embedding);
    /// `false` follows it.
    pub step_embedding: bool,
}

/// A window and the hidden state it starts from.
#[derive(Clone, Copy)]
pub struct Start<'a> {
    /// The window.
    pub win: &'a Window,
    /// Its start state `[B, H]`.
    pub hidden: &'a Tensor<2>,
}

/// ∇α of the validation NLL, first order or second order (DARTS' unrolled step as
/// `rnn/architect.py`): the validation NLL, the gradient and the validation stream's next
/// hidden state. Running statistics are updated by the passes at the current weights (the
/// unrolled pass at w' runs on a copy in the reference, whose statistics are dropped).
pub async fn alpha_grad(model: &RnnModel, w: &Weights, alpha: &Tensor<2>, train: Start<'_>, val: Start<'_>, unroll: LmUnroll, ctx: PassCtx<'_>) -> (f64, Tensor<2>, Tensor<2>) {
    let (loss, g, hidden) = alpha_grad_pending(model, w, alpha, train, val, unroll, ctx);
    (read_scalar(&loss).await, g, hidden)
}

/// [`alpha_grad`] with nothing read from the device: the validation NLL stays a one-element
/// tensor, and the second order's clipping factor and finite-difference radius R = 0.01/‖v‖ are
/// device tensors (for v = 0 the Hessian term is 0, as the reference's skip gives).
pub fn alpha_grad_pending(model: &RnnModel, w: &Weights, alpha: &Tensor<2>, train: Start<'_>, val: Start<'_>, unroll: LmUnroll, ctx: PassCtx<'_>) -> (Tensor<1>, Tensor<2>, Tensor<2>) {
    match unroll.order {
        Order::First => {
            let (g, hidden, loss) = alpha_grads_unread(model, w, alpha, val.win, val.hidden, ctx);
            (loss, g, hidden)
        }
        Order::Second => {
            let PassCtx { mut stats, rng, .. } = ctx;
            // w' = w − η (clip(∇w L_train) + wd · w)
            let wl = w.leaves();
            let (_, g) = graph(model, &wl, Some(&alpha.clone().autodiff()), train.win, train.hidden, 0.0, PassCtx::new(stats.as_deref_mut(), &mut *rng, 0.0));
            let mut gw = wl.grads(&g);
            let (clip_coef, _) = clip(&mut gw, unroll.clip, model.kernels);
            let step: Vec<Tensor<1>> = gw.iter().zip(&w.tensors).map(|(g, p)| g.clone() + p.clone().mul_scalar(unroll.weight_decay)).collect();
            let mut w_prime = w.axpy(-unroll.lr, &step);
            if !unroll.step_embedding {
                // The reference builds w' with load_state_dict, whose `decoder.weight` (the tied
                // embedding, from the current state dict) is loaded after `encoder.weight`: w'
                // keeps the embedding at w (`rnn/architect.py`, `_construct_model_from_theta`).
                let e = model.embedding();
                w_prime.tensors[e] = w.tensors[e].clone();
            }
            // ∇α and ∇w' of L_val(w', α), the latter clipped.
            let (wl, al) = (w_prime.leaves(), alpha.clone().autodiff().require_grad());
            let (out, g) = graph(model, &wl, Some(&al), val.win, val.hidden, 0.0, PassCtx::new(None, &mut *rng, 0.0));
            let dalpha = al.grad(&g).unwrap_or_else(|| alpha.zeros_like());
            let mut v = wl.grads(&g);
            let (_, norm) = clip(&mut v, unroll.clip, model.kernels);
            let (loss, hidden) = (out.loss.inner(), out.hidden.inner());
            // (∇α L_train(w + Rv) − ∇α L_train(w − Rv)) / 2R, each pass with its own dropout
            // draws; R = 0.01 / (‖v‖ + 1e-30) on the device.
            let r = norm.clone().add_scalar(1e-30).recip().mul_scalar(FD_RADIUS);
            let shifted = |sign: f64| Weights { tensors: w.tensors.iter().zip(&v).map(|(p, d)| p.clone() + d.clone().mul(r.clone()).mul_scalar(sign)).collect() };
            let (gp, _, _) = alpha_grads_unread(model, &shifted(1.0), alpha, train.win, train.hidden, PassCtx::new(stats.as_deref_mut(), &mut *rng, 0.0));
            let (gn, _, _) = alpha_grads_unread(model, &shifted(-1.0), alpha, train.win, train.hidden, PassCtx::new(stats, rng, 0.0));
            // η · clip_coef / (2R) = η · clip_coef · (‖v‖ + 1e-30) / (2 · 0.01).
            let scale = (norm.add_scalar(1e-30) * clip_coef).mul_scalar(unroll.lr / (2.0 * FD_RADIUS));
            (loss, dalpha - (gp - gn).mul(scale.reshape([1, 1])), hidden)
        }
    }
}

/// The weight step of the search and of training from scratch: gradients of the NLL plus
/// β · slowness, clipped to global norm `clip`, then SGD (no momentum) with learning rate `lr`
/// and weight decay. Returns the NLL and the next hidden state.
pub async fn weight_step(model: &RnnModel, w: &mut Weights, sgd: &mut Sgd, alpha: Option<&Tensor<2>>, from: Start<'_>, hp: StepRates, ctx: PassCtx<'_>) -> (f64, Tensor<2>) {
    let (loss, hidden) = weight_step_pending(model, w, sgd, alpha, from, hp, ctx);
    (read_scalar(&loss).await, hidden)
}

/// [`weight_step`] with the NLL left on the device.
pub fn weight_step_pending(model: &RnnModel, w: &mut Weights, sgd: &mut Sgd, alpha: Option<&Tensor<2>>, from: Start<'_>, hp: StepRates, ctx: PassCtx<'_>) -> (Tensor<1>, Tensor<2>) {
    let wl = w.leaves();
    let (out, g) = graph(model, &wl, alpha.map(|a| a.clone().autodiff()).as_ref(), from.win, from.hidden, hp.beta, ctx);
    sgd.step_clipped(&mut w.tensors, wl.grads(&g), hp.clip, hp.lr, hp.weight_decay);
    (out.loss.inner(), out.hidden.inner())
}

/// The rates of a weight step.
#[derive(Clone, Copy, Debug)]
pub struct StepRates {
    /// Learning rate of this step (scaled by the window's length).
    pub lr: f64,
    /// Weight decay.
    pub weight_decay: f64,
    /// Gradient-norm bound.
    pub clip: f64,
    /// Slowness factor β.
    pub beta: f64,
}

/// The reference's `evaluate`: evaluation mode (no dropout, running statistics) over windows of
/// `bptt` rows from a zero state carried along; Σ (window NLL · its length) / rows, in nats per
/// token (the perplexity is its exponential).
pub async fn evaluate(model: &RnnModel, w: &Weights, alpha: Option<&Tensor<2>>, data: &Batched, bptt: usize, stats: &mut BnStats, device: &burn::tensor::Device) -> f64 {
    let mut hidden = Tensor::<2>::zeros([data.cols, model.config.hidden], device);
    let mut total = 0.0;
    let mut rng = Rng::new(0);
    let mut i = 0;
    while i + 1 < data.rows {
        let win = data.window(i, bptt);
        let mut f = Fwd { w, mode: Mode::Eval, stats: Some(stats), rng: &mut rng, drop_prob: 0.0, tape: None, kernels: model.kernels, constants: Default::default() };
        let out = model.forward(&mut f, alpha, &win, hidden);
        total += read_scalar(&out.loss).await * win.t as f64;
        hidden = out.hidden;
        i += bptt;
    }
    total / data.rows as f64
}

/// The α Hessian's objective on the language model: the training-mode NLL of one validation
/// window from a given state, at fixed weights (running statistics untouched).
pub struct LmObjective<'a> {
    /// The search model.
    pub model: &'a RnnModel,
    /// The weights.
    pub w: &'a Weights,
    /// α at the base point `[edges, 5]`.
    pub alpha: Tensor<2>,
    /// The window.
    pub win: &'a Window,
    /// Its start state.
    pub hidden: Tensor<2>,
}

impl LmObjective<'_> {
    fn at(&self, shift: Option<&Tensor<1>>) -> Tensor<2> {
        shift.map_or_else(|| self.alpha.clone(), |d| self.alpha.clone() + d.clone().reshape(self.model.alpha_shape()))
    }
}

impl AlphaObjective for LmObjective<'_> {
    fn dim(&self) -> usize {
        self.model.alpha_shape().iter().product()
    }

    fn loss(&self, shift: Option<&Tensor<1>>, rng: &mut Rng, tape: Option<&mut KinkTape>) -> Tensor<1> {
        let w = self.w.constants();
        let mut f = Fwd { w: &w, mode: Mode::Train, stats: None, rng, drop_prob: 0.0, tape, kernels: self.model.kernels, constants: Default::default() };
        self.model.forward(&mut f, Some(&self.at(shift).autodiff()), self.win, self.hidden.clone().autodiff()).loss.inner()
    }

    fn alpha_grad(&self, shift: Option<&Tensor<1>>, rng: &mut Rng, tape: Option<&mut KinkTape>) -> Tensor<1> {
        let ctx = PassCtx { stats: None, rng, drop_prob: 0.0, tape };
        let (g, _, _) = alpha_grads_unread(self.model, self.w, &self.at(shift), self.win, &self.hidden, ctx);
        let n = self.dim();
        g.reshape([n])
    }
}
