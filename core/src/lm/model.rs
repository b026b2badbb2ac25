//! The recurrent language models of DARTS (`rnn/model.py`, `rnn/model_search.py`): an embedding
//! tied to the decoder, one recurrent cell (the search cell mixing every activation on every edge
//! by softmax(α), or a found cell), and the dropouts of that code (embedding rows, locked dropout
//! of the embedded input and of the output, the cell's input and hidden masks).
//!
//! Every random mask is drawn on the host from the pass's stream ([`Fwd::rng`]), one value per
//! masked unit, in the order embedding, input, cell input, cell hidden, output; evaluation mode
//! draws none.

use burn::tensor::activation::{log_softmax, sigmoid, softmax, tanh};
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::corpus::Window;
use super::genotype::{RnnGenotype, RnnOp, rnn_edges};
use crate::error::CoreError;
use crate::kernels::Kernels;
use crate::ops::BatchNorm;
use crate::params::{Activation, Builder, Fwd, Init, Mode, ParamSpec, Pid};

/// The reference's `INITRANGE`: every weight starts uniform in ±0.04 (the decoder's bias at 0).
pub const INIT_RANGE: f64 = 0.04;

/// Sizes and dropouts of a recurrent model (`ninp = nhid = nhidlast`, as the reference asserts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RnnConfig {
    /// Vocabulary size.
    pub tokens: usize,
    /// Embedding and hidden size.
    pub hidden: usize,
    /// Output dropout (locked over time).
    pub dropout: f64,
    /// The cell's hidden-state dropout (one mask per sequence).
    pub dropout_h: f64,
    /// The cell's input dropout (one mask per sequence).
    pub dropout_x: f64,
    /// Embedded-input dropout (locked over time).
    pub dropout_i: f64,
    /// Whole-word dropout of embedding rows.
    pub dropout_e: f64,
}

impl RnnConfig {
    /// Checks sizes and probabilities.
    pub fn validate(&self) -> Result<(), CoreError> {
        crate::limits::all_at_most(&[("tokens", self.tokens, super::corpus::MAX_VOCAB), ("hidden", self.hidden, crate::limits::MAX_CHANNELS * 8)])?;
        if self.tokens < 2 || self.hidden == 0 {
            return Err(CoreError::invalid("tokens/hidden", format!("need at least 2 tokens and 1 hidden unit, found {} and {}", self.tokens, self.hidden)));
        }
        for (field, p) in [("dropout", self.dropout), ("dropouth", self.dropout_h), ("dropoutx", self.dropout_x), ("dropouti", self.dropout_i), ("dropoute", self.dropout_e)] {
            if !(0.0..1.0).contains(&p) {
                return Err(CoreError::invalid(field, format!("must be in [0, 1), found {p}")));
            }
        }
        Ok(())
    }
}

/// The recurrent cell: the search cell over `steps` nodes, or a found genotype.
#[derive(Clone, Debug, PartialEq)]
pub enum RnnCell {
    /// Every activation on every edge, mixed by softmax(α); BatchNorm (no affine) after the
    /// input state and each node, as `DARTSCellSearch`.
    Search {
        /// Intermediate nodes.
        steps: usize,
    },
    /// A discrete cell, as `DARTSCell`.
    Found(RnnGenotype),
}

impl RnnCell {
    /// Intermediate nodes (one recurrent weight each).
    pub fn steps(&self) -> usize {
        match self {
            RnnCell::Search { steps } => *steps,
            RnnCell::Found(g) => g.steps(),
        }
    }
}

/// A recurrent language model: weights by index into [`crate::params::Weights`].
#[derive(Clone, Debug)]
pub struct RnnModel {
    /// Sizes and dropouts.
    pub config: RnnConfig,
    /// The cell.
    pub cell: RnnCell,
    /// Every trainable tensor in the reference's `named_parameters` order (the decoder's weight
    /// is the embedding).
    pub specs: Vec<ParamSpec>,
    /// BatchNorm channels (the search cell's one BatchNorm).
    pub bn_channels: Vec<usize>,
    /// Our kernels or Burn's plain tensor ops for the BatchNorm (see [`crate::kernels`]).
    pub kernels: Kernels,
    encoder: Pid,
    w0: Pid,
    ws: Vec<Pid>,
    decoder_bias: Pid,
    bn: Option<BatchNorm>,
}

/// What a forward pass over one window returns.
pub struct RnnOut {
    /// Mean negative log-likelihood of the targets (nats per token).
    pub loss: Tensor<1>,
    /// The cell's outputs `[T, B, H]` before the output dropout (what the slowness term reads).
    pub raw: Tensor<3>,
    /// The last hidden state `[B, H]` (the next window's start).
    pub hidden: Tensor<2>,
}

impl RnnModel {
    /// Declares the model's weights.
    pub fn new(config: RnnConfig, cell: RnnCell) -> Result<Self, CoreError> {
        config.validate()?;
        let steps = cell.steps();
        if steps == 0 || steps > crate::limits::MAX_NODES {
            return Err(CoreError::invalid("steps", format!("must be 1 to {}, found {steps}", crate::limits::MAX_NODES)));
        }
        if let RnnCell::Found(g) = &cell {
            g.validate()?;
        }
        let (v, h) = (config.tokens, config.hidden);
        let mut b = Builder::default();
        let u = Init::Uniform(INIT_RANGE);
        let encoder = b.param("encoder.weight", &[v, h], u);
        let (w0, ws) = b.scope("rnns.0", |b| (b.param("_W0", &[2 * h, 2 * h], u), (0..steps).map(|i| b.param(&format!("_Ws.{i}"), &[h, 2 * h], u)).collect()));
        let decoder_bias = b.param("decoder.bias", &[v], Init::Zeros);
        let bn = matches!(cell, RnnCell::Search { .. }).then(|| BatchNorm::new(&mut b, "rnns.0.bn", h, false));
        Ok(RnnModel { config, cell, specs: b.specs, bn_channels: b.bn_channels, kernels: Kernels::Auto, encoder, w0, ws, decoder_bias, bn })
    }

    /// The index of the embedding (tied to the decoder) in the weights.
    pub fn embedding(&self) -> usize {
        self.encoder.0
    }

    /// Number of trainable scalars (the tied decoder weight counted once, as PyTorch does).
    pub fn num_params(&self) -> usize {
        self.specs.iter().map(ParamSpec::numel).sum()
    }

    /// α's shape `[edges, ops]` for the search cell.
    pub fn alpha_shape(&self) -> [usize; 2] {
        [rnn_edges(self.cell.steps()), RnnOp::ALL.len()]
    }

    /// One window, from the state `hidden` `[b, H]`; `alpha` is the search cell's α (ignored by a
    /// found cell).
    pub fn forward(&self, f: &mut Fwd, alpha: Option<&Tensor<2>>, win: &Window, hidden: Tensor<2>) -> RnnOut {
        let (inputs, targets, t, b) = (&win.inputs, &win.targets, win.t, win.b);
        let (v, h) = (self.config.tokens, self.config.hidden);
        let device = hidden.device();
        let train = f.mode == Mode::Train;
        let c = &self.config;
        let mask = |f: &mut Fwd, rows: usize, cols: usize, p: f64| (train && p > 0.0).then(|| f.keep_mask([rows, cols], p, &device));
        // The decoder reads the embedding without the row dropout (the reference masks a copy).
        let weight: Tensor<2> = f.get(self.encoder, [v, h]);
        let embedding = match mask(f, v, 1, c.dropout_e) {
            Some(m) => weight.clone() * m,
            None => weight.clone(),
        };
        let ids = Tensor::<1, Int>::from_data(TensorData::new(inputs.iter().map(|&i| i as i64).collect::<Vec<_>>(), [t * b]), &device);
        let mut emb = embedding.select(0, ids).reshape([t, b, h]);
        if let Some(m) = mask(f, b, h, c.dropout_i) {
            emb = emb * m.unsqueeze::<3>();
        }
        let x_mask = mask(f, b, h, c.dropout_x);
        let h_mask = mask(f, b, h, c.dropout_h);
        let probs = alpha.map(|a| softmax(a.clone(), 1));
        let mut state = hidden;
        let mut outs = Vec::with_capacity(t);
        for step in 0..t {
            let x = emb.clone().narrow(0, step, 1).reshape([b, h]);
            state = self.cell_step(f, probs.as_ref(), x, state, x_mask.as_ref(), h_mask.as_ref());
            outs.push(state.clone());
        }
        let raw = Tensor::stack::<3>(outs, 0);
        let mut out = raw.clone();
        if let Some(m) = mask(f, b, h, c.dropout) {
            out = out * m.unsqueeze::<3>();
        }
        let logits = out.reshape([t * b, h]).matmul(weight.transpose()) + f.get::<2>(self.decoder_bias, [1, v]);
        let targets = Tensor::<2, Int>::from_data(TensorData::new(targets.iter().map(|&i| i as i64).collect::<Vec<_>>(), [t * b, 1]), &device);
        let loss = log_softmax(logits, 1).gather(1, targets).sum().neg().div_scalar((t * b) as f64);
        RnnOut { loss, raw, hidden: state }
    }

    /// One time step of the cell: the input state s0 from the input and the previous state, then
    /// the nodes; the output is the mean of the concatenated states.
    fn cell_step(&self, f: &mut Fwd, probs: Option<&Tensor<2>>, x: Tensor<2>, prev: Tensor<2>, x_mask: Option<&Tensor<2>>, h_mask: Option<&Tensor<2>>) -> Tensor<2> {
        let h = self.config.hidden;
        let b = prev.dims()[0];
        let masked = |s: Tensor<2>| h_mask.map_or(s.clone(), |m| s * m.clone());
        let xin = x_mask.map_or(x.clone(), |m| x * m.clone());
        let ch = Tensor::cat(vec![xin, masked(prev.clone())], 1).matmul(f.get(self.w0, [2 * h, 2 * h]));
        let c0 = sigmoid(ch.clone().narrow(1, 0, h));
        let h0 = tanh(ch.narrow(1, h, h));
        let s0 = prev.clone() + c0 * (h0 - prev);
        match &self.cell {
            RnnCell::Found(g) => {
                let mut states = vec![s0];
                for (i, &(op, pred)) in g.recurrent.iter().enumerate() {
                    let s_prev = states[pred].clone();
                    let ch = masked(s_prev.clone()).matmul(f.get(self.ws[i], [h, 2 * h]));
                    let c = sigmoid(ch.clone().narrow(1, 0, h));
                    let act = activate(f, op, ch.narrow(1, h, h).unsqueeze::<3>()).reshape([b, h]);
                    states.push(s_prev.clone() + c * (act - s_prev));
                }
                let picked: Vec<Tensor<2>> = g.concat.iter().map(|&i| states[i].clone()).collect();
                let n = picked.len();
                Tensor::stack::<3>(picked, 0).sum_dim(0).reshape([b, h]).div_scalar(n as f64)
            }
            RnnCell::Search { steps } => {
                let bn = self.bn.as_ref().expect("the search cell has a BatchNorm");
                let norm = |f: &mut Fwd, s: Tensor<2>| bn.forward(f, s.reshape([b, h, 1, 1])).reshape([b, h]);
                let probs = probs.expect("the search cell needs α");
                let mut states = norm(f, s0).unsqueeze::<3>();
                let mut offset = 0;
                for i in 0..*steps {
                    let n = i + 1;
                    let m = h_mask.map_or(states.clone(), |m| states.clone() * m.clone().unsqueeze::<3>());
                    let ch = m.reshape([n * b, h]).matmul(f.get(self.ws[i], [h, 2 * h])).reshape([n, b, 2 * h]);
                    let c = sigmoid(ch.clone().narrow(2, 0, h));
                    let pre = ch.narrow(2, h, h);
                    let p = probs.clone().narrow(0, offset, n);
                    let mut s: Option<Tensor<3>> = None;
                    for (k, &op) in RnnOp::ALL.iter().enumerate().skip(1) {
                        let unweighted = states.clone() + c.clone() * (activate(f, op, pre.clone()) - states.clone());
                        let term = (p.clone().narrow(1, k, 1).reshape([n, 1, 1]) * unweighted).sum_dim(0);
                        s = Some(match s {
                            Some(acc) => acc + term,
                            None => term,
                        });
                    }
                    let s = norm(f, s.expect("four activations").reshape([b, h]));
                    states = Tensor::cat(vec![states, s.unsqueeze::<3>()], 0);
                    offset += n;
                }
                let last = *steps;
                states.narrow(0, 1, last).sum_dim(0).reshape([b, h]).div_scalar(last as f64)
            }
        }
    }
}

/// `op` applied to `x`; ReLU through the pass's kink tape (so curvature by finite differences
/// replays the base point's pattern, as on the image side).
fn activate(f: &mut Fwd, op: RnnOp, x: Tensor<3>) -> Tensor<3> {
    match op {
        RnnOp::Tanh => tanh(x),
        RnnOp::Sigmoid => sigmoid(x),
        RnnOp::Identity => x,
        RnnOp::Relu => {
            let [a, b, c] = x.dims();
            f.activate(Activation::Relu, x.reshape([a, b, c, 1])).reshape([a, b, c])
        }
        RnnOp::None => x.zeros_like(),
    }
}

/// The slowness (temporal activation) penalty of the reference's weight step: β · mean over
/// `raw[1:] − raw[:-1]` squared; zero for a window of one step.
pub fn slowness(raw: &Tensor<3>, beta: f64) -> Option<Tensor<1>> {
    let [t, b, h] = raw.dims();
    (beta > 0.0 && t > 1).then(|| {
        let d = raw.clone().narrow(0, 1, t - 1) - raw.clone().narrow(0, 0, t - 1);
        d.powi_scalar(2).sum().mul_scalar(beta / ((t - 1) * b * h) as f64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(tokens: usize, hidden: usize) -> RnnConfig {
        RnnConfig { tokens, hidden, dropout: 0.75, dropout_h: 0.25, dropout_x: 0.75, dropout_i: 0.2, dropout_e: 0.0 }
    }

    #[test]
    fn parameter_counts_at_the_paper_sizes() {
        // Search: PTB's 10 000 words, 300 units, 8 nodes; evaluation: 850 units, DARTS_V2.
        let search = RnnModel::new(paper(10_000, 300), RnnCell::Search { steps: 8 }).unwrap();
        assert_eq!(search.num_params(), 10_000 * 300 + 600 * 600 + 8 * 300 * 600 + 10_000);
        let names: Vec<&str> = search.specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names[..3], ["encoder.weight", "rnns.0._W0", "rnns.0._Ws.0"]);
        assert_eq!(names.last(), Some(&"decoder.bias"));
        let eval = RnnModel::new(paper(10_000, 850), RnnCell::Found(RnnGenotype::darts_v2())).unwrap();
        assert_eq!(eval.num_params(), 10_000 * 850 + 1700 * 1700 + 8 * 850 * 1700 + 10_000);
        assert!(eval.bn_channels.is_empty() && search.bn_channels == [300]);
        assert_eq!(search.alpha_shape(), [36, 5]);
    }

    #[test]
    fn bad_sizes_are_refused() {
        let mut c = paper(10, 4);
        c.dropout = 1.0;
        assert!(RnnModel::new(c, RnnCell::Search { steps: 2 }).unwrap_err().to_string().contains("dropout"));
        assert!(RnnModel::new(paper(10, 4), RnnCell::Search { steps: 0 }).is_err());
    }
}
