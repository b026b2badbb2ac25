//! Discretisation of α into a genotype (docs/ALGORITHM.md §4), its JSON form and the DARTS text form.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;
use crate::space::{CellKind, Primitive, SearchSpace};

/// A discrete architecture: for each node of each cell type, two (op, input) pairs.
///
/// Inputs are numbered as in DARTS: 0 and 1 are the two previous cells, 2.. the intermediate nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Genotype {
    /// Normal cell: `2 · nodes` (op, input) pairs, two per node.
    pub normal: Vec<(Primitive, usize)>,
    /// Which states are concatenated for the normal cell's output.
    pub normal_concat: Vec<usize>,
    /// Reduction cell, as `normal`.
    pub reduce: Vec<(Primitive, usize)>,
    /// Output states of the reduction cell.
    pub reduce_concat: Vec<usize>,
}

/// Derives the genotype of one cell type from its softmax(α) rows (`weights[e][k]`).
///
/// For each node keep the 2 incoming edges with the largest max_k weight over ops other than
/// `none`, and on each the argmax op other than `none`. Ties go to the lower index, as in the
/// reference (Python's stable sort and strict `>`). `none` is looked up in each edge's own op list
/// (the global edge index, docs/ALGORITHM.md §4).
pub fn derive_cell(weights: &[Vec<f32>], ops: &[Vec<Primitive>], nodes: usize) -> Vec<(Primitive, usize)> {
    let mut gene = Vec::with_capacity(2 * nodes);
    let mut start = 0;
    for i in 0..nodes {
        let n = i + 2;
        let best = |e: usize| -> Option<(usize, f32)> {
            let mut b: Option<(usize, f32)> = None;
            for (k, &w) in weights[e].iter().enumerate() {
                if ops[e][k] == Primitive::None {
                    continue;
                }
                if b.is_none_or(|(_, bw)| w > bw) {
                    b = Some((k, w));
                }
            }
            b
        };
        let mut inputs: Vec<usize> = (0..n).filter(|&j| best(start + j).is_some()).collect();
        // Stable sort by descending strength.
        inputs.sort_by(|&a, &b| {
            let wa = best(start + a).map(|x| x.1).unwrap_or(f32::NEG_INFINITY);
            let wb = best(start + b).map(|x| x.1).unwrap_or(f32::NEG_INFINITY);
            wb.partial_cmp(&wa).unwrap_or(std::cmp::Ordering::Equal)
        });
        for &j in inputs.iter().take(2) {
            let (k, _) = best(start + j).expect("filtered above");
            gene.push((ops[start + j][k], j));
        }
        start += n;
    }
    gene
}

/// Softmax of each row.
pub fn softmax_rows(alpha: &[f32], k: usize) -> Vec<Vec<f32>> {
    alpha
        .chunks(k)
        .map(|row| {
            let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let e: Vec<f64> = row.iter().map(|&a| ((a - m) as f64).exp()).collect();
            let s: f64 = e.iter().sum();
            e.iter().map(|&x| (x / s) as f32).collect()
        })
        .collect()
}

impl Genotype {
    /// Derives the genotype from raw α (row-major `[edges, K]` per cell type).
    pub fn derive(space: &SearchSpace, alpha_normal: &[f32], alpha_reduce: &[f32]) -> Genotype {
        let k = space.ops_per_edge();
        let nodes = space.nodes();
        let concat: Vec<usize> = (2..2 + nodes).collect();
        Genotype {
            normal: derive_cell(&softmax_rows(alpha_normal, k), space.ops(CellKind::Normal), nodes),
            normal_concat: concat.clone(),
            reduce: derive_cell(&softmax_rows(alpha_reduce, k), space.ops(CellKind::Reduce), nodes),
            reduce_concat: concat,
        }
    }

    /// Number of intermediate nodes.
    pub fn nodes(&self) -> usize {
        self.normal.len() / 2
    }

    /// Checks the structure, and with `space` that every chosen op is on its edge's op list.
    pub fn validate(&self, space: Option<&SearchSpace>) -> Result<(), CoreError> {
        for (kind, gene) in [(CellKind::Normal, &self.normal), (CellKind::Reduce, &self.reduce)] {
            if gene.is_empty() || gene.len() % 2 != 0 {
                return Err(CoreError::Genotype(format!(
                    "{kind:?} cell: expected two (op, input) pairs per node, found {} pairs",
                    gene.len()
                )));
            }
            let nodes = gene.len() / 2;
            if nodes > crate::limits::MAX_NODES {
                return Err(CoreError::Genotype(format!("{kind:?} cell has {nodes} nodes, at most {} are allowed", crate::limits::MAX_NODES)));
            }
            let concat = if kind == CellKind::Normal { &self.normal_concat } else { &self.reduce_concat };
            if concat.is_empty() {
                return Err(CoreError::Genotype(format!("{kind:?} cell: the concatenation is empty")));
            }
            for (i, &c) in concat.iter().enumerate() {
                if c >= nodes + 2 {
                    return Err(CoreError::Genotype(format!(
                        "{kind:?} cell: concatenated state {c} does not exist (states 0..{} for {nodes} nodes)",
                        nodes + 1
                    )));
                }
                if concat[..i].contains(&c) {
                    return Err(CoreError::Genotype(format!("{kind:?} cell: state {c} is concatenated twice")));
                }
            }
            for (idx, &(op, input)) in gene.iter().enumerate() {
                let node = idx / 2;
                if input >= node + 2 {
                    return Err(CoreError::Genotype(format!(
                        "{kind:?} cell, node {node}: input {input} does not exist yet (expected 0..{})",
                        node + 1
                    )));
                }
                // `none` is allowed: DARTS' derivation never picks it, but RS-ws may sample it, as
                // the authors' sampler does (an edge of zeros; the evaluation network has the op).
                if let Some(space) = space {
                    if space.nodes() != gene.len() / 2 {
                        return Err(CoreError::Genotype(format!(
                            "{kind:?} cell has {} nodes, space {} has {}",
                            gene.len() / 2,
                            space.id,
                            space.nodes()
                        )));
                    }
                    let edge = (0..node).map(|i| i + 2).sum::<usize>() + input;
                    if !space.ops(kind)[edge].contains(&op) {
                        return Err(CoreError::Genotype(format!(
                            "{kind:?} cell, edge {edge}: '{op}' is not in space {} (allowed: {})",
                            space.id,
                            space.ops(kind)[edge].iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// How many chosen ops are parameter-free (skip, pools, noise) in the normal cell.
    pub fn parameter_free_normal(&self) -> usize {
        self.normal.iter().filter(|(p, _)| p.is_parameter_free()).count()
    }
}

/// `[('op', input), ...]`, each op written by `name`.
pub(crate) fn fmt_gene<P: Copy>(f: &mut fmt::Formatter<'_>, gene: &[(P, usize)], name: impl Fn(P) -> &'static str) -> fmt::Result {
    f.write_str("[")?;
    for (i, &(op, input)) in gene.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "('{}', {})", name(op), input)?;
    }
    f.write_str("]")
}

/// `range(a, b)` where the states are contiguous, else the list.
pub(crate) fn fmt_concat(f: &mut fmt::Formatter<'_>, concat: &[usize]) -> fmt::Result {
    let contiguous = concat.windows(2).all(|w| w[1] == w[0] + 1);
    match (contiguous, concat.first(), concat.last()) {
        (true, Some(a), Some(b)) => write!(f, "range({}, {})", a, b + 1),
        _ => write!(f, "{concat:?}"),
    }
}

impl fmt::Display for Genotype {
    /// The DARTS text form, e.g. `Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=range(2, 6), ...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Genotype(normal=")?;
        fmt_gene(f, &self.normal, Primitive::name)?;
        f.write_str(", normal_concat=")?;
        fmt_concat(f, &self.normal_concat)?;
        f.write_str(", reduce=")?;
        fmt_gene(f, &self.reduce, Primitive::name)?;
        f.write_str(", reduce_concat=")?;
        fmt_concat(f, &self.reduce_concat)?;
        f.write_str(")")
    }
}

/// A tiny recursive-descent parser for the DARTS text form (image and recurrent genotypes).
pub(crate) struct Parser<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    /// A parser over `s` without its surrounding white space.
    pub(crate) fn new(s: &'a str) -> Self {
        Parser { s: s.trim(), pos: 0 }
    }
    fn ws(&mut self) {
        // Any Unicode white space, stepped over by its UTF-8 length.
        while let Some(c) = self.s[self.pos..].chars().next().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }
    pub(crate) fn err(&self, what: &str) -> CoreError {
        let rest: String = self.s[self.pos..].chars().take(20).collect();
        CoreError::Genotype(format!("expected {what} at character {}, found '{rest}'", self.pos))
    }
    pub(crate) fn eat(&mut self, tok: &str) -> Result<(), CoreError> {
        self.ws();
        if self.s[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            Ok(())
        } else {
            Err(self.err(&format!("'{tok}'")))
        }
    }
    pub(crate) fn try_eat(&mut self, tok: &str) -> bool {
        self.ws();
        if self.s[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    pub(crate) fn ident(&mut self) -> Result<&'a str, CoreError> {
        self.ws();
        let start = self.pos;
        while self.s[self.pos..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        if start == self.pos { Err(self.err("a name")) } else { Ok(&self.s[start..self.pos]) }
    }
    /// `(key=value, ...)` to the end of the text, each value read by `field(parser, key)`; a
    /// trailing comma allowed.
    pub(crate) fn fields(&mut self, mut field: impl FnMut(&mut Self, &str) -> Result<(), CoreError>) -> Result<(), CoreError> {
        self.eat("(")?;
        loop {
            let key = self.ident()?;
            self.eat("=")?;
            field(self, key)?;
            if self.try_eat(",") {
                if self.try_eat(")") {
                    break;
                }
                continue;
            }
            self.eat(")")?;
            break;
        }
        self.end()
    }

    /// Nothing but white space is left.
    pub(crate) fn end(&mut self) -> Result<(), CoreError> {
        self.ws();
        if self.pos != self.s.len() {
            return Err(self.err("the end of the genotype"));
        }
        Ok(())
    }
    fn number(&mut self) -> Result<usize, CoreError> {
        self.ws();
        let start = self.pos;
        while self.s[self.pos..].starts_with(|c: char| c.is_ascii_digit()) {
            self.pos += 1;
        }
        self.s[start..self.pos].parse().map_err(|_| self.err("a number"))
    }
    fn string(&mut self) -> Result<&'a str, CoreError> {
        self.ws();
        let q = if self.try_eat("'") {
            '\''
        } else if self.try_eat("\"") {
            '"'
        } else {
            return Err(self.err("a quoted op name"));
        };
        let start = self.pos;
        let end = self.s[start..].find(q).ok_or_else(|| self.err("a closing quote"))? + start;
        self.pos = end + 1;
        Ok(&self.s[start..end])
    }
    /// `[item, item, ...]`, a trailing comma allowed.
    fn list<T>(&mut self, mut item: impl FnMut(&mut Self) -> Result<T, CoreError>) -> Result<Vec<T>, CoreError> {
        self.eat("[")?;
        let mut v = Vec::new();
        while !self.try_eat("]") {
            v.push(item(self)?);
            if !self.try_eat(",") {
                self.eat("]")?;
                break;
            }
        }
        Ok(v)
    }
    /// `[('op', input), ...]`.
    pub(crate) fn gene<P: FromStr<Err = CoreError>>(&mut self) -> Result<Vec<(P, usize)>, CoreError> {
        self.list(|p| {
            p.eat("(")?;
            let op: P = p.string()?.parse().map_err(|e: CoreError| CoreError::Genotype(e.to_string()))?;
            p.eat(",")?;
            let input = p.number()?;
            p.eat(")")?;
            Ok((op, input))
        })
    }
    /// `range(a, b)` or `[i, j, ...]`.
    pub(crate) fn concat(&mut self) -> Result<Vec<usize>, CoreError> {
        if self.try_eat("range") {
            self.eat("(")?;
            let a = self.number()?;
            self.eat(",")?;
            let b = self.number()?;
            self.eat(")")?;
            // A cell's states are its 2 inputs and at most MAX_NODES nodes: bound the range
            // before expanding it.
            let states = crate::limits::MAX_NODES + 2;
            if b > states {
                return Err(CoreError::Genotype(format!("range({a}, {b}) reaches past the {states} states a cell can have")));
            }
            return Ok((a..b).collect());
        }
        self.list(Self::number)
    }
}

impl FromStr for Genotype {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut p = Parser::new(s);
        p.eat("Genotype")?;
        let (mut normal, mut normal_concat, mut reduce, mut reduce_concat) = (None, None, None, None);
        p.fields(|p, key| {
            match key {
                "normal" => normal = Some(p.gene::<Primitive>()?),
                "reduce" => reduce = Some(p.gene::<Primitive>()?),
                "normal_concat" => normal_concat = Some(p.concat()?),
                "reduce_concat" => reduce_concat = Some(p.concat()?),
                other => return Err(CoreError::Genotype(format!("unknown field '{other}'"))),
            }
            Ok(())
        })?;
        let missing = |f: &str| CoreError::Genotype(format!("missing field '{f}'"));
        let g = Genotype {
            normal: normal.ok_or_else(|| missing("normal"))?,
            normal_concat: normal_concat.ok_or_else(|| missing("normal_concat"))?,
            reduce: reduce.ok_or_else(|| missing("reduce"))?,
            reduce_concat: reduce_concat.ok_or_else(|| missing("reduce_concat"))?,
        };
        g.validate(None)?;
        Ok(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::SpaceId;

    const DARTS_V2: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";

    #[test]
    fn text_round_trip() {
        let g: Genotype = DARTS_V2.parse().unwrap();
        assert_eq!(g.normal[7], (Primitive::DilConv3x3, 2));
        assert_eq!(g.normal_concat, vec![2, 3, 4, 5]);
        let text = g.to_string();
        assert!(text.contains("normal_concat=range(2, 6)"), "{text}");
        let back: Genotype = text.parse().unwrap();
        assert_eq!(back, g);
        let json = serde_json::to_string(&g).unwrap();
        assert_eq!(serde_json::from_str::<Genotype>(&json).unwrap(), g);
        g.validate(Some(&SearchSpace::new(SpaceId::S5, 4).unwrap())).unwrap();
        // S2 has no pools: the same genotype does not fit.
        let err = g.validate(Some(&SearchSpace::new(SpaceId::S2, 4).unwrap())).unwrap_err();
        assert!(err.to_string().contains("is not in space S2"), "{err}");
    }

    #[test]
    fn bad_text_is_rejected_with_a_reason() {
        for bad in [
            "",
            "Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=range(2, 3))",
            "Genotype(normal=[('conv_9x9', 0), ('skip_connect', 1)], normal_concat=range(2, 3), reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=range(2, 3))",
            "Genotype(normal=[('skip_connect', 0), ('skip_connect', 5)], normal_concat=range(2, 3), reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=range(2, 3))",
            "Genotype(normal=[('skip_connect', 0), ('skip_connect', 1)], normal_concat=range(2, 3), reduce=[('skip_connect', 0), ('skip_connect', 1)], reduce_concat=range(2, 3)) trailing",
        ] {
            assert!(bad.parse::<Genotype>().is_err(), "accepted: {bad}");
        }
    }

    #[test]
    fn derivation_skips_none_and_picks_strongest_edges() {
        // S3 = [none, skip, sep3]; node 0 has edges 0, 1; node 1 edges 2, 3, 4 ...
        let space = SearchSpace::new(SpaceId::S3, 4).unwrap();
        let k = 3;
        let mut a = vec![0f32; 14 * k];
        // Edge 0: none dominates, but none is ignored: sep3 (0.5) > skip (0.1).
        a[0..3].copy_from_slice(&[5.0, 0.1, 0.5]);
        // Edge 1: skip strongest.
        a[3..6].copy_from_slice(&[0.0, 2.0, 0.0]);
        // Node 1: edge 4 (input 2) strongest, then edge 2 (input 0).
        a[6..9].copy_from_slice(&[0.0, 0.0, 1.0]);
        a[12..15].copy_from_slice(&[0.0, 3.0, 0.0]);
        let g = Genotype::derive(&space, &a, &a);
        assert_eq!(g.normal[0], (Primitive::SkipConnect, 1));
        assert_eq!(g.normal[1], (Primitive::SepConv3x3, 0));
        assert_eq!(g.normal[2], (Primitive::SkipConnect, 2));
        assert_eq!(g.normal[3], (Primitive::SepConv3x3, 0));
        // Ties (all-zero rows) go to the lowest index: node 2 picks inputs 0 and 1, op index 1 (skip).
        assert_eq!(g.normal[4], (Primitive::SkipConnect, 0));
        assert_eq!(g.normal[5], (Primitive::SkipConnect, 1));
        g.validate(Some(&space)).unwrap();
        // A space without none: argmax over all ops.
        let s2 = SearchSpace::new(SpaceId::S2, 4).unwrap();
        let mut b = vec![0f32; 14 * 2];
        b[0..2].copy_from_slice(&[0.0, 1.0]);
        b[2..4].copy_from_slice(&[3.0, 0.0]);
        let g2 = Genotype::derive(&s2, &b, &b);
        assert_eq!(g2.normal[0], (Primitive::SkipConnect, 1));
        assert_eq!(g2.normal[1], (Primitive::SepConv3x3, 0));
    }

    #[test]
    fn none_is_found_per_edge_with_the_global_index() {
        // An edge list where `none` sits at a different position on a later edge: the reference's
        // node-local lookup would exclude the wrong op there.
        let ops = vec![
            vec![Primitive::SkipConnect, Primitive::SepConv3x3],
            vec![Primitive::SkipConnect, Primitive::SepConv3x3],
            vec![Primitive::SepConv3x3, Primitive::None],
            vec![Primitive::None, Primitive::SepConv3x3],
            vec![Primitive::SkipConnect, Primitive::SepConv3x3],
        ];
        let w = vec![
            vec![0.5, 0.5],
            vec![0.5, 0.5],
            vec![0.2, 0.8], // best non-none = sep3 with 0.2
            vec![0.9, 0.1], // best non-none = sep3 with 0.1
            vec![0.6, 0.4], // skip 0.6
        ];
        let g = derive_cell(&w, &ops, 2);
        assert_eq!(g[2], (Primitive::SkipConnect, 2));
        assert_eq!(g[3], (Primitive::SepConv3x3, 0));
    }
}
