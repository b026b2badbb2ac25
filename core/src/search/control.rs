//! The robustness controller every search task shares (docs/ALGORITHM.md §7, §8): the λmax
//! history and the DARTS-ES rule, the record of finished epochs, DARTS-ES/ADA's progress and the
//! ring of recent states DARTS-ADA rolls back to. The image search ([`super::Search`]) and the
//! recurrent search ([`crate::lm::LmSearch`]) own one each and differ only in what they keep of an
//! epoch (`K`), what a state is (`S`) and how they restore one and raise their regularisation.
//!
//! At an epoch's end a search calls [`Controller::end_epoch`]; when the rule fires it acts on the
//! returned [`Firing`] (restores [`Firing::restore`] and raises its regularisation for a
//! rollback) and then calls [`Controller::fired`] for the report.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{EpochSummary, HessianConfig, Kept, RobustAction, RobustConfig, RobustMode, RobustReport};
use crate::error::CoreError;
use crate::robust::{EsStop, EsTracker};

/// Progress of DARTS-ES/ADA; survives rollbacks (it is not restored with the search state).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RobustState<K = Kept> {
    /// DARTS-ADA iteration, 1-based.
    pub iteration: usize,
    /// The first firing of the rule: DARTS-ES's answer, in every mode.
    pub first: Option<RobustReport<K>>,
    /// Every firing, in order.
    pub events: Vec<RobustReport<K>>,
    /// DARTS-ES ended the search.
    pub stopped: bool,
}

impl<K> RobustState<K> {
    /// Before any firing: iteration 1.
    pub fn new() -> Self {
        RobustState { iteration: 1, first: None, events: Vec::new(), stopped: false }
    }
}

impl<K> Default for RobustState<K> {
    fn default() -> Self {
        Self::new()
    }
}

/// DARTS-ADA's rollback targets: the states at the ends of recent epochs, oldest first (each with
/// the epoch that runs next from it), as many as the rule can reach back (its horizon).
struct Rollbacks<S> {
    states: VecDeque<(usize, S)>,
    horizon: usize,
}

impl<S: Clone> Rollbacks<S> {
    /// Adds the state from which `next_epoch` runs, replacing any of that epoch or later (undone by
    /// a rollback), and forgets what is beyond the horizon.
    fn push(&mut self, next_epoch: usize, state: S) {
        self.states.retain(|(e, _)| *e < next_epoch);
        self.states.push_back((next_epoch, state));
        while self.states.len() > self.horizon {
            self.states.pop_front();
        }
    }

    /// The state from which `next_epoch` runs; every newer state is forgotten.
    fn take(&mut self, next_epoch: usize) -> Option<S> {
        let found = self.states.iter().find(|(e, _)| *e == next_epoch).map(|(_, s)| s.clone())?;
        self.states.retain(|(e, _)| *e <= next_epoch);
        Some(found)
    }
}

/// A firing of the rule the search must act on before [`Controller::fired`].
pub struct Firing<K, S> {
    /// What is done.
    pub action: RobustAction,
    /// The rule's decision.
    pub stop: EsStop,
    /// For a rollback: the state to restore (then raise the regularisation).
    pub restore: Option<S>,
    at: K,
}

/// See the module documentation.
pub struct Controller<K, S> {
    /// The λmax history and its local averages.
    pub(crate) tracker: EsTracker,
    /// One entry per finished epoch (truncated by a rollback).
    pub(crate) history: Vec<EpochSummary<K>>,
    /// DARTS-ES/ADA progress.
    pub(crate) robust: RobustState<K>,
    rollbacks: Rollbacks<S>,
    hessian: HessianConfig,
    rules: RobustConfig,
    epochs: usize,
}

impl<K: Clone, S: Clone> Controller<K, S> {
    /// A controller for a search of `epochs` epochs with these λ and DARTS-ES/ADA settings.
    pub fn new(hessian: &HessianConfig, rules: &RobustConfig, epochs: usize) -> Self {
        let horizon = Self::horizon(hessian, rules);
        Controller {
            tracker: EsTracker::default(),
            history: Vec::new(),
            robust: RobustState::new(),
            rollbacks: Rollbacks { states: VecDeque::new(), horizon },
            hessian: hessian.clone(),
            rules: rules.clone(),
            epochs,
        }
    }

    /// Epochs of state DARTS-ADA may need to go back to: the rule looks every·(⌊window/2⌋ + delta)
    /// epochs back, plus the extra rollback, plus the current epoch.
    fn horizon(hessian: &HessianConfig, r: &RobustConfig) -> usize {
        hessian.every * (r.window / 2 + r.delta) + r.extra_rollback_epochs + 2
    }

    /// How many recent states DARTS-ADA may roll back to (keep at least this many checkpoints).
    pub fn states_to_keep(&self) -> usize {
        if self.rules.mode == RobustMode::Ada { Self::horizon(&self.hessian, &self.rules) } else { 1 }
    }

    /// Whether λmax is computed at the end of `epoch`: every `hessian.every` epochs and at the last.
    pub fn hessian_due(&self, epoch: usize) -> bool {
        self.hessian.every > 0 && (epoch.is_multiple_of(self.hessian.every) || epoch + 1 == self.epochs)
    }

    /// Whether DARTS-ADA keeps states to roll back to.
    pub fn keeps_states(&self) -> bool {
        self.rules.mode == RobustMode::Ada
    }

    /// Keeps the state from which `next_epoch` runs as a DARTS-ADA rollback target.
    pub fn keep(&mut self, next_epoch: usize, state: S) {
        self.rollbacks.push(next_epoch, state);
    }

    /// Records finished `epoch` (what is kept of it and λmax where computed) and applies the rule.
    /// `raisable`: whether DARTS-ADA's regularisation is still below its maximum. Returns the
    /// firing to act on; without ES/ADA only the first firing is returned (where DARTS-ES would
    /// have stopped), at DARTS-ADA's maximum only the first after reaching it.
    pub fn end_epoch(&mut self, epoch: usize, kept: K, lambda_max: Option<f64>, raisable: bool) -> Result<Option<Firing<K, S>>, CoreError> {
        self.history.truncate(epoch);
        self.history.push(EpochSummary { kept, lambda_max });
        let Some(lambda) = lambda_max else { return Ok(None) };
        let rule = self.rules.rule(self.hessian.every);
        self.tracker.push(&rule, epoch, lambda);
        let Some(stop) = self.tracker.check(&rule, epoch, self.epochs - 1) else { return Ok(None) };
        let at = self.history.get(stop.stop_epoch).cloned().ok_or(CoreError::NoRecord { epoch: stop.stop_epoch })?.kept;
        let action = match self.rules.mode {
            RobustMode::Off => RobustAction::WouldStop,
            RobustMode::Es => RobustAction::Stop,
            RobustMode::Ada if raisable => RobustAction::Rollback,
            RobustMode::Ada => RobustAction::AtMaximum,
        };
        let last = self.robust.events.last().map(|e| e.action);
        if (action == RobustAction::WouldStop && last.is_some()) || (action == RobustAction::AtMaximum && last == Some(action)) {
            return Ok(None);
        }
        let restore = if action == RobustAction::Rollback {
            let target = stop.stop_epoch.saturating_sub(self.rules.extra_rollback_epochs);
            Some(self.rollbacks.take(target + 1).ok_or(CoreError::NoSnapshot { epoch: target })?)
        } else {
            None
        };
        Ok(Some(Firing { action, stop, restore, at }))
    }

    /// The report of a firing the search has acted on: `next_epoch` and the regularisation are
    /// the search's after acting (a rollback restored a state and raised it).
    pub fn fired(&mut self, firing: Firing<K, S>, next_epoch: usize, weight_decay: f64, drop_path_prob: f64) -> RobustReport<K> {
        match firing.action {
            RobustAction::Stop => self.robust.stopped = true,
            RobustAction::Rollback => self.robust.iteration += 1,
            RobustAction::AtMaximum | RobustAction::WouldStop => {}
        }
        let report = RobustReport {
            action: firing.action,
            stop: firing.stop,
            at: firing.at,
            next_epoch,
            weight_decay,
            drop_path_prob,
            iteration: self.robust.iteration,
        };
        if self.robust.first.is_none() {
            self.robust.first = Some(report.clone());
        }
        self.robust.events.push(report.clone());
        report
    }

    /// The λmax history.
    pub fn tracker(&self) -> &EsTracker {
        &self.tracker
    }

    /// DARTS-ES/ADA progress.
    pub fn robust(&self) -> &RobustState<K> {
        &self.robust
    }

    /// The record of finished epochs.
    pub fn history(&self) -> &[EpochSummary<K>] {
        &self.history
    }

    /// DARTS-ES's answer once it stopped the search: what was kept of the stop epoch.
    pub fn stopped_at(&self) -> Option<&K> {
        match (&self.robust.first, self.robust.stopped) {
            (Some(r), true) => Some(&r.at),
            _ => None,
        }
    }

    /// Replaces the record and λ history (restoring a state) and the progress (resuming).
    pub(crate) fn restore(&mut self, tracker: EsTracker, history: Vec<EpochSummary<K>>, robust: Option<RobustState<K>>) {
        self.tracker = tracker;
        self.history = history;
        if let Some(r) = robust {
            self.robust = r;
        }
    }
}
