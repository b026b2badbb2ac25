//! Finding data sets on disk and handing their bytes to the core decoders.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rdarts_core::data::{Dataset, cifar10_from_batches, decode_cifar10_bin, embedded_digits};

/// The data sets the CLI knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetName {
    /// 10 000 real MNIST digits embedded in the binary (no files needed).
    Digits,
    /// CIFAR-10, binary version (`cifar-10-batches-bin/data_batch_{1..5}.bin`).
    Cifar10,
}

/// Loads the training data of `name`, reading files under `dir` where the set needs them.
pub fn load(name: DatasetName, dir: Option<&Path>) -> Result<Dataset> {
    match name {
        DatasetName::Digits => {
            if dir.is_some() {
                bail!("--data is not used with --dataset digits (the digits are embedded)");
            }
            Ok(embedded_digits())
        }
        DatasetName::Cifar10 => {
            let dir = dir.context("--dataset cifar10 needs --data DIR (the folder holding cifar-10-batches-bin)")?;
            load_cifar10_bin(dir)
        }
    }
}

/// Finds the CIFAR-10 binary batches in `dir` or `dir/cifar-10-batches-bin` and decodes the five
/// training batches.
pub fn load_cifar10_bin(dir: &Path) -> Result<Dataset> {
    if !dir.is_dir() {
        bail!("{}: data directory does not exist", dir.display());
    }
    let candidates = [dir.join("cifar-10-batches-bin"), dir.to_path_buf()];
    let root: PathBuf = candidates
        .iter()
        .find(|d| d.join("data_batch_1.bin").is_file())
        .cloned()
        .with_context(|| {
            format!(
                "{}: no CIFAR-10 binary batches found (expected data_batch_1.bin … data_batch_5.bin here or in cifar-10-batches-bin/)",
                dir.display()
            )
        })?;
    let mut batches = Vec::new();
    for i in 1..=5 {
        let path = root.join(format!("data_batch_{i}.bin"));
        let bytes = fs::read(&path).with_context(|| {
            format!("{}: cannot read (CIFAR-10 needs all five training batches)", path.display())
        })?;
        batches.push(decode_cifar10_bin(&path.display().to_string(), &bytes)?);
    }
    Ok(cifar10_from_batches(&format!("CIFAR-10 ({})", root.display()), batches)?)
}
