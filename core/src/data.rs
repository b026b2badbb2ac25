//! Image data sets: decoders from bytes, the embedded digits, the train/validation split, batching
//! and augmentation (docs/ALGORITHM.md §5). No I/O: front ends read files and pass bytes.

use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::rng::Rng;

/// An image classification set held as bytes, `[N, C, S, S]` row-major, with its normalisation.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Name for messages and metrics.
    pub name: String,
    /// Pixel bytes, `N · C · S · S`.
    pub pixels: Vec<u8>,
    /// One label per image.
    pub labels: Vec<u8>,
    /// Channels per image.
    pub channels: usize,
    /// Side length.
    pub size: usize,
    /// Number of classes.
    pub classes: usize,
    /// Per-channel mean of the [0, 1] pixels (for normalisation).
    pub mean: Vec<f32>,
    /// Per-channel standard deviation.
    pub std: Vec<f32>,
    /// Whether horizontal flips are a valid augmentation (not for digits).
    pub flip: bool,
}

/// The data sets rdarts reads, with their standard statistics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataKind {
    /// MNIST digits (IDX files, or the embedded 10 000).
    Mnist,
    /// Fashion-MNIST (IDX files).
    FashionMnist,
    /// CIFAR-10 (binary or python format).
    Cifar10,
    /// CIFAR-100, fine labels (binary or python format).
    Cifar100,
    /// SVHN cropped digits (MATLAB files).
    Svhn,
}

impl DataKind {
    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            DataKind::Cifar100 => 100,
            _ => 10,
        }
    }

    /// Per-channel mean and standard deviation of [0, 1] pixels: the values of the DARTS and
    /// RobustDARTS code for CIFAR-10/100 and SVHN, and the usual ones for MNIST and Fashion-MNIST.
    pub fn stats(self) -> (Vec<f32>, Vec<f32>) {
        match self {
            DataKind::Mnist => (vec![0.1307], vec![0.3081]),
            DataKind::FashionMnist => (vec![0.2860], vec![0.3530]),
            DataKind::Cifar10 => (vec![0.491_399_68, 0.482_158_27, 0.446_531_24], vec![0.247_032_33, 0.243_485_05, 0.261_587_68]),
            DataKind::Cifar100 => (vec![0.5071, 0.4865, 0.4409], vec![0.2673, 0.2564, 0.2762]),
            DataKind::Svhn => (vec![0.4377, 0.4438, 0.4728], vec![0.1980, 0.2010, 0.1970]),
        }
    }

    /// Whether random horizontal flips are applied (with [`Augment::flip`]): CIFAR and
    /// Fashion-MNIST, and SVHN as the authors' code flips it in search and evaluation
    /// (automl/RobustDARTS `src/utils.py:269`, `_data_transforms_svhn`: `RandomHorizontalFlip()`)
    /// although a mirrored digit is not always the same digit (`augment.flip = false` in a
    /// configuration file turns flips off). MNIST digits are never flipped.
    pub fn flips(self) -> bool {
        matches!(self, DataKind::Cifar10 | DataKind::Cifar100 | DataKind::FashionMnist | DataKind::Svhn)
    }

    /// Builds a data set of this kind from decoded pixels and labels.
    pub fn dataset(self, name: &str, pixels: Vec<u8>, labels: Vec<u8>, channels: usize, size: usize) -> Result<Dataset, CoreError> {
        let (mean, std) = self.stats();
        let ds = Dataset { name: name.to_string(), pixels, labels, channels, size, classes: self.classes(), mean, std, flip: self.flips() };
        ds.validate()?;
        Ok(ds)
    }
}

impl Dataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn image_len(&self) -> usize {
        self.channels * self.size * self.size
    }

    /// The first `n` images (all if `n` is larger).
    pub fn truncate(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.pixels.truncate(n * self.image_len());
        self.labels.truncate(n);
        self
    }

    /// Every image shrunk by `factor` along both sides, each output pixel the rounded mean of a
    /// `factor × factor` block (the side must be divisible by `factor`). The normalisation
    /// statistics are kept: block means preserve the mean and barely change the spread.
    pub fn downsample(mut self, factor: usize) -> Result<Self, CoreError> {
        if factor == 0 || !self.size.is_multiple_of(factor) {
            return Err(CoreError::data(&self.name, format!("cannot shrink {0}×{0} images by {factor}", self.size)));
        }
        let (s, t) = (self.size, self.size / factor);
        let area = (factor * factor) as u32;
        let mut out = Vec::with_capacity(self.len() * self.channels * t * t);
        for plane in self.pixels.chunks_exact(s * s) {
            for y in 0..t {
                for x in 0..t {
                    let mut sum = 0u32;
                    for dy in 0..factor {
                        let row = &plane[(y * factor + dy) * s + x * factor..][..factor];
                        sum += row.iter().map(|&p| u32::from(p)).sum::<u32>();
                    }
                    out.push(((sum + area / 2) / area) as u8);
                }
            }
        }
        self.pixels = out;
        self.size = t;
        self.name = format!("{} at {t}×{t}", self.name);
        Ok(self)
    }

    /// Drops the first `n` images (keeps the rest).
    pub fn skip(mut self, n: usize) -> Self {
        let n = n.min(self.len());
        self.pixels.drain(..n * self.image_len());
        self.labels.drain(..n);
        self
    }

    /// Checks internal consistency (sizes, labels in range).
    pub fn validate(&self) -> Result<(), CoreError> {
        if self.is_empty() {
            return Err(CoreError::data(&self.name, "holds no image"));
        }
        if self.pixels.len() != self.len() * self.image_len() {
            return Err(CoreError::data(
                &self.name,
                format!("{} pixel bytes for {} images of {} bytes", self.pixels.len(), self.len(), self.image_len()),
            ));
        }
        if let Some((i, &l)) = self.labels.iter().enumerate().find(|(_, l)| **l as usize >= self.classes) {
            return Err(CoreError::data(
                &self.name,
                format!("label {l} of image {i} is out of range (expected 0..{})", self.classes - 1),
            ));
        }
        Ok(())
    }
}

/// Augmentation settings (docs/ALGORITHM.md §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Augment {
    /// Random crop padding (0 = no crop).
    pub crop_padding: usize,
    /// Random horizontal flips (only where the data set allows them).
    pub flip: bool,
    /// Cutout side length (0 = off).
    pub cutout: usize,
    /// Probability of applying Cutout to an image.
    pub cutout_prob: f64,
}

impl Augment {
    /// Checks the settings: probabilities in [0, 1], crop padding and Cutout side at most
    /// [`crate::limits::MAX_AUGMENT_PIXELS`].
    pub fn validate(&self) -> Result<(), CoreError> {
        use crate::limits::{MAX_AUGMENT_PIXELS, at_most};
        if !(0.0..=1.0).contains(&self.cutout_prob) {
            return Err(CoreError::invalid("augment.cutout_prob", format!("must be in [0, 1], found {}", self.cutout_prob)));
        }
        at_most("augment.crop_padding", self.crop_padding, MAX_AUGMENT_PIXELS)?;
        at_most("augment.cutout", self.cutout, MAX_AUGMENT_PIXELS)
    }
}

impl Default for Augment {
    fn default() -> Self {
        Augment { crop_padding: 4, flip: true, cutout: 0, cutout_prob: 1.0 }
    }
}

/// A batch ready for upload: normalised pixels `[B, C, S, S]` and labels.
#[derive(Clone, Debug)]
pub struct Batch {
    /// Normalised pixels.
    pub x: Vec<f32>,
    /// Shape `[B, C, S, S]`.
    pub shape: [usize; 4],
    /// Labels.
    pub y: Vec<usize>,
}

impl Batch {
    /// Uploads the pixels.
    pub fn tensor(&self, device: &burn::tensor::Device) -> burn::tensor::Tensor<4> {
        burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(self.x.clone(), self.shape), device)
    }
}

/// Assembles images `idx` into a batch, with augmentation when `aug` is given.
pub fn make_batch(ds: &Dataset, idx: &[usize], aug: Option<&Augment>, rng: &mut Rng) -> Batch {
    let (c, s) = (ds.channels, ds.size);
    let plane = s * s;
    let mut x = vec![0f32; idx.len() * c * plane];
    let mut y = Vec::with_capacity(idx.len());
    for (b, &i) in idx.iter().enumerate() {
        y.push(ds.labels[i] as usize);
        let src = &ds.pixels[i * c * plane..(i + 1) * c * plane];
        let (dy, dx, flip) = match aug {
            Some(a) => {
                let p = a.crop_padding as isize;
                let dy = if p > 0 { rng.below(2 * p as usize + 1) as isize - p } else { 0 };
                let dx = if p > 0 { rng.below(2 * p as usize + 1) as isize - p } else { 0 };
                let flip = a.flip && ds.flip && rng.uniform() < 0.5;
                (dy, dx, flip)
            }
            None => (0, 0, false),
        };
        for ch in 0..c {
            let (m, sd) = (ds.mean[ch], ds.std[ch]);
            let pad_value = -m / sd; // a zero pixel after normalisation (crop pads with black)
            let out = &mut x[(b * c + ch) * plane..(b * c + ch + 1) * plane];
            for r in 0..s {
                let sr = r as isize + dy;
                for col in 0..s {
                    let cc = if flip { s - 1 - col } else { col } as isize + dx;
                    out[r * s + col] = if sr >= 0 && sr < s as isize && cc >= 0 && cc < s as isize {
                        (src[ch * plane + sr as usize * s + cc as usize] as f32 / 255.0 - m) / sd
                    } else {
                        pad_value
                    };
                }
            }
        }
        if let Some(a) = aug
            && a.cutout > 0
            && rng.uniform() < a.cutout_prob
        {
            cutout(&mut x[b * c * plane..(b + 1) * c * plane], c, s, a.cutout, rng);
        }
    }
    Batch { x, shape: [idx.len(), c, s, s], y }
}

/// Zeros a `len`×`len` square (clipped at the borders) centred on a random pixel, in every channel,
/// as the Cutout of DeVries & Taylor used by DARTS (after normalisation).
pub fn cutout(img: &mut [f32], c: usize, s: usize, len: usize, rng: &mut Rng) {
    let cy = rng.below(s) as isize;
    let cx = rng.below(s) as isize;
    let half = (len / 2) as isize;
    let (y0, y1) = ((cy - half).max(0) as usize, ((cy + half).min(s as isize)) as usize);
    let (x0, x1) = ((cx - half).max(0) as usize, ((cx + half).min(s as isize)) as usize);
    for ch in 0..c {
        for r in y0..y1 {
            for col in x0..x1 {
                img[ch * s * s + r * s + col] = 0.0;
            }
        }
    }
}

/// The 50/50 split of docs/ALGORITHM.md §5: the first `portion` of the set trains weights, the rest trains α.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Split {
    /// Indices used for the weight step.
    pub train: Vec<usize>,
    /// Indices used for the α step and validation.
    pub valid: Vec<usize>,
}

impl Split {
    /// Splits `n` images at `floor(portion · n)`, as the reference code does.
    pub fn new(n: usize, portion: f64) -> Result<Split, CoreError> {
        if !(portion > 0.0 && portion < 1.0) {
            return Err(CoreError::invalid("train_portion", format!("must be in (0, 1), found {portion}")));
        }
        let k = (portion * n as f64).floor() as usize;
        if k == 0 || k == n {
            return Err(CoreError::invalid("train_portion", format!("{portion} of {n} images leaves one half empty")));
        }
        Ok(Split { train: (0..k).collect(), valid: (k..n).collect() })
    }
}

/// One pass over `indices` in a fresh random order, in batches of `batch`, every one full: the
/// remainder that would make a smaller last batch is left out (it is drawn from in the next
/// pass). For the α and λ batches, which the authors' code always draws full (each is the first
/// batch of a freshly shuffled validation loader, automl/RobustDARTS `src/search/train_search.py:348`,
/// `next(iter(valid_queue))`). A split smaller than one batch gives one batch of all of it.
pub fn full_batches(indices: &[usize], batch: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut order = indices.to_vec();
    rng.shuffle(&mut order);
    if order.len() < batch {
        return vec![order];
    }
    order.chunks_exact(batch).map(|c| c.to_vec()).collect()
}

/// Batches of one epoch over a shuffled index list (a fresh permutation per epoch); the last
/// incomplete batch is kept, as PyTorch's DataLoader does by default.
pub fn epoch_batches(indices: &[usize], batch: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut order = indices.to_vec();
    rng.shuffle(&mut order);
    order.chunks(batch).map(|c| c.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::formats::embedded_digits;

    #[test]
    fn embedded_digits_are_balanced_and_padded() {
        let ds = embedded_digits();
        assert_eq!(ds.len(), 10_000);
        assert_eq!((ds.channels, ds.size, ds.classes), (1, 32, 10));
        let mut counts = [0usize; 10];
        for &l in &ds.labels {
            counts[l as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
        // Round-robin order: the first ten labels are 0..9.
        assert_eq!(&ds.labels[..10], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // The 2-pixel border added around 28×28 is black; the digit itself is not.
        let img = &ds.pixels[..1024];
        assert!(img[..64].iter().all(|&p| p == 0));
        assert!(img.iter().filter(|&&p| p > 128).count() > 50);
    }

    #[test]
    fn downsampling_averages_blocks() {
        let mut ds = embedded_digits().truncate(2);
        ds.pixels[..4].copy_from_slice(&[10, 20, 30, 40]);
        ds.pixels[32..36].copy_from_slice(&[50, 61, 70, 80]);
        let small = ds.clone().downsample(2).unwrap();
        assert_eq!((small.size, small.len(), small.pixels.len()), (16, 2, 2 * 256));
        assert_eq!(small.pixels[0], 35, "(10+20+50+61)/4 = 35.25 rounds to 35");
        assert_eq!(small.pixels[1], 55, "(30+40+70+80)/4");
        assert_eq!(small.labels, ds.labels);
        // The second image's first block comes from its own pixels.
        let second = &ds.pixels[1024..];
        let want = (u32::from(second[0]) + u32::from(second[1]) + u32::from(second[32]) + u32::from(second[33]) + 2) / 4;
        assert_eq!(u32::from(small.pixels[256]), want);
        assert!(ds.clone().downsample(3).unwrap_err().to_string().contains("32×32"));
        assert!(ds.downsample(0).is_err());
    }

    #[test]
    fn batches_normalise_and_augment() {
        let ds = embedded_digits().truncate(8);
        let mut rng = Rng::new(1);
        let b = make_batch(&ds, &[0, 1], None, &mut rng);
        assert_eq!(b.shape, [2, 1, 32, 32]);
        let raw = ds.pixels[5 * 32 + 10] as f32 / 255.0;
        assert!((b.x[5 * 32 + 10] - (raw - 0.1307) / 0.3081).abs() < 1e-6);
        // Crop keeps the shape and the pixel values come from the image or the black padding.
        let aug = Augment { crop_padding: 4, flip: true, cutout: 8, cutout_prob: 1.0 };
        let a = make_batch(&ds, &[0, 1, 2], Some(&aug), &mut rng);
        assert_eq!(a.x.len(), 3 * 1024);
        assert!(a.x.contains(&0.0), "cutout writes zeros");
        let split = Split::new(10, 0.5).unwrap();
        assert_eq!(split.train, (0..5).collect::<Vec<_>>());
        assert_eq!(split.valid, (5..10).collect::<Vec<_>>());
        assert!(Split::new(10, 1.0).is_err());
        let eb = epoch_batches(&split.train, 2, &mut rng);
        assert_eq!(eb.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
        let mut all: Vec<usize> = eb.concat();
        all.sort();
        assert_eq!(all, split.train);
        // α batches are all full: the remainder waits for the next pass.
        let fb = full_batches(&split.train, 2, &mut rng);
        assert_eq!(fb.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2]);
        assert_eq!(full_batches(&split.train, 8, &mut rng).iter().map(Vec::len).collect::<Vec<_>>(), vec![5]);
    }

    /// SVHN is flipped as in the authors' code; MNIST digits never are.
    #[test]
    fn svhn_is_flipped_and_digits_are_not() {
        // One image whose left half is white and right half black, in 3 channels.
        let left: Vec<u8> = (0..3 * 32 * 32).map(|i| if i % 32 < 16 { 255 } else { 0 }).collect();
        let aug = Augment { crop_padding: 0, flip: true, cutout: 0, cutout_prob: 1.0 };
        let flipped = |ds: &Dataset| {
            let mut rng = Rng::new(3);
            (0..40).filter(|_| make_batch(ds, &[0], Some(&aug), &mut rng).x[0] < 0.0).count()
        };
        let svhn = DataKind::Svhn.dataset("svhn", left.clone(), vec![1], 3, 32).unwrap();
        let n = flipped(&svhn);
        assert!((5..=35).contains(&n), "SVHN flipped in {n} of 40 draws");
        let mnist = DataKind::Mnist.dataset("mnist", left[..1024].to_vec(), vec![1], 1, 32).unwrap();
        assert_eq!(flipped(&mnist), 0);
        let off = Augment { flip: false, ..aug };
        let mut rng = Rng::new(3);
        assert!((0..40).all(|_| make_batch(&svhn, &[0], Some(&off), &mut rng).x[0] > 0.0), "augment.flip = false turns flips off");
    }
}
