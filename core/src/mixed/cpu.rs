//! The node sum's CPU (Flex) arm: `out[n] = Σ_m coef[m, n] · y[m, n]` over rows of `S` values, and
//! its two gradients, as loops over host slices (rows in parallel; every sum in a fixed order).

use burn::backend::Flex;
use burn::backend::flex::FlexTensor;

use super::extension::{NodeSumBackend, NodeSumGrads};
use crate::kernels::host::{contiguous, dot, for_each_plane, shape, tensor, values};

impl NodeSumBackend for Flex {
    fn node_sum(y: FlexTensor, coef: FlexTensor) -> FlexTensor {
        let [m, n, s] = shape(&y);
        let (y, coef) = (contiguous(&y), contiguous(&coef));
        let (y, coef) = (values(&y), values(&coef));
        let mut out = vec![0.0f32; n * s];
        for_each_plane(&mut out, s, |row, o| {
            for k in 0..m {
                let c = coef[k * n + row];
                let base = (k * n + row) * s;
                for (v, x) in o.iter_mut().zip(&y[base..base + s]) {
                    *v += c * x;
                }
            }
        });
        tensor(out, [n, s])
    }
}

impl NodeSumGrads for Flex {
    fn node_sum_grad_inputs(coef: FlexTensor, dout: FlexTensor) -> FlexTensor {
        let [m, n] = shape(&coef);
        let [_, s] = shape(&dout);
        let (coef, dout) = (contiguous(&coef), contiguous(&dout));
        let (coef, dout) = (values(&coef), values(&dout));
        let mut dy = vec![0.0f32; m * n * s];
        for_each_plane(&mut dy, s, |r, o| {
            let c = coef[r];
            let row = r % n;
            for (v, g) in o.iter_mut().zip(&dout[row * s..(row + 1) * s]) {
                *v = c * g;
            }
        });
        tensor(dy, [m, n, s])
    }

    fn node_sum_grad_coef(y: FlexTensor, dout: FlexTensor) -> FlexTensor {
        let [m, n, s] = shape(&y);
        let (y, dout) = (contiguous(&y), contiguous(&dout));
        let (y, dout) = (values(&y), values(&dout));
        let mut dcoef = vec![0.0f32; m * n];
        for_each_plane(&mut dcoef, 1, |r, o| {
            let row = r % n;
            o[0] = dot(&y[r * s..(r + 1) * s], &dout[row * s..(row + 1) * s], 1);
        });
        tensor(dcoef, [m, n])
    }
}
