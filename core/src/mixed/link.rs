//! The node sum on the CPU backend as a chain of links, one per candidate output:
//! `acc ← acc + coef[n] · y[n]`, starting from `coef[n] · y[n]`. Each link reads its input where
//! it is, where the stacked form (`super::extension`, which wgpu runs: one launch for all) first
//! copies every output into one tensor on the calling thread (Burn's `cat`: at the paper's search
//! shape 5.6 % of an S2 step's CPU time, while the other core waited). The rows run in parallel,
//! a link adds into its accumulator in place, and the sums come out in the stacked kernel's order,
//! so both forms give the same values: `0 + c₀y₀ + c₁y₁ + …` is `c₀y₀ + c₁y₁ + …` (where the
//! stacked form's `0 + (−0)` gives `+0`, a link keeps `−0`).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Dispatch, Flex, backend_extension};
use burn::tensor::Tensor;

use crate::kernels::autodiff::{Crossed, keep_crossed, retrieve_crossed};
use crate::kernels::host::{contiguous, dot, for_each_plane, planes, shape, tensor, values};

/// `Σ_m coef[m, n] · ys[m][n]` as a chain of links (float32 tensors on the CPU backend; the caller
/// checks), each `ys[m]`: `[N, S]`, `coef`: `[M, N]`.
pub fn linked_sum(ys: Vec<Tensor<2>>, coef: Tensor<2>) -> Tensor<2> {
    let [m, n] = coef.dims();
    assert_eq!(ys.len(), m, "linked_sum: {} outputs, {m} rows of coefficients", ys.len());
    let mut acc: Option<Tensor<2>> = None;
    for (k, y) in ys.into_iter().enumerate() {
        let c = coef.clone().narrow(0, k, 1).reshape([n]).into_dispatch();
        acc = Some(Tensor::from_dispatch(match acc {
            None => Dispatch::scale_rows(y.into_dispatch(), c),
            Some(a) => Dispatch::add_scaled_rows(a.into_dispatch(), y.into_dispatch(), c),
        }));
    }
    acc.expect("a node needs at least one edge with a non-zero op")
}

/// The links as Burn backend operations.
#[backend_extension(Flex, Autodiff)]
pub trait NodeLinkBackend: burn::backend::Backend {
    /// `y: [N, S]`, `coef: [N]` → `coef[n] · y[n]`.
    fn scale_rows(y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self>;
    /// `acc: [N, S]`, `y: [N, S]`, `coef: [N]` → `acc[n] + coef[n] · y[n]`.
    fn add_scaled_rows(acc: FloatTensor<Self>, y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// The links' coefficient gradient, on backends that compute it (the input's gradient is
/// [`NodeLinkBackend::scale_rows`] of the output's).
pub trait NodeLinkGrads: NodeLinkBackend {
    /// `y: [N, S]`, `dout: [N, S]` → `Σ_s y[n, s] · dout[n, s]`, `[N]`.
    fn row_dots(y: FloatTensor<Self>, dout: FloatTensor<Self>) -> FloatTensor<Self>;
}

impl NodeLinkBackend for Flex {
    fn scale_rows(y: FlexTensor, coef: FlexTensor) -> FlexTensor {
        let [n, s] = shape(&y);
        let (y, coef) = (contiguous(&y), contiguous(&coef));
        let (ys, cs) = (values(&y), values(&coef));
        let out = planes(n * s, s, |row, out| {
            let c = cs[row];
            out.iter_mut().zip(&ys[row * s..]).for_each(|(v, y)| *v = c * y);
        });
        tensor(out, [n, s])
    }

    fn add_scaled_rows(acc: FlexTensor, y: FlexTensor, coef: FlexTensor) -> FlexTensor {
        let [n, s] = shape(&y);
        let (mut acc, y, coef) = (acc, contiguous(&y), contiguous(&coef));
        let (ys, cs) = (values(&y), values(&coef));
        let add = |row: usize, o: &mut [f32]| {
            let c = cs[row];
            o.iter_mut().zip(&ys[row * s..(row + 1) * s]).for_each(|(v, x)| *v += c * x);
        };
        if let Some((start, end)) = acc.layout().contiguous_offsets()
            && let Some(storage) = acc.try_storage_mut::<f32>()
        {
            for_each_plane(&mut storage[start..end], s, add);
            return acc;
        }
        let mut out = values(&contiguous(&acc)).to_vec();
        for_each_plane(&mut out, s, add);
        tensor(out, [n, s])
    }
}

impl NodeLinkGrads for Flex {
    fn row_dots(y: FlexTensor, dout: FlexTensor) -> FlexTensor {
        let [n, s] = shape(&y);
        let (y, dout) = (contiguous(&y), contiguous(&dout));
        let (ys, g) = (values(&y), values(&dout));
        let mut dots = vec![0.0f32; n];
        for_each_plane(&mut dots, 1, |row, o| o[0] = dot(&ys[row * s..(row + 1) * s], &g[row * s..(row + 1) * s], 1));
        tensor(dots, [n])
    }
}

/// `y`'s gradient from the link output's `dout`.
fn grad_y<B: NodeLinkGrads>(coef: Option<FloatTensor<B>>, dout: FloatTensor<B>) -> FloatTensor<B> {
    B::scale_rows(dout, coef.expect("coef kept for dy"))
}

/// The coefficient's gradient from the link output's `dout`.
fn grad_coef<B: NodeLinkGrads>(y: Option<FloatTensor<B>>, dout: FloatTensor<B>) -> FloatTensor<B> {
    B::row_dots(y.expect("y kept for dcoef"), dout)
}

impl<B: NodeLinkGrads, C: CheckpointStrategy> NodeLinkBackend for Autodiff<B, C> {
    fn scale_rows(y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct ScaleRowsBackward;

        impl<B: NodeLinkGrads> Backward<B, 2> for ScaleRowsBackward {
            /// `y` (for the coefficient's gradient) and the coefficient (for `y`'s).
            type State = Crossed;

            fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let (y, coef) = retrieve_crossed::<B>(ops.state, checkpointer);
                binary::<B, _, _>(ops.parents, ops.node, grads, |dout| grad_y::<B>(coef, dout), |dout| grad_coef::<B>(y, dout));
            }
        }

        match ScaleRowsBackward.prepare::<C>([y.node(), coef.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let kept = keep_crossed(&mut prep, &y, &coef);
                prep.finish(kept, B::scale_rows(y.into_primitive(), coef.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::scale_rows(y.into_primitive(), coef.into_primitive())),
        }
    }

    fn add_scaled_rows(acc: FloatTensor<Self>, y: FloatTensor<Self>, coef: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct AddScaledRowsBackward;

        impl<B: NodeLinkGrads> Backward<B, 3> for AddScaledRowsBackward {
            /// As the scaling link's; the accumulator's gradient needs nothing kept.
            type State = Crossed;

            fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
                let (kept_y, kept_coef) = retrieve_crossed::<B>(ops.state, checkpointer);
                let [acc, y, coef] = ops.parents;
                let dout = grads.consume::<B>(&ops.node);
                // The accumulator's gradient is the output's; the other two read it.
                if let Some(node) = y {
                    grads.register::<B>(node.id, grad_y::<B>(kept_coef, dout.clone()));
                }
                if let Some(node) = coef {
                    grads.register::<B>(node.id, grad_coef::<B>(kept_y, dout.clone()));
                }
                if let Some(node) = acc {
                    grads.register::<B>(node.id, dout);
                }
            }
        }

        match AddScaledRowsBackward.prepare::<C>([acc.node(), y.node(), coef.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let kept = keep_crossed(&mut prep, &y, &coef);
                prep.finish(kept, B::add_scaled_rows(acc.into_primitive(), y.into_primitive(), coef.into_primitive()))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::add_scaled_rows(acc.into_primitive(), y.into_primitive(), coef.into_primitive())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::to_vec;
    use burn::tensor::{Device, TensorData};

    fn t2(v: Vec<f32>, shape: [usize; 2]) -> Tensor<2> {
        Tensor::from_data(TensorData::new(v, shape), &Device::flex())
    }

    /// Two rows of three: `acc + c · y` row by row, by hand; an accumulator still held elsewhere
    /// is copied, not overwritten.
    #[test]
    fn links_scale_rows_and_leave_a_shared_accumulator_alone() {
        let y = t2(vec![1.0, 2.0, 3.0, -1.0, 0.5, 4.0], [2, 3]);
        let c = Tensor::<1>::from_data(TensorData::new(vec![2.0f32, -3.0], [2]), &Device::flex());
        let first = Tensor::<2>::from_dispatch(Dispatch::scale_rows(y.clone().into_dispatch(), c.clone().into_dispatch()));
        assert_eq!(to_vec(&first), vec![2.0, 4.0, 6.0, 3.0, -1.5, -12.0]);
        let held = first.clone();
        let sum = Tensor::<2>::from_dispatch(Dispatch::add_scaled_rows(first.into_dispatch(), y.clone().into_dispatch(), c.clone().into_dispatch()));
        assert_eq!(to_vec(&sum), vec![4.0, 8.0, 12.0, 6.0, -3.0, -24.0]);
        assert_eq!(to_vec(&held), vec![2.0, 4.0, 6.0, 3.0, -1.5, -12.0], "the held accumulator changed");
        // Through autodiff: ∂/∂c of Σ (c · y) · y is Σ_s y², row by row; ∂/∂y is c · y.
        let dev = Device::flex().autodiff();
        let ya = Tensor::<2>::from_data(TensorData::new(to_vec(&y), [2, 3]), &dev).require_grad();
        let ca = Tensor::<2>::from_data(TensorData::new(to_vec(&c), [1, 2]), &dev).require_grad();
        let out = linked_sum(vec![ya.clone()], ca.clone());
        let grads = (out * ya.clone().detach()).sum().backward();
        assert_eq!(to_vec(&ca.grad(&grads).expect("coefficient gradient")), vec![14.0, 17.25]);
        assert_eq!(to_vec(&ya.grad(&grads).expect("output gradient")), vec![2.0, 4.0, 6.0, 3.0, -1.5, -12.0]);
    }
}
