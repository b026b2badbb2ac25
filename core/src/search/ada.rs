//! DARTS-ES and DARTS-ADA on the image search (docs/ALGORITHM.md §7, §8): what a firing of the
//! stopping rule does to this search's state. The rule, the record and the rollback ring are the
//! shared [`Controller`](super::Controller)'s.

use super::control::Firing;
use super::{AdaTarget, Kept, RobustAction, RobustReport, Search, Snapshot};
use crate::error::CoreError;

impl Search {
    /// How many recent states DARTS-ADA may roll back to (keep at least this many checkpoints).
    pub fn states_to_keep(&self) -> usize {
        self.ctl.states_to_keep()
    }

    /// Whether DARTS-ADA's regularisation is below its maximum.
    pub(super) fn raisable(&self) -> bool {
        let r = &self.config.robust;
        match r.target {
            AdaTarget::WeightDecay => self.config.weight_decay < r.max_weight_decay * (1.0 - 1e-9),
            AdaTarget::DropPath => self.config.drop_path_prob < r.max_drop_path - 1e-9,
        }
    }

    /// Acts on a firing of the DARTS-ES rule: a rollback restores the state it names and raises
    /// the regularisation.
    pub(super) fn act_on(&mut self, firing: Firing<Kept, Snapshot>) -> Result<RobustReport, CoreError> {
        if firing.action == RobustAction::Rollback
            && let Some(snap) = &firing.restore
        {
            self.restore(snap)?;
            self.config.raise_regularisation();
        }
        Ok(self.ctl.fired(firing, self.epoch, self.config.weight_decay, self.config.drop_path_prob))
    }
}
