//! The DARTS-ES early-stopping rule of RobustDARTS (docs/ALGORITHM.md §7), exactly as the reference code
//! applies it to the history of dominant eigenvalues.

use serde::{Deserialize, Serialize};

/// Parameters of the rule (docs/ALGORITHM.md §7 defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EsRule {
    /// Local-average window, in eigenvalue samples.
    pub window: usize,
    /// How many local averages back the comparison looks.
    pub delta: usize,
    /// Stop when current / previous local average exceeds this.
    pub factor: f64,
    /// No stop is taken at a rolled-back epoch before this one.
    pub start_epoch: usize,
    /// Epochs between eigenvalue computations.
    pub every: usize,
}

impl Default for EsRule {
    fn default() -> Self {
        EsRule { window: 5, delta: 4, factor: 1.3, start_epoch: 10, every: 2 }
    }
}

/// The decision of the rule after one eigenvalue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EsStop {
    /// The epoch whose λmax sample triggered the stop.
    pub at_epoch: usize,
    /// The epoch the result rolls back to: la_epoch − every · delta.
    pub stop_epoch: usize,
    /// Current local average.
    pub current: f64,
    /// The local average `delta` averages earlier.
    pub previous: f64,
}

/// The eigenvalue history and its local averages (the reference's `EVLocalAvg`). The rule is
/// not stored here: it is the configuration's, passed to each call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EsTracker {
    /// (epoch, λmax) samples in order.
    pub ev: Vec<(usize, f64)>,
    /// Local averages, each with the epoch it belongs to.
    pub local_avg: Vec<(usize, f64)>,
}

impl EsTracker {
    /// Records λmax computed at `epoch`; returns the local average it produced, if any (none
    /// until ceil(window/2) samples exist).
    pub fn push(&mut self, rule: &EsRule, epoch: usize, lambda_max: f64) -> Option<(usize, f64)> {
        self.ev.push((epoch, lambda_max));
        let w = rule.window;
        let n = self.ev.len();
        if n < w.div_ceil(2) {
            return None;
        }
        let tail = &self.ev[n.saturating_sub(w)..];
        let avg = tail.iter().map(|(_, v)| v).sum::<f64>() / tail.len() as f64;
        let la_epoch = epoch.checked_sub(rule.every * (w / 2))?;
        self.local_avg.push((la_epoch, avg));
        Some((la_epoch, avg))
    }

    /// Applies the stopping rule after the latest [`EsTracker::push`] at `epoch` of a search whose
    /// last epoch is `final_epoch`: compare the current local average with the one `delta`
    /// averages earlier once la_epoch − every·delta ≥ start_epoch, and stop when
    /// current / previous > factor.
    ///
    /// As in the authors' code, the rule is never applied at the last epoch
    /// (automl/RobustDARTS `src/search/train_search.py`, `train`:
    /// `if args.early_stop and epoch != (args.epochs - 1): local_avg_tracker.early_stop(...)`), so
    /// DARTS-ES returns the final genotype rather than an earlier one found only then, and
    /// DARTS-ADA never rolls back after the last epoch. The comparison is the ratio, as there
    /// (`src/utils.py`, `EVLocalAvg.early_stop`: `current_la / previous_la > factor`), which
    /// differs from `previous · factor < current` when the previous average is not positive.
    pub fn check(&self, rule: &EsRule, epoch: usize, final_epoch: usize) -> Option<EsStop> {
        let &(la_epoch, current) = self.local_avg.last()?;
        if self.ev.last().map(|e| e.0) != Some(epoch) || epoch >= final_epoch {
            return None;
        }
        let stop_epoch = la_epoch.checked_sub(rule.every * rule.delta)?;
        if stop_epoch < rule.start_epoch || self.local_avg.len() <= rule.delta {
            return None;
        }
        let previous = self.local_avg[self.local_avg.len() - 1 - rule.delta].1;
        (current / previous > rule.factor).then_some(EsStop { at_epoch: epoch, stop_epoch, current, previous })
    }
}

/// One λmax sample of a [`replay`], with the local average it produced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayRow {
    /// The epoch the sample was taken at.
    pub epoch: usize,
    /// λmax.
    pub lambda_max: f64,
    /// The local average this sample produced and the epoch it belongs to, if any.
    pub local_avg: Option<(usize, f64)>,
}

/// Replays the rule over a λmax history of (epoch, λmax) samples (what `rdarts early-stop`
/// prints) of a search whose last epoch is `final_epoch` (`None`: unknown, every sample is
/// checked): the samples up to and including the first stop, and that stop.
pub fn replay(rule: &EsRule, history: &[(usize, f64)], final_epoch: Option<usize>) -> (Vec<ReplayRow>, Option<EsStop>) {
    let mut t = EsTracker::default();
    let mut rows = Vec::new();
    for &(epoch, lambda_max) in history {
        let local_avg = t.push(rule, epoch, lambda_max);
        rows.push(ReplayRow { epoch, lambda_max, local_avg });
        if let Some(stop) = t.check(rule, epoch, final_epoch.unwrap_or(usize::MAX)) {
            return (rows, Some(stop));
        }
    }
    (rows, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(values: &[f64]) -> Vec<(usize, f64)> {
        values.iter().enumerate().map(|(i, &v)| (2 * i, v)).collect()
    }

    #[test]
    fn local_averages_start_at_half_the_window_and_then_slide() {
        let (mut t, r) = (EsTracker::default(), EsRule::default());
        assert_eq!(t.push(&r, 0, 1.0), None);
        assert_eq!(t.push(&r, 2, 2.0), None);
        // ceil(5/2) = 3 samples: the mean of all, belonging to epoch 4 − 2·2 = 0.
        assert_eq!(t.push(&r, 4, 3.0), Some((0, 2.0)));
        assert_eq!(t.push(&r, 6, 4.0), Some((2, 2.5)));
        assert_eq!(t.push(&r, 8, 5.0), Some((4, 3.0)));
        // From 5 samples on, the mean of the last 5.
        assert_eq!(t.push(&r, 10, 11.0), Some((6, 5.0)));
    }

    #[test]
    fn no_stop_before_the_start_epoch_even_when_the_ratio_is_huge() {
        // λ explodes early: the averages at la_epoch − 8 < 10 may not stop.
        let h = history(&[1.0, 1.0, 1.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0]);
        // Samples at epochs 0..16; la_epoch = epoch − 4; stop_epoch = la_epoch − 8 = epoch − 12 ≥ 10 needs epoch ≥ 22.
        assert_eq!(replay(&EsRule::default(), &h, None).1, None);
    }

    #[test]
    fn stops_exactly_when_the_ratio_crosses_the_factor_and_rolls_back() {
        // Flat at 1.0 up to epoch 22, then a jump. Local averages of the last 5:
        let mut v = vec![1.0; 12]; // epochs 0..22
        v.push(1.2); // epoch 24: avg of [1,1,1,1,1.2] = 1.04; previous (4 back) = 1.0 → 1.04 < 1.3
        v.push(2.5); // epoch 26: avg [1,1,1,1.2,2.5] = 1.34 → 1.34 > 1.3 · 1.0: stop
        let h = history(&v);
        let stop = replay(&EsRule::default(), &h, None).1.expect("stops");
        assert_eq!(stop.at_epoch, 26);
        // la_epoch = 26 − 2·2 = 22; stop_epoch = 22 − 2·4 = 14.
        assert_eq!(stop.stop_epoch, 14);
        assert!((stop.current - 1.34).abs() < 1e-12 && stop.previous == 1.0);
        // One sample earlier it does not stop.
        assert_eq!(replay(&EsRule::default(), &h[..h.len() - 1], None).1, None);
        // Just below the factor: no stop.
        let mut w = v.clone();
        *w.last_mut().unwrap() = 2.29; // avg 1.298 < 1.3
        assert_eq!(replay(&EsRule::default(), &history(&w), None).1, None);
    }

    #[test]
    fn the_last_epoch_is_never_checked() {
        // The stopping history above: the jump comes with the sample at epoch 26.
        let mut v = vec![1.0; 12];
        v.extend([1.2, 2.5]);
        let h = history(&v);
        // A search of 27 epochs (last epoch 26) does not stop there; one of 28 does.
        assert_eq!(replay(&EsRule::default(), &h, Some(26)).1, None);
        assert_eq!(replay(&EsRule::default(), &h, Some(27)).1.map(|s| s.at_epoch), Some(26));
    }

    #[test]
    fn the_ratio_decides_as_in_the_reference_when_averages_are_negative() {
        // Local averages −1.0 (previous) and −2.0 (current): −2 / −1 = 2 > 1.3 stops, where
        // `previous · factor < current` (−1.3 < −2.0) would not.
        let mut v = vec![-1.0; 12];
        v.extend([-2.0; 5]);
        let stop = replay(&EsRule::default(), &history(&v), None).1.expect("the ratio exceeds the factor");
        assert!(stop.current / stop.previous > 1.3 && stop.previous * 1.3 >= stop.current);
    }
}
