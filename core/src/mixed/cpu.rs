//! The node sum's CPU (Flex) arm: `out[n] = Σ_m coef[m, n] · y[m, n]` over rows of `S` values, and
//! its two gradients, as loops over host slices (rows in parallel; every sum in a fixed order).

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::backend::flex::FlexTensor;
use burn::tensor::TensorData;

use super::extension::{NodeSumBackend, NodeSumGrads};
use crate::depthwise::cpu::{dot, for_each_plane};

fn host(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

fn slice(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>().expect("node sum: a contiguous float32 tensor")
}

fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape))
}

impl NodeSumBackend for Flex {
    fn node_sum(y: FlexTensor, coef: FlexTensor) -> FlexTensor {
        let sh = y.shape();
        let (m, n, s) = (sh[0], sh[1], sh[2]);
        let (y, coef) = (host(&y), host(&coef));
        let (y, coef) = (slice(&y), slice(&coef));
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
        let (m, n) = (coef.shape()[0], coef.shape()[1]);
        let s = dout.shape()[1];
        let (coef, dout) = (host(&coef), host(&dout));
        let (coef, dout) = (slice(&coef), slice(&dout));
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
        let sh = y.shape();
        let (m, n, s) = (sh[0], sh[1], sh[2]);
        let (y, dout) = (host(&y), host(&dout));
        let (y, dout) = (slice(&y), slice(&dout));
        let mut dcoef = vec![0.0f32; m * n];
        for_each_plane(&mut dcoef, 1, |r, o| {
            let row = r % n;
            o[0] = dot(&y[r * s..(r + 1) * s], &dout[row * s..(row + 1) * s], 1);
        });
        tensor(dcoef, [m, n])
    }
}
