//! Finding data sets on disk, laid out the way users have them (torchvision's downloads and the
//! authors' archives), and handing their bytes to the core decoders.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rdarts_core::data::{DataKind, Dataset};
use rdarts_core::formats::embedded_digits;
use rdarts_core::formats;

/// The data sets the CLI knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DatasetName {
    /// 10 000 real MNIST digits embedded in the binary (no files needed).
    Digits,
    /// MNIST IDX files (`train-images-idx3-ubyte[.gz]`, …), in DIR or DIR/MNIST/raw.
    Mnist,
    /// Fashion-MNIST IDX files, in DIR or DIR/FashionMNIST/raw.
    FashionMnist,
    /// CIFAR-10, binary (`cifar-10-batches-bin/`) or python (`cifar-10-batches-py/`) version.
    Cifar10,
    /// CIFAR-100, binary (`cifar-100-binary/`) or python (`cifar-100-python/`) version.
    Cifar100,
    /// SVHN cropped digits, `train_32x32.mat`.
    Svhn,
}

impl DatasetName {
    /// The kind of data (classes, normalisation, augmentation) the set holds.
    pub fn kind(self) -> DataKind {
        match self {
            DatasetName::Digits | DatasetName::Mnist => DataKind::Mnist,
            DatasetName::FashionMnist => DataKind::FashionMnist,
            DatasetName::Cifar10 => DataKind::Cifar10,
            DatasetName::Cifar100 => DataKind::Cifar100,
            DatasetName::Svhn => DataKind::Svhn,
        }
    }
}

/// Loads the training data of `name`, reading files under `dir` where the set needs them.
pub fn load(name: DatasetName, dir: Option<&Path>) -> Result<Dataset> {
    load_part(name, dir, false)
}

/// Images of the embedded digits held out as their test set (the last 2 000 of 10 000).
pub const DIGITS_TEST: usize = 2000;

/// Training and test data of `name` for training a genotype from scratch: the data sets' own test
/// files (CIFAR `test_batch`/`test`, MNIST `t10k-*`, SVHN `test_32x32.mat`); the embedded digits
/// are split 8 000 / 2 000.
pub fn load_train_test(name: DatasetName, dir: Option<&Path>) -> Result<(Dataset, Dataset)> {
    if name == DatasetName::Digits {
        let all = load_part(name, dir, false)?;
        let n = all.len();
        let (train, mut test) = (all.clone().truncate(n - DIGITS_TEST), all.skip(n - DIGITS_TEST));
        test.name = format!("{} (held-out last {DIGITS_TEST})", test.name);
        return Ok((train, test));
    }
    Ok((load_part(name, dir, false)?, load_part(name, dir, true)?))
}

fn load_part(name: DatasetName, dir: Option<&Path>, test: bool) -> Result<Dataset> {
    if name == DatasetName::Digits {
        if dir.is_some() {
            bail!("--data is not used with --dataset digits (the digits are embedded)");
        }
        return Ok(embedded_digits());
    }
    let dir = dir.with_context(|| format!("--dataset {name:?} needs --data DIR (the folder holding its files)"))?;
    if !dir.is_dir() {
        bail!("{}: data directory does not exist", dir.display());
    }
    match name {
        DatasetName::Digits => unreachable!(),
        DatasetName::Mnist => load_idx(DataKind::Mnist, dir, "MNIST", test),
        DatasetName::FashionMnist => load_idx(DataKind::FashionMnist, dir, "FashionMNIST", test),
        DatasetName::Cifar10 => {
            let (bin, py): (Vec<String>, Vec<String>) = if test {
                (vec!["test_batch.bin".into()], vec!["test_batch".into()])
            } else {
                ((1..=5).map(|i| format!("data_batch_{i}.bin")).collect(), (1..=5).map(|i| format!("data_batch_{i}")).collect())
            };
            load_cifar(DataKind::Cifar10, dir, ("cifar-10-batches-bin", &bin), ("cifar-10-batches-py", &py))
        }
        DatasetName::Cifar100 => {
            let (bin, py) = if test { ("test.bin", "test") } else { ("train.bin", "train") };
            load_cifar(DataKind::Cifar100, dir, ("cifar-100-binary", &[bin.to_string()]), ("cifar-100-python", &[py.to_string()]))
        }
        DatasetName::Svhn => {
            let file = if test { "test_32x32.mat" } else { "train_32x32.mat" };
            let path = [dir.join(file), dir.join("svhn").join(file)]
                .into_iter()
                .find(|p| p.is_file())
                .with_context(|| format!("{}: no {file} here or in svhn/", dir.display()))?;
            let bytes = read(&path)?;
            Ok(formats::svhn_dataset(&path.display().to_string(), &bytes)?)
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("{}: cannot read", path.display()))
}

/// Finds the folder among `candidates` that holds `first`.
fn find(candidates: &[PathBuf], first: &str) -> Option<PathBuf> {
    candidates.iter().find(|d| d.join(first).is_file()).cloned()
}

fn load_cifar(kind: DataKind, dir: &Path, bin: (&str, &[String]), py: (&str, &[String])) -> Result<Dataset> {
    let (bin_dir, bin_files) = bin;
    let (py_dir, py_files) = py;
    let (root, files, python) = if let Some(r) = find(&[dir.join(bin_dir), dir.to_path_buf()], &bin_files[0]) {
        (r, bin_files, false)
    } else if let Some(r) = find(&[dir.join(py_dir), dir.to_path_buf()], &py_files[0]) {
        (r, py_files, true)
    } else {
        bail!(
            "{}: no {kind:?} files found (expected {bin_dir}/{} or {py_dir}/{}, or those files directly in the folder)",
            dir.display(),
            bin_files[0],
            py_files[0]
        );
    };
    let mut parts = Vec::new();
    for f in files {
        let path = root.join(f);
        let bytes = fs::read(&path).with_context(|| {
            format!("{}: cannot read ({kind:?} needs all of {})", path.display(), files.join(", "))
        })?;
        let name = path.display().to_string();
        parts.push(if python {
            formats::decode_cifar_py(kind, &name, &bytes)?
        } else {
            formats::decode_cifar_bin(kind, &name, &bytes)?
        });
    }
    Ok(formats::cifar_dataset(kind, &format!("{kind:?} ({})", root.display()), parts)?)
}

fn load_idx(kind: DataKind, dir: &Path, torchvision: &str, test: bool) -> Result<Dataset> {
    let prefix = if test { "t10k" } else { "train" };
    let roots = [dir.to_path_buf(), dir.join(torchvision).join("raw"), dir.join(torchvision)];
    let pick = |stem: &str| -> Option<PathBuf> {
        roots.iter().flat_map(|r| [r.join(stem), r.join(format!("{stem}.gz"))]).find(|p| p.is_file())
    };
    let images = pick(&format!("{prefix}-images-idx3-ubyte"))
        .with_context(|| format!("{}: no {prefix}-images-idx3-ubyte[.gz] here or in {torchvision}/raw", dir.display()))?;
    let labels = pick(&format!("{prefix}-labels-idx1-ubyte"))
        .with_context(|| format!("{}: no {prefix}-labels-idx1-ubyte[.gz] beside {}", dir.display(), images.display()))?;
    let name = format!("{kind:?} ({})", images.parent().unwrap_or(dir).display());
    Ok(formats::idx_dataset(kind, &name, &read(&images)?, &read(&labels)?)?)
}
