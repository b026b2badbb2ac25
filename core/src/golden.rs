//! Golden traces: tiny fixed-seed searches (every space S1–S5, first and second order, with λmax)
//! whose per-step losses, per-epoch α and λ are recorded in a committed file and replayed on every
//! backend (the CPU, wgpu, the browser) to catch any change of the numbers. The data are the first
//! 48 embedded digits reduced to 8×8 (centre 24×24 crop, 3×3 means), so a whole trace takes a
//! moment; the tolerances ([`Tolerances`]) say how far another backend may drift and why.

use serde::{Deserialize, Serialize};

use crate::architect::Order;
use crate::data::{Augment, Dataset};
use crate::formats::embedded_digits;
use crate::error::CoreError;
use crate::network::NetConfig;
use crate::search::{HessianConfig, Search, SearchConfig, SearchEvent};
use crate::space::SpaceId;

/// Format version of the golden file.
pub const GOLDEN_VERSION: u32 = 1;

/// One recorded search.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Trace {
    /// Search space.
    pub space: SpaceId,
    /// α gradient order.
    pub order: Order,
    /// Training loss of every weight step.
    pub train_loss: Vec<f64>,
    /// Validation loss of every α step.
    pub arch_loss: Vec<f64>,
    /// Raw α (normal then reduce, row-major) at the end of every epoch.
    pub alpha: Vec<Vec<f32>>,
    /// λmax at the end of every epoch.
    pub lambda_max: Vec<f64>,
}

/// The golden file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GoldenFile {
    /// [`GOLDEN_VERSION`].
    pub version: u32,
    /// How the traces were made (backend, rdarts version).
    pub made_with: String,
    /// Every trace.
    pub traces: Vec<Trace>,
}

/// Every (space, order) the golden file covers.
pub fn cases() -> Vec<(SpaceId, Order)> {
    SpaceId::ALL.iter().flat_map(|&s| [(s, Order::First), (s, Order::Second)]).collect()
}

/// The data of the traces: the first 48 embedded digits as 8×8 images.
pub fn golden_data() -> Dataset {
    let d = embedded_digits().truncate(48);
    let (s, out) = (d.size, 8);
    let (crop, f) = ((s - 24) / 2, 3);
    let mut pixels = Vec::with_capacity(d.len() * out * out);
    for i in 0..d.len() {
        let img = &d.pixels[i * s * s..(i + 1) * s * s];
        for r in 0..out {
            for c in 0..out {
                let mut sum = 0u32;
                for dr in 0..f {
                    for dc in 0..f {
                        sum += u32::from(img[(crop + r * f + dr) * s + crop + c * f + dc]);
                    }
                }
                pixels.push((sum / (f * f) as u32) as u8);
            }
        }
    }
    Dataset { name: "embedded digits, 48 at 8×8".into(), pixels, size: out, ..d }
}

/// The search of one trace: C = 4, 3 cells, 2 nodes (S1's op lists are defined for 4), batch 8 (3 steps per epoch), 2 epochs, λmax
/// by 5 Lanczos products after each epoch, no augmentation, α learning rate 1e-3.
pub fn golden_config(space: SpaceId, order: Order) -> SearchConfig {
    SearchConfig {
        net: NetConfig { space, channels: 4, layers: 3, nodes: if space == SpaceId::S1 { 4 } else { 2 }, ..NetConfig::default() },
        epochs: 2,
        batch_size: 8,
        seed: 5,
        order,
        arch_lr: 1e-3,
        eval_images: 8,
        augment: Augment { crop_padding: 0, flip: false, cutout: 0, cutout_prob: 0.0 },
        // Every product taken, so that the trace pins all five.
        hessian: HessianConfig { every: 1, lanczos_steps: 5, lanczos_tol: 0.0, batches: 1 },
        ..SearchConfig::default()
    }
}

/// Runs the trace of (`space`, `order`) on `device`.
pub async fn run_trace(space: SpaceId, order: Order, device: &burn::tensor::Device) -> Result<Trace, CoreError> {
    let mut search = Search::new(golden_config(space, order), golden_data(), device)?;
    let mut t = Trace { space, order, train_loss: Vec::new(), arch_loss: Vec::new(), alpha: Vec::new(), lambda_max: Vec::new() };
    while !search.finished() {
        let report = search
            .run_epoch(&mut |e| {
                if let SearchEvent::Step(s) = e {
                    t.train_loss.push(s.train_loss);
                    t.arch_loss.push(s.arch_loss.unwrap_or(f64::NAN));
                }
            })
            .await?;
        let (n, r) = search.alpha().read().await;
        t.alpha.push(n.into_iter().chain(r).collect());
        t.lambda_max.push(report.curvature.map_or(f64::NAN, |c| c.lambda_max));
    }
    Ok(t)
}

/// How far a replay may drift from the recorded trace, per α-gradient order.
///
/// First order (measured CPU vs lavapipe: losses 3e-7 relative, α 1e-8 absolute, λmax 4e-5):
/// - losses 1e-5 relative: backends differ in summation order (float32 rounding ≈ 1e-7 relative
///   per reduction), and six small steps do not amplify that much;
/// - α 1e-5 absolute: Adam moves an entry by at most its learning rate (1e-3) per step; a gradient
///   that differs in the 5th digit moves α by ≈ 1e-8, while a wrong gradient moves it by ≥ 1e-4;
/// - λmax 1e-3 relative: the central difference carries ≈ 2e-4 relative float32 noise per product
///   (see `hessian`), which 5 Lanczos products do not grow past that.
///
/// Second order (measured: losses 2e-5, α 3e-4, λmax 1.2e-2 on S2): DARTS' unrolled gradient is a
/// finite difference in weight space with step 0.01/‖v‖ across ReLU and max-pool kinks; a unit
/// that crosses its kink between w⁺ and w⁻ on one backend and not on the other changes that term
/// by jump/ε, so tiny differences can flip an Adam step: losses 1e-3, α 1e-3 (a sixth of the most
/// α can move in 6 steps), λmax 5e-2.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerances {
    /// Relative tolerance of losses.
    pub loss_rel: f64,
    /// Absolute tolerance of α entries.
    pub alpha_abs: f64,
    /// Relative tolerance of λmax.
    pub lambda_rel: f64,
}

impl Tolerances {
    /// The tolerances of traces of `order`.
    pub fn for_order(order: Order) -> Self {
        match order {
            Order::First => Tolerances { loss_rel: 1e-5, alpha_abs: 1e-5, lambda_rel: 1e-3 },
            Order::Second => Tolerances { loss_rel: 1e-3, alpha_abs: 1e-3, lambda_rel: 5e-2 },
        }
    }
}

/// The largest deviation of each quantity between a recorded and a replayed trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Deviation {
    /// Largest relative difference of a loss.
    pub loss_rel: f64,
    /// Largest absolute difference of an α entry.
    pub alpha_abs: f64,
    /// Largest relative difference of λmax (beyond 1e-7 absolute).
    pub lambda_rel: f64,
    /// Shapes differ (step or epoch counts, α sizes).
    pub shape_mismatch: bool,
}

impl Deviation {
    /// Whether every deviation is within `tol`.
    pub fn within(&self, tol: &Tolerances) -> bool {
        !self.shape_mismatch && self.loss_rel <= tol.loss_rel && self.alpha_abs <= tol.alpha_abs && self.lambda_rel <= tol.lambda_rel
    }
}

fn rel(a: f64, b: f64, floor: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        // Both NaN: a quantity not computed in either; one NaN: a real difference.
        return if a.is_nan() && b.is_nan() { 0.0 } else { f64::INFINITY };
    }
    ((a - b).abs() - floor).max(0.0) / b.abs().max(1e-12)
}

/// Compares a replay with the recorded trace.
pub fn deviation(recorded: &Trace, replay: &Trace) -> Deviation {
    let mut d = Deviation {
        shape_mismatch: recorded.train_loss.len() != replay.train_loss.len()
            || recorded.arch_loss.len() != replay.arch_loss.len()
            || recorded.alpha.len() != replay.alpha.len()
            || recorded.lambda_max.len() != replay.lambda_max.len()
            || recorded.alpha.iter().zip(&replay.alpha).any(|(a, b)| a.len() != b.len()),
        ..Deviation::default()
    };
    for (a, b) in recorded.train_loss.iter().chain(&recorded.arch_loss).zip(replay.train_loss.iter().chain(&replay.arch_loss)) {
        d.loss_rel = d.loss_rel.max(rel(*b, *a, 0.0));
    }
    for (a, b) in recorded.alpha.iter().flatten().zip(replay.alpha.iter().flatten()) {
        let diff = f64::from((a - b).abs());
        d.alpha_abs = if diff.is_nan() { f64::INFINITY } else { d.alpha_abs.max(diff) };
    }
    for (a, b) in recorded.lambda_max.iter().zip(&replay.lambda_max) {
        d.lambda_rel = d.lambda_rel.max(rel(*b, *a, 1e-7));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace() -> Trace {
        Trace {
            space: SpaceId::S2,
            order: Order::First,
            train_loss: vec![2.0, 1.5],
            arch_loss: vec![2.1, 1.6],
            alpha: vec![vec![0.1, -0.2]],
            lambda_max: vec![0.05],
        }
    }

    #[test]
    fn deviations_catch_changes_and_nans() {
        let t = trace();
        let tol = Tolerances::for_order(Order::Second);
        assert!(deviation(&t, &t).within(&tol));
        let mut u = t.clone();
        u.train_loss[1] = 1.5 * (1.0 + 2e-3);
        assert!(!deviation(&t, &u).within(&tol), "a loss 2e-3 off");
        let mut u = t.clone();
        u.alpha[0][1] = f32::NAN;
        assert_eq!(deviation(&t, &u).alpha_abs, f64::INFINITY);
        let mut u = t.clone();
        u.lambda_max[0] = f64::NAN;
        assert!(!deviation(&t, &u).within(&tol));
        let mut u = t.clone();
        u.arch_loss.pop();
        assert!(deviation(&t, &u).shape_mismatch);
    }

    #[test]
    fn golden_data_are_eight_by_eight_digits() {
        let d = golden_data();
        assert_eq!((d.len(), d.size, d.channels), (48, 8, 1));
        assert!(d.pixels.iter().any(|&p| p > 100), "the digits' strokes survive the reduction");
    }
}
