//! Kernel launches (GPU dispatches) counted as CubeCL issues them, through its launch observer:
//! what a search step costs a GPU in dispatches, measured on any wgpu adapter, software ones
//! included. The CPU backend launches none.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use burn::cubecl::config::{TypeNameFormatLevel, type_name_format};
use burn::cubecl::logging::{LaunchObservation, LaunchObserver};

/// Launches by kernel name since the last [`Launches::take`].
#[derive(Default)]
struct Tally(Mutex<BTreeMap<&'static str, u64>>);

impl LaunchObserver for Tally {
    fn launched(&self, kernel: &'static str) {
        *self.0.lock().expect("launch tally lock").entry(kernel).or_default() += 1;
    }
}

/// Counts every kernel launch of the process while it lives.
pub struct Launches {
    tally: Arc<Tally>,
    _watching: LaunchObservation,
}

impl Launches {
    /// Starts counting.
    pub fn watch() -> Self {
        let tally = Arc::new(Tally::default());
        Self { _watching: LaunchObservation::new(tally.clone()), tally }
    }

    /// The launches since the start or the last call, by kernel name shortened to its type
    /// (generics dropped, so one kernel's variants count together), most launched first; counting
    /// starts again from zero.
    pub fn take(&self) -> Vec<(String, u64)> {
        let taken = std::mem::take(&mut *self.tally.0.lock().expect("launch tally lock"));
        let mut by_name = BTreeMap::<String, u64>::new();
        for (kernel, n) in taken {
            *by_name.entry(type_name_format(kernel, TypeNameFormatLevel::Short)).or_default() += n;
        }
        let mut sorted: Vec<_> = by_name.into_iter().collect();
        sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        sorted
    }
}

/// Launches per repetition: each kernel's count divided by `reps` (rounded), most launched first,
/// and their total.
pub fn per_rep(launches: &[(String, u64)], reps: usize) -> (u64, Vec<(String, u64)>) {
    let reps = reps.max(1) as u64;
    let total: u64 = launches.iter().map(|(_, n)| n).sum();
    let per: Vec<_> = launches.iter().map(|(k, n)| (k.clone(), (n + reps / 2) / reps)).collect();
    ((total + reps / 2) / reps, per)
}
