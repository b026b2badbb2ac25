//! The teaching demo's search, in plain Rust: the browser runs it through [`crate::wasm`], and the
//! tests run the very same code natively to check the browser's numbers.
//!
//! A small network (C = 4, 3 cells, 3 nodes) searches on the embedded MNIST digits at 16×16, one bounded
//! piece of work per [`Demo::advance`] call (a search step, or an epoch's end with evaluation and
//! λmax), so the page can show every step and stay responsive.

use burn::tensor::Device;
use rdarts_core::architect::Order;
use rdarts_core::formats::embedded_digits;
use rdarts_core::error::CoreError;
use rdarts_core::genotype::{Genotype, softmax_rows};
use rdarts_core::network::NetConfig;
use rdarts_core::search::{EpochRun, HessianConfig, RobustAction, RobustConfig, RobustMode, RobustReport, Search, SearchConfig, SearchEvent};
use rdarts_core::space::{CellKind, SpaceId};
use serde::{Deserialize, Serialize};

/// What a student can change on the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoSettings {
    /// Search space, `s1` … `s5`.
    pub space: String,
    /// `first` or `second` order.
    pub order: String,
    /// L2 factor: the weight decay on the network's weights (R-DARTS(L2) raises it).
    pub weight_decay: f64,
    /// ScheduledDropPath's final probability (R-DARTS(DP) raises it).
    pub drop_path: f64,
    /// Stop at DARTS-ES's rule and keep the genotype of the stop epoch.
    pub early_stop: bool,
    /// Seed of every random draw.
    pub seed: u64,
    /// Epochs.
    pub epochs: usize,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            space: "s3".into(),
            order: "first".into(),
            weight_decay: 3e-4,
            drop_path: 0.0,
            early_stop: false,
            seed: 2,
            epochs: 12,
        }
    }
}

impl DemoSettings {
    /// The search configuration these settings stand for.
    pub fn config(&self) -> Result<SearchConfig, CoreError> {
        let space: SpaceId = self.space.parse()?;
        let order = match self.order.as_str() {
            "first" => Order::First,
            "second" => Order::Second,
            other => return Err(CoreError::invalid("order", format!("expected first or second, found '{other}'"))),
        };
        let config = SearchConfig {
            net: NetConfig { space, channels: 4, layers: 3, nodes: 3, classes: 10, in_channels: 1, image_size: 16, ..NetConfig::default() },
            epochs: self.epochs,
            batch_size: 16,
            seed: self.seed,
            order,
            arch_lr: 3e-3,
            weight_decay: self.weight_decay,
            drop_path_prob: self.drop_path,
            max_images: 512,
            // The digits at 16×16 (2×2 block means): a quarter of the work of 32×32, still legible.
            downsample: 2,
            eval_images: 128,
            // λmax after every epoch, so the curve has a point per epoch.
            hessian: HessianConfig { every: 1, lanczos_steps: 8, ..HessianConfig::default() },
            // DARTS-ES scaled to a short run: compare λmax averaged over 2 epochs with the
            // average 2 epochs earlier, from epoch 3 on.
            robust: RobustConfig {
                mode: if self.early_stop { RobustMode::Es } else { RobustMode::Off },
                window: 2,
                delta: 2,
                start_epoch: 3,
                ..RobustConfig::default()
            },
            ..SearchConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

/// What one [`Demo::advance`] call did.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Update {
    /// One α step and one weight step.
    Step {
        /// Epoch index.
        epoch: usize,
        /// Step within the epoch.
        step: usize,
        /// Steps per epoch.
        steps: usize,
        /// Training loss of the weight step's batch.
        train_loss: f64,
        /// Validation loss of the α step's batch.
        arch_loss: f64,
        /// Training accuracy so far this epoch.
        train_acc: f64,
    },
    /// The end of an epoch.
    Epoch(EpochPoint),
    /// The search is over (all epochs, or DARTS-ES stopped it).
    Finished {
        /// Why.
        reason: String,
    },
}

/// One epoch's numbers, for the charts.
#[derive(Clone, Debug, Serialize)]
pub struct EpochPoint {
    /// Epoch index.
    pub epoch: usize,
    /// Training accuracy over the epoch.
    pub train_acc: f64,
    /// Validation accuracy at its end.
    pub valid_acc: f64,
    /// Dominant Hessian eigenvalue of the validation loss w.r.t. α.
    pub lambda_max: Option<f64>,
    /// Parameter-free ops (skip, pooling) in the normal cell's genotype.
    pub parameter_free: usize,
    /// Genotype in the DARTS text form.
    pub genotype: String,
}

/// Everything the page draws.
#[derive(Clone, Debug, Serialize)]
pub struct DemoState {
    /// Epoch in progress (or the number of epochs when finished).
    pub epoch: usize,
    /// Steps done in that epoch, and its length.
    pub step: usize,
    /// Steps per epoch.
    pub steps: usize,
    /// Op names of every edge (normal cells), in α column order.
    pub ops_normal: Vec<Vec<String>>,
    /// Op names of every edge (reduction cells).
    pub ops_reduce: Vec<Vec<String>>,
    /// softmax(α) per edge of the normal cell.
    pub weights_normal: Vec<Vec<f32>>,
    /// softmax(α) per edge of the reduction cell.
    pub weights_reduce: Vec<Vec<f32>>,
    /// Intermediate nodes per cell.
    pub nodes: usize,
    /// The genotype the current α derives.
    pub genotype: String,
    /// Its normal cell: (op, input) pairs, two per node.
    pub genotype_normal: Vec<(String, usize)>,
    /// Its reduction cell.
    pub genotype_reduce: Vec<(String, usize)>,
    /// Parameter-free ops in its normal cell.
    pub parameter_free: usize,
    /// Every finished epoch.
    pub epochs: Vec<EpochPoint>,
    /// DARTS-ES: the epoch it stopped at (or would stop at), and the genotype it keeps.
    pub early_stop: Option<(usize, String)>,
    /// Whether the search is over.
    pub finished: bool,
}

/// A search in progress, advanced a piece at a time.
pub struct Demo {
    search: Search,
    run: Option<EpochRun>,
    epochs: Vec<EpochPoint>,
    early_stop: Option<RobustReport>,
    done: Option<String>,
}

impl Demo {
    /// A fresh search with `settings` on `device` (WebGPU or the CPU backend in a browser).
    pub fn new(settings: &DemoSettings, device: &Device) -> Result<Demo, CoreError> {
        let search = Search::new(settings.config()?, embedded_digits(), device)?;
        Ok(Demo { search, run: None, epochs: Vec::new(), early_stop: None, done: None })
    }

    /// The settings parsed from JSON (missing fields take their defaults).
    pub fn settings_from_json(json: &str) -> Result<DemoSettings, CoreError> {
        serde_json::from_str(json).map_err(|e| CoreError::invalid("settings", e.to_string()))
    }

    /// Whether the search is over.
    pub fn finished(&self) -> bool {
        self.done.is_some()
    }

    /// One search step, or the end of an epoch, awaiting every read back from the device.
    pub async fn advance(&mut self) -> Result<Update, CoreError> {
        if let Some(reason) = &self.done {
            return Ok(Update::Finished { reason: reason.clone() });
        }
        let mut run = match self.run.take() {
            Some(run) => run,
            None => self.search.begin_epoch(),
        };
        let mut update = None;
        let mut stop = None;
        let ended = self.search.advance(&mut run, &mut |ev| match ev {
            SearchEvent::Step(s) => {
                update = Some(Update::Step {
                    epoch: s.epoch,
                    step: s.step,
                    steps: s.steps,
                    train_loss: s.train_loss,
                    arch_loss: s.arch_loss.unwrap_or(f64::NAN),
                    train_acc: s.train_acc,
                })
            }
            SearchEvent::Robust(r) => stop = Some(r.clone()),
            _ => {}
        })
        .await?;
        let Some(report) = ended else {
            self.run = Some(run);
            return Ok(update.expect("a step reports itself"));
        };
        if let Some(r) = stop {
            // The first firing is DARTS-ES's answer, also when ES is off ("would stop here").
            self.early_stop.get_or_insert(r);
        }
        let point = EpochPoint {
            epoch: report.epoch,
            train_acc: report.train_acc,
            valid_acc: report.valid_acc,
            lambda_max: report.curvature.as_ref().map(|c| c.lambda_max),
            parameter_free: report.genotype.parameter_free_normal(),
            genotype: report.genotype.to_string(),
        };
        self.epochs.push(point.clone());
        if self.search.finished() {
            self.done = Some(match &self.early_stop {
                Some(r) if r.action == RobustAction::Stop => {
                    format!("DARTS-ES stopped after epoch {} and keeps the genotype of epoch {} (counted from 1)", r.stop.at_epoch + 1, r.stop.stop_epoch + 1)
                }
                _ => format!("all {} epochs done", self.search.config().epochs),
            });
        }
        Ok(Update::Epoch(point))
    }

    /// Everything the page draws, now, awaiting the read of α.
    pub async fn state(&self) -> DemoState {
        let space = &self.search.net().space;
        let k = space.ops_per_edge();
        let (an, ar) = self.search.alpha().read().await;
        let genotype = self.search.settled_genotype().unwrap_or_else(|| Genotype::derive(space, &an, &ar));
        let names = |kind| space.ops(kind).iter().map(|ops| ops.iter().map(|p| p.name().to_string()).collect()).collect();
        let cell = |c: &[(rdarts_core::space::Primitive, usize)]| c.iter().map(|&(p, i)| (p.name().to_string(), i)).collect();
        let (step, steps) = self.run.as_ref().map_or((0, 0), EpochRun::progress);
        DemoState {
            epoch: self.search.epoch(),
            step,
            steps,
            ops_normal: names(CellKind::Normal),
            ops_reduce: names(CellKind::Reduce),
            weights_normal: softmax_rows(&an, k),
            weights_reduce: softmax_rows(&ar, k),
            nodes: self.search.net().config.nodes,
            genotype: genotype.to_string(),
            genotype_normal: cell(&genotype.normal),
            genotype_reduce: cell(&genotype.reduce),
            parameter_free: genotype.parameter_free_normal(),
            epochs: self.epochs.clone(),
            early_stop: self.early_stop.as_ref().map(|r| (r.stop.stop_epoch, r.at.genotype.to_string())),
            finished: self.finished(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdarts_core::block_on;

    fn cpu() -> Device {
        rdarts_core::backend::cpu().device
    }

    #[test]
    fn settings_parse_with_defaults_and_refuse_bad_values() {
        let s = Demo::settings_from_json(r#"{"space": "s2", "early_stop": true}"#).unwrap();
        assert_eq!(s.space, "s2");
        assert!(s.early_stop);
        assert_eq!(s.order, "first");
        let unknown = Demo::settings_from_json(r#"{"spaec": "s2"}"#).unwrap_err().to_string();
        assert!(unknown.contains("spaec"), "{unknown}");
        let bad = DemoSettings { order: "third".into(), ..DemoSettings::default() };
        assert!(bad.config().unwrap_err().to_string().contains("order"));
        let bad = DemoSettings { space: "s9".into(), ..DemoSettings::default() };
        assert!(bad.config().is_err());
    }

    /// A whole epoch, step by step: every step reports, the epoch's end brings λmax and a valid
    /// genotype, the state follows.
    #[test]
    fn an_epoch_advances_step_by_step() {
        let mut demo = Demo::new(&DemoSettings { epochs: 2, ..DemoSettings::default() }, &cpu()).unwrap();
        let before = block_on(demo.state());
        let mut steps = 0;
        let mut times = Vec::new();
        let point = loop {
            let t = std::time::Instant::now();
            let u = block_on(demo.advance()).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1e3);
            match u {
                Update::Step { step, steps: n, train_loss, .. } => {
                    assert_eq!(step, steps);
                    assert_eq!(n, 16, "256 training images in batches of 16");
                    assert!(train_loss.is_finite());
                    steps += 1;
                }
                Update::Epoch(p) => break p,
                Update::Finished { .. } => panic!("finished early"),
            }
        };
        eprintln!("native advance times (ms): {times:.0?}");
        assert_eq!(steps, 16);
        assert!(point.lambda_max.is_some_and(f64::is_finite), "λmax after every epoch");
        let space = rdarts_core::space::SearchSpace::new(SpaceId::S3, 3).unwrap();
        let g: Genotype = point.genotype.parse().unwrap();
        g.validate(Some(&space)).unwrap();
        let after = block_on(demo.state());
        assert_eq!(after.epochs.len(), 1);
        assert_ne!(before.weights_normal, after.weights_normal, "α moved");
        assert!(!demo.finished());
    }
}
