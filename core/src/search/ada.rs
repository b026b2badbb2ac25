//! DARTS-ES and DARTS-ADA (docs/ALGORITHM.md §7, §8): what a firing of the stopping rule does,
//! the progress that survives rollbacks, and the ring of recent states DARTS-ADA rolls back to.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{AdaTarget, RobustAction, RobustMode, RobustReport, Search, SearchConfig, Snapshot};
use crate::error::CoreError;
use crate::robust::EsStop;

/// Progress of DARTS-ES/ADA; survives rollbacks (it is not restored with the search state).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RobustState {
    /// DARTS-ADA iteration, 1-based.
    pub iteration: usize,
    /// The first firing of the rule: DARTS-ES's answer, in every mode.
    pub first: Option<RobustReport>,
    /// Every firing, in order.
    pub events: Vec<RobustReport>,
    /// DARTS-ES ended the search.
    pub stopped: bool,
}

impl RobustState {
    /// Before any firing: iteration 1.
    pub fn new() -> Self {
        RobustState { iteration: 1, first: None, events: Vec::new(), stopped: false }
    }
}

impl Default for RobustState {
    fn default() -> Self {
        Self::new()
    }
}

/// DARTS-ADA's rollback targets: the states at the ends of recent epochs, oldest first, as many
/// as the rule can reach back (its horizon). Empty unless the mode is DARTS-ADA.
pub(super) struct Rollbacks {
    states: VecDeque<Snapshot>,
    horizon: usize,
}

impl Rollbacks {
    /// An empty ring for `config`.
    pub(super) fn new(config: &SearchConfig) -> Self {
        Rollbacks { states: VecDeque::new(), horizon: Self::horizon(config) }
    }

    /// Epochs of state DARTS-ADA may need to go back to: the rule looks every·(⌊window/2⌋ + delta)
    /// epochs back, plus the extra rollback, plus the current epoch.
    pub(super) fn horizon(config: &SearchConfig) -> usize {
        let r = &config.robust;
        config.hessian.every * (r.window / 2 + r.delta) + r.extra_rollback_epochs + 2
    }

    /// Adds the state at the end of an epoch, replacing any of that epoch or later (undone by a
    /// rollback), and forgets what is beyond the horizon.
    pub(super) fn push(&mut self, state: Snapshot) {
        self.states.retain(|k| k.meta.epoch < state.meta.epoch);
        self.states.push_back(state);
        while self.states.len() > self.horizon {
            self.states.pop_front();
        }
    }

    /// The state whose next epoch is `next_epoch`; every newer state is forgotten.
    fn take(&mut self, next_epoch: usize) -> Option<Snapshot> {
        let found = self.states.iter().find(|s| s.meta.epoch == next_epoch).cloned()?;
        self.states.retain(|s| s.meta.epoch <= next_epoch);
        Some(found)
    }
}

impl Search {
    /// How many recent states DARTS-ADA may roll back to (keep at least this many checkpoints).
    pub fn states_to_keep(&self) -> usize {
        if self.config.robust.mode == RobustMode::Ada { Rollbacks::horizon(&self.config) } else { 1 }
    }

    /// Acts on a firing of the DARTS-ES rule. Without ES/ADA only the first firing is reported
    /// (where DARTS-ES would have stopped); at DARTS-ADA's maximum, only the first after it.
    pub(super) fn on_stop(&mut self, stop: EsStop) -> Result<Option<RobustReport>, CoreError> {
        let at = self.history.get(stop.stop_epoch).cloned().ok_or(CoreError::NoRecord { epoch: stop.stop_epoch })?;
        let r = self.config.robust.clone();
        let raisable = match r.target {
            AdaTarget::WeightDecay => self.config.weight_decay < r.max_weight_decay * (1.0 - 1e-9),
            AdaTarget::DropPath => self.config.drop_path_prob < r.max_drop_path - 1e-9,
        };
        let action = match r.mode {
            RobustMode::Off => RobustAction::WouldStop,
            RobustMode::Es => RobustAction::Stop,
            RobustMode::Ada if raisable => RobustAction::Rollback,
            RobustMode::Ada => RobustAction::AtMaximum,
        };
        let last = self.robust.events.last().map(|e| e.action);
        if (action == RobustAction::WouldStop && last.is_some()) || (action == RobustAction::AtMaximum && last == Some(action)) {
            return Ok(None);
        }
        match action {
            RobustAction::Stop => self.robust.stopped = true,
            RobustAction::Rollback => {
                let target = stop.stop_epoch.saturating_sub(r.extra_rollback_epochs);
                let snap = self.rollbacks.take(target + 1).ok_or(CoreError::NoSnapshot { epoch: target })?;
                self.restore(&snap)?;
                self.config.raise_regularisation();
                self.robust.iteration += 1;
            }
            RobustAction::AtMaximum | RobustAction::WouldStop => {}
        }
        let report = RobustReport {
            action,
            stop,
            genotype: at.genotype,
            valid_acc: at.valid_acc,
            next_epoch: self.epoch,
            weight_decay: self.config.weight_decay,
            drop_path_prob: self.config.drop_path_prob,
            iteration: self.robust.iteration,
        };
        if self.robust.first.is_none() {
            self.robust.first = Some(report.clone());
        }
        self.robust.events.push(report.clone());
        Ok(Some(report))
    }
}
