//! Candidate operations and the search spaces S1–S5 of RobustDARTS (docs/ALGORITHM.md §2, §3).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

use crate::error::CoreError;

/// One candidate operation on an edge (docs/ALGORITHM.md §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Primitive {
    /// Zeros of the (strided) input's shape.
    None,
    /// 3×3 max pooling (pad 1), then BatchNorm.
    MaxPool3x3,
    /// 3×3 average pooling (pad 1, padding not counted), then BatchNorm.
    AvgPool3x3,
    /// Identity; FactorizedReduce at stride 2.
    SkipConnect,
    /// Two stacked ReLU–depthwise 3×3–pointwise–BN blocks.
    SepConv3x3,
    /// Two stacked ReLU–depthwise 5×5–pointwise–BN blocks.
    SepConv5x5,
    /// ReLU–depthwise 3×3 dilation 2–pointwise–BN.
    DilConv3x3,
    /// ReLU–depthwise 5×5 dilation 2–pointwise–BN.
    DilConv5x5,
    /// Fresh N(0, 1) noise of the (strided) input's shape.
    Noise,
}

impl Primitive {
    /// Every primitive, in the order of the original DARTS list (noise last).
    pub const ALL: [Primitive; 9] = [
        Primitive::None,
        Primitive::MaxPool3x3,
        Primitive::AvgPool3x3,
        Primitive::SkipConnect,
        Primitive::SepConv3x3,
        Primitive::SepConv5x5,
        Primitive::DilConv3x3,
        Primitive::DilConv5x5,
        Primitive::Noise,
    ];

    /// The name used by the PyTorch reference code and the genotype text format.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::None => "none",
            Primitive::MaxPool3x3 => "max_pool_3x3",
            Primitive::AvgPool3x3 => "avg_pool_3x3",
            Primitive::SkipConnect => "skip_connect",
            Primitive::SepConv3x3 => "sep_conv_3x3",
            Primitive::SepConv5x5 => "sep_conv_5x5",
            Primitive::DilConv3x3 => "dil_conv_3x3",
            Primitive::DilConv5x5 => "dil_conv_5x5",
            Primitive::Noise => "noise",
        }
    }

    /// Whether the operation has no trainable weights at stride 1 (none, pools, skip, noise).
    pub fn is_parameter_free(self) -> bool {
        matches!(
            self,
            Primitive::None
                | Primitive::MaxPool3x3
                | Primitive::AvgPool3x3
                | Primitive::SkipConnect
                | Primitive::Noise
        )
    }
}

impl fmt::Display for Primitive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Primitive {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Primitive::ALL
            .iter()
            .copied()
            .find(|p| p.name() == s)
            .ok_or_else(|| CoreError::invalid("primitive", format!("unknown operation '{s}'")))
    }
}

/// Normal or reduction cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CellKind {
    /// Keeps channels and resolution.
    Normal,
    /// Doubles channels, halves resolution.
    Reduce,
}

/// The search spaces of RobustDARTS (docs/ALGORITHM.md §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SpaceId {
    /// Per-edge top-2 ops of a DARTS run.
    S1,
    /// {skip_connect, sep_conv_3x3} on every edge.
    S2,
    /// {none, skip_connect, sep_conv_3x3} on every edge.
    S3,
    /// {noise, sep_conv_3x3} on every edge.
    S4,
    /// The 8 ops of the original DARTS on every edge.
    S5,
}

impl SpaceId {
    /// All spaces in order.
    pub const ALL: [SpaceId; 5] = [SpaceId::S1, SpaceId::S2, SpaceId::S3, SpaceId::S4, SpaceId::S5];
}

impl fmt::Display for SpaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

impl FromStr for SpaceId {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "s1" => Ok(SpaceId::S1),
            "s2" => Ok(SpaceId::S2),
            "s3" => Ok(SpaceId::S3),
            "s4" => Ok(SpaceId::S4),
            "s5" | "darts" => Ok(SpaceId::S5),
            _ => Err(CoreError::invalid(
                "space",
                format!("unknown search space '{s}' (expected s1, s2, s3, s4 or s5)"),
            )),
        }
    }
}

/// Number of edges of a cell with `nodes` intermediate nodes: 2 + 3 + … + (nodes + 1).
pub fn edge_count(nodes: usize) -> usize {
    (0..nodes).map(|i| i + 2).sum()
}

/// The operation lists of every edge of both cell types.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchSpace {
    /// Which space this is.
    pub id: SpaceId,
    /// Op list per edge of a normal cell.
    pub normal: Vec<Vec<Primitive>>,
    /// Op list per edge of a reduction cell.
    pub reduce: Vec<Vec<Primitive>>,
}

impl SearchSpace {
    /// Builds the space for cells with `nodes` intermediate nodes.
    ///
    /// S1 is defined edge by edge for the standard 4-node cell only.
    pub fn new(id: SpaceId, nodes: usize) -> Result<Self, CoreError> {
        use Primitive::*;
        crate::limits::at_most("nodes", nodes, crate::limits::MAX_NODES)?;
        let edges = edge_count(nodes);
        let uniform = |ops: &[Primitive]| vec![ops.to_vec(); edges];
        let (normal, reduce) = match id {
            SpaceId::S1 => {
                if nodes != 4 {
                    return Err(CoreError::invalid(
                        "nodes",
                        format!("space S1 is defined for 4 nodes per cell, found {nodes}"),
                    ));
                }
                let (sk, d3, d5, s3, mx, av) =
                    (SkipConnect, DilConv3x3, DilConv5x5, SepConv3x3, MaxPool3x3, AvgPool3x3);
                let normal = vec![
                    vec![sk, d3], vec![sk, d5], vec![sk, d5], vec![sk, s3], vec![sk, d3],
                    vec![mx, sk], vec![sk, s3], vec![sk, s3], vec![sk, d3], vec![sk, s3],
                    vec![mx, sk], vec![sk, d3], vec![d3, d5], vec![d3, d5],
                ];
                let reduce = vec![
                    vec![mx, av], vec![mx, d3], vec![mx, av], vec![mx, av], vec![sk, d5],
                    vec![mx, av], vec![mx, s3], vec![sk, d3], vec![sk, d5], vec![mx, av],
                    vec![mx, av], vec![sk, d5], vec![sk, d5], vec![sk, d5],
                ];
                (normal, reduce)
            }
            SpaceId::S2 => (uniform(&[SkipConnect, SepConv3x3]), uniform(&[SkipConnect, SepConv3x3])),
            SpaceId::S3 => {
                let ops = [None, SkipConnect, SepConv3x3];
                (uniform(&ops), uniform(&ops))
            }
            SpaceId::S4 => (uniform(&[Noise, SepConv3x3]), uniform(&[Noise, SepConv3x3])),
            SpaceId::S5 => {
                let ops = [
                    None, MaxPool3x3, AvgPool3x3, SkipConnect, SepConv3x3, SepConv5x5, DilConv3x3,
                    DilConv5x5,
                ];
                (uniform(&ops), uniform(&ops))
            }
        };
        Ok(SearchSpace { id, normal, reduce })
    }

    /// The op lists of one cell type.
    pub fn ops(&self, kind: CellKind) -> &[Vec<Primitive>] {
        match kind {
            CellKind::Normal => &self.normal,
            CellKind::Reduce => &self.reduce,
        }
    }

    /// Ops per edge (K). All spaces have the same K on every edge.
    pub fn ops_per_edge(&self) -> usize {
        self.normal[0].len()
    }

    /// Edges per cell.
    pub fn edges(&self) -> usize {
        self.normal.len()
    }

    /// Number of α entries: 2 · edges · K.
    pub fn alpha_len(&self) -> usize {
        2 * self.edges() * self.ops_per_edge()
    }

    /// Intermediate nodes per cell.
    pub fn nodes(&self) -> usize {
        let mut n = 0;
        while edge_count(n) < self.edges() {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha_sizes_match_the_paper() {
        let sizes: Vec<usize> = SpaceId::ALL
            .iter()
            .map(|&id| SearchSpace::new(id, 4).unwrap().alpha_len())
            .collect();
        assert_eq!(sizes, vec![56, 56, 84, 56, 224]);
    }

    #[test]
    fn s1_has_two_distinct_ops_per_edge() {
        let s = SearchSpace::new(SpaceId::S1, 4).unwrap();
        for ops in s.normal.iter().chain(&s.reduce) {
            assert_eq!(ops.len(), 2);
            assert_ne!(ops[0], ops[1]);
        }
        assert_eq!(s.normal[5], vec![Primitive::MaxPool3x3, Primitive::SkipConnect]);
        assert_eq!(s.reduce[6], vec![Primitive::MaxPool3x3, Primitive::SepConv3x3]);
        assert!(SearchSpace::new(SpaceId::S1, 3).is_err());
    }

    #[test]
    fn names_round_trip() {
        for p in Primitive::ALL {
            assert_eq!(p.name().parse::<Primitive>().unwrap(), p);
        }
        assert!("conv_7x7".parse::<Primitive>().is_err());
        assert_eq!("S3".parse::<SpaceId>().unwrap(), SpaceId::S3);
        assert!("s9".parse::<SpaceId>().is_err());
        assert_eq!(SearchSpace::new(SpaceId::S5, 4).unwrap().nodes(), 4);
        assert_eq!(SearchSpace::new(SpaceId::S2, 3).unwrap().nodes(), 3);
    }
}
