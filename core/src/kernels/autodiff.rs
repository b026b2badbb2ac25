//! What the autodiff arms of our two-input kernels share. Each is a product of its two inputs (a
//! weight and an input, or coefficients and outputs), so each input's gradient reads the other
//! input: the backward keeps an input only when the other one's gradient is wanted, and nothing
//! of an input whose partner is frozen.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsPrep, Tracked};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::Backend;

/// The kept inputs `(a, b)`: `a` when `b`'s gradient is wanted, `b` when `a`'s is.
pub type Crossed = (Option<NodeId>, Option<NodeId>);

/// Keeps `a` for `b`'s gradient and `b` for `a`'s, each only where that gradient is wanted.
pub fn keep_crossed<BO, B, S, C, const N: usize>(prep: &mut OpsPrep<BO, B, S, C, N, Tracked>, a: &FloatTensor<Autodiff<B, C>>, b: &FloatTensor<Autodiff<B, C>>) -> Crossed
where
    B: Backend,
    C: CheckpointStrategy,
    S: Clone + Send + std::fmt::Debug + 'static,
    BO: Backward<B, N, State = S>,
{
    (b.is_tracked().then(|| prep.checkpoint(a)), a.is_tracked().then(|| prep.checkpoint(b)))
}

/// The inputs [`keep_crossed`] kept, in the backward.
pub fn retrieve_crossed<B: Backend>((a, b): Crossed, checkpointer: &mut Checkpointer) -> (Option<FloatTensor<B>>, Option<FloatTensor<B>>) {
    (a.map(|id| checkpointer.retrieve_node_output(id)), b.map(|id| checkpointer.retrieve_node_output(id)))
}
