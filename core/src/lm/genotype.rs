//! The recurrent cell's genotype (DARTS `rnn/genotypes.py`): its activations, the discretisation of
//! α, and the text form `Genotype(recurrent=[('sigmoid', 0), ...], concat=range(1, 9))`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;
use crate::genotype::{Parser, fmt_concat, fmt_gene, softmax_rows};

/// The candidate activations of every edge of the recurrent search cell, in the reference's order
/// (`PRIMITIVES` of `rnn/genotypes.py`), which is α's column order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RnnOp {
    /// The edge is absent (search only; never in a genotype).
    None,
    /// tanh.
    Tanh,
    /// ReLU.
    Relu,
    /// The logistic sigmoid.
    Sigmoid,
    /// The identity.
    Identity,
}

impl RnnOp {
    /// Every op, in α's column order.
    pub const ALL: [RnnOp; 5] = [RnnOp::None, RnnOp::Tanh, RnnOp::Relu, RnnOp::Sigmoid, RnnOp::Identity];

    /// The reference's name.
    pub fn name(self) -> &'static str {
        match self {
            RnnOp::None => "none",
            RnnOp::Tanh => "tanh",
            RnnOp::Relu => "relu",
            RnnOp::Sigmoid => "sigmoid",
            RnnOp::Identity => "identity",
        }
    }
}

impl FromStr for RnnOp {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RnnOp::ALL.iter().copied().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = RnnOp::ALL.iter().map(|p| p.name()).collect();
            CoreError::invalid("recurrent op", format!("unknown activation '{s}' (expected one of {})", names.join(", ")))
        })
    }
}

/// A recurrent cell: node `i + 1` applies `recurrent[i].0` to the highway update of state
/// `recurrent[i].1` (state 0 is the cell's input state); the output is the mean of the states in
/// `concat`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RnnGenotype {
    /// One (activation, predecessor state) per node.
    pub recurrent: Vec<(RnnOp, usize)>,
    /// The states averaged into the cell's output.
    pub concat: Vec<usize>,
}

/// Number of α rows of a search cell with `steps` nodes: node i has an edge from each of the
/// states 0..=i.
pub fn rnn_edges(steps: usize) -> usize {
    steps * (steps + 1) / 2
}

impl RnnGenotype {
    /// DARTS' first-order recurrent cell (`DARTS_V1` of `rnn/genotypes.py`).
    pub fn darts_v1() -> Self {
        "Genotype(recurrent=[('relu', 0), ('relu', 1), ('tanh', 2), ('relu', 3), ('relu', 4), ('identity', 1), ('relu', 5), ('relu', 1)], concat=range(1, 9))".parse().expect("DARTS_V1")
    }

    /// DARTS' second-order recurrent cell (`DARTS_V2`, the published one).
    pub fn darts_v2() -> Self {
        "Genotype(recurrent=[('sigmoid', 0), ('relu', 1), ('relu', 1), ('identity', 1), ('tanh', 2), ('sigmoid', 5), ('tanh', 3), ('relu', 5)], concat=range(1, 9))".parse().expect("DARTS_V2")
    }

    /// Derives the cell from raw α (`[rnn_edges(steps), 5]`, row-major) as the reference's
    /// `genotype()`: for node i, the predecessor whose strongest op other than `none` is strongest
    /// (ties to the lower index), and on it that op (ties to the first); the output averages the
    /// `steps` intermediate states.
    pub fn derive(alpha: &[f32], steps: usize) -> RnnGenotype {
        let w = softmax_rows(alpha, RnnOp::ALL.len());
        let best = |row: &[f32]| -> (usize, f32) {
            let mut b = (1, row[1]);
            for (k, &v) in row.iter().enumerate().skip(2) {
                if v > b.1 {
                    b = (k, v);
                }
            }
            b
        };
        let mut recurrent = Vec::with_capacity(steps);
        let mut start = 0;
        for i in 0..steps {
            let mut j = 0;
            for p in 1..=i {
                if best(&w[start + p]).1 > best(&w[start + j]).1 {
                    j = p;
                }
            }
            recurrent.push((RnnOp::ALL[best(&w[start + j]).0], j));
            start += i + 1;
        }
        RnnGenotype { recurrent, concat: (1..=steps).collect() }
    }

    /// Number of intermediate nodes.
    pub fn steps(&self) -> usize {
        self.recurrent.len()
    }

    /// Checks that every node reads an earlier state with a real activation and that the output
    /// averages existing states.
    pub fn validate(&self) -> Result<(), CoreError> {
        let bad = |m: String| Err(CoreError::Genotype(m));
        let steps = self.steps();
        if steps == 0 || steps > crate::limits::MAX_NODES {
            return bad(format!("a recurrent cell has 1 to {} nodes, found {steps}", crate::limits::MAX_NODES));
        }
        for (i, &(op, pred)) in self.recurrent.iter().enumerate() {
            if op == RnnOp::None {
                return bad(format!("node {}: 'none' is not an activation of a found cell", i + 1));
            }
            if pred > i {
                return bad(format!("node {} reads state {pred}, but only states 0..={i} exist before it", i + 1));
            }
        }
        if self.concat.is_empty() {
            return bad("concat is empty: the output averages at least one state".into());
        }
        if let Some(&s) = self.concat.iter().find(|&&s| s > steps) {
            return bad(format!("concat names state {s}, but the cell's states are 0..={steps}"));
        }
        Ok(())
    }
}

impl fmt::Display for RnnGenotype {
    /// The reference's text form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Genotype(recurrent=")?;
        fmt_gene(f, &self.recurrent, RnnOp::name)?;
        f.write_str(", concat=")?;
        fmt_concat(f, &self.concat)?;
        f.write_str(")")
    }
}

impl FromStr for RnnGenotype {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Parser::new(s);
        p.eat("Genotype")?;
        let (mut recurrent, mut concat) = (None, None);
        p.fields(|p, key| {
            match key {
                "recurrent" => recurrent = Some(p.gene::<RnnOp>()?),
                "concat" => concat = Some(p.concat()?),
                other => return Err(CoreError::Genotype(format!("unknown field '{other}' (a recurrent genotype has 'recurrent' and 'concat')"))),
            }
            Ok(())
        })?;
        let missing = |f: &str| CoreError::Genotype(format!("missing field '{f}'"));
        let g = RnnGenotype { recurrent: recurrent.ok_or_else(|| missing("recurrent"))?, concat: concat.ok_or_else(|| missing("concat"))? };
        g.validate()?;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_cells_round_trip_through_the_text_form() {
        for g in [RnnGenotype::darts_v1(), RnnGenotype::darts_v2()] {
            let text = g.to_string();
            assert!(text.starts_with("Genotype(recurrent=[(") && text.ends_with(", concat=range(1, 9))"), "{text}");
            assert_eq!(text.parse::<RnnGenotype>().unwrap(), g);
            assert_eq!(serde_json::from_str::<RnnGenotype>(&serde_json::to_string(&g).unwrap()).unwrap(), g);
        }
        let v2 = RnnGenotype::darts_v2();
        assert_eq!((v2.recurrent[0], v2.recurrent[5], v2.steps()), ((RnnOp::Sigmoid, 0), (RnnOp::Sigmoid, 5), 8));
        // The ENAS cell of the same file: a list concat, reading states up to 8.
        let enas = "Genotype(recurrent=[('tanh', 0), ('tanh', 1), ('relu', 1), ('tanh', 3), ('tanh', 3), ('relu', 3), ('relu', 4), ('relu', 7), ('relu', 8), ('relu', 8), ('relu', 8)], concat=[2, 5, 6, 9, 10, 11])";
        let g: RnnGenotype = enas.parse().unwrap();
        assert_eq!((g.steps(), g.concat.clone()), (11, vec![2, 5, 6, 9, 10, 11]));
        assert_eq!(g.to_string(), enas);
    }

    #[test]
    fn bad_recurrent_genotypes_name_the_problem() {
        for (text, says) in [
            ("Genotype(recurrent=[('relu', 1)], concat=range(1, 2))", "node 1 reads state 1"),
            ("Genotype(recurrent=[('none', 0)], concat=range(1, 2))", "'none' is not an activation"),
            ("Genotype(recurrent=[('gelu', 0)], concat=range(1, 2))", "unknown activation 'gelu'"),
            ("Genotype(recurrent=[('relu', 0)], concat=range(1, 3))", "concat names state 2"),
            ("Genotype(recurrent=[], concat=range(1, 2))", "1 to 12 nodes"),
            ("Genotype(recurrent=[('relu', 0)])", "missing field 'concat'"),
            ("Genotype(normal=[('relu', 0)], concat=range(1, 2))", "unknown field 'normal'"),
            ("Genotype(recurrent=[('relu', 0)], concat=range(1, 2)) x", "the end of the genotype"),
        ] {
            let err = text.parse::<RnnGenotype>().unwrap_err().to_string();
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn derivation_follows_the_reference() {
        // Two nodes: rows 0 (node 0, from state 0), 1 and 2 (node 1, from states 0 and 1).
        let alpha = [
            9.0, 0.0, 1.0, 0.0, 0.0, // none is never chosen: relu
            0.0, 2.0, 0.0, 0.0, 0.0, // node 1 from state 0: tanh, strength e^2
            0.0, 0.0, 0.0, 0.0, 3.0, // node 1 from state 1: identity, stronger
        ];
        let g = RnnGenotype::derive(&alpha, 2);
        assert_eq!(g.recurrent, vec![(RnnOp::Relu, 0), (RnnOp::Identity, 1)]);
        assert_eq!(g.concat, vec![1, 2]);
        // Ties: the lower state and the first op.
        let g = RnnGenotype::derive(&[0.0; 15], 2);
        assert_eq!(g.recurrent, vec![(RnnOp::Tanh, 0), (RnnOp::Tanh, 0)]);
        assert_eq!(rnn_edges(8), 36);
    }
}
