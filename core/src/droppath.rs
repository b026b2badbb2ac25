//! ScheduledDropPath's per-sample masks for one node of a search cell (docs/ALGORITHM.md §9).

use burn::tensor::{Tensor, TensorData};

use crate::params::{Fwd, Mode};

/// A node's drop-path masks, `[E, N]`, drawn edge by edge as the edges' outputs are made (so
/// the pass's random stream interleaves them with the noise ops' draws as before): a per-sample
/// keep mask scaled by 1/keep for each edge with an output, zeros for an edge without one; none
/// when drop-path is off (docs/ALGORITHM.md §9).
pub struct DropPathMasks {
    /// The mask values so far, or `None` when drop-path is off.
    values: Option<Vec<f32>>,
    /// Samples per mask.
    n: usize,
    edges: usize,
}

impl DropPathMasks {
    /// Masks of `n` samples, none when the pass has drop-path off.
    pub fn new(f: &Fwd, n: usize) -> Self {
        let on = f.mode == Mode::Train && f.drop_prob > 0.0;
        Self { values: on.then(Vec::new), n, edges: 0 }
    }

    /// The next edge's mask: drawn if the edge has an output.
    pub fn push(&mut self, f: &mut Fwd, has_output: bool) {
        self.edges += 1;
        if let Some(values) = &mut self.values {
            if has_output {
                values.extend(f.keep_values(self.n, f.drop_prob));
            } else {
                values.extend(std::iter::repeat_n(0.0, self.n));
            }
        }
    }

    /// The masks drawn, `[E, N]`, or `None` when drop-path is off.
    pub fn into_tensor(self, device: &burn::tensor::Device) -> Option<Tensor<2>> {
        let values = self.values?;
        Some(Tensor::from_data(TensorData::new(values, [self.edges, self.n]), device))
    }
}
