//! Image data sets: decoders from bytes, the embedded digits, the train/validation split, batching
//! and augmentation (SPEC §5). No I/O: front ends read files and pass bytes.

use std::io::Read;

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

/// The per-channel statistics DARTS uses for CIFAR-10.
pub const CIFAR10_MEAN: [f32; 3] = [0.491_399_68, 0.482_158_27, 0.446_531_24];
/// See [`CIFAR10_MEAN`].
pub const CIFAR10_STD: [f32; 3] = [0.247_032_33, 0.243_485_05, 0.261_587_68];
/// The usual MNIST statistics.
pub const MNIST_MEAN: f32 = 0.1307;
/// See [`MNIST_MEAN`].
pub const MNIST_STD: f32 = 0.3081;

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

/// The embedded default set: 10 000 real MNIST digits (see core/data/README.md), padded to 32×32.
pub fn embedded_digits() -> Dataset {
    const IMAGES: &[u8] = include_bytes!("../data/digits-images-idx3-ubyte.gz");
    const LABELS: &[u8] = include_bytes!("../data/digits-labels-idx1-ubyte.gz");
    digits_from_idx("embedded digits", IMAGES, LABELS, 10).expect("the embedded digits are valid")
}

/// Builds a 1-channel set from IDX image and label files (gzipped or not), padding 28×28 to 32×32.
pub fn digits_from_idx(name: &str, images: &[u8], labels: &[u8], classes: usize) -> Result<Dataset, CoreError> {
    let (dims, pixels) = decode_idx(&format!("{name} images"), images, 0x08, 3)?;
    let (ldims, labels) = decode_idx(&format!("{name} labels"), labels, 0x08, 1)?;
    if ldims[0] != dims[0] {
        return Err(CoreError::data(name, format!("{} images but {} labels", dims[0], ldims[0])));
    }
    let (n, h, w) = (dims[0], dims[1], dims[2]);
    if h != w || h > 32 {
        return Err(CoreError::data(name, format!("expected square images of at most 32×32, found {h}×{w}")));
    }
    let pad = (32 - h) / 2;
    let size = h + 2 * pad;
    let mut out = vec![0u8; n * size * size];
    for i in 0..n {
        for r in 0..h {
            let src = &pixels[(i * h + r) * w..(i * h + r + 1) * w];
            let dst = (i * size + r + pad) * size + pad;
            out[dst..dst + w].copy_from_slice(src);
        }
    }
    let ds = Dataset {
        name: name.to_string(),
        pixels: out,
        labels,
        channels: 1,
        size,
        classes,
        mean: vec![MNIST_MEAN],
        std: vec![MNIST_STD],
        flip: false,
    };
    ds.validate()?;
    Ok(ds)
}

/// Inflates gzip data; returns the input unchanged when it has no gzip header.
pub fn maybe_gunzip(name: &str, bytes: &[u8]) -> Result<Vec<u8>, CoreError> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| CoreError::data(name, format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(bytes.to_vec())
    }
}

/// Decodes an IDX file (MNIST format): magic `0 0 type rank`, big-endian u32 dims, then data.
/// Returns the dims and the payload bytes.
pub fn decode_idx(name: &str, bytes: &[u8], dtype: u8, rank: usize) -> Result<(Vec<usize>, Vec<u8>), CoreError> {
    let bytes = maybe_gunzip(name, bytes)?;
    if bytes.len() < 4 {
        return Err(CoreError::data(name, format!("file too short for an IDX header ({} bytes)", bytes.len())));
    }
    let expected = [0, 0, dtype, rank as u8];
    if bytes[..4] != expected {
        return Err(CoreError::data(
            name,
            format!("wrong IDX magic number: expected {:02x?}, found {:02x?}", expected, &bytes[..4]),
        ));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(CoreError::data(name, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let count = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let Some(count) = count else {
        return Err(CoreError::data(name, format!("IDX dimensions {dims:?} overflow")));
    };
    let payload = &bytes[header..];
    if payload.len() != count {
        return Err(CoreError::data(
            name,
            format!("IDX dimensions {dims:?} need {count} data bytes, found {}", payload.len()),
        ));
    }
    Ok((dims, payload.to_vec()))
}

/// Decodes one CIFAR-10 binary batch file (records of 1 label byte + 3072 pixel bytes).
pub fn decode_cifar10_bin(name: &str, bytes: &[u8]) -> Result<(Vec<u8>, Vec<u8>), CoreError> {
    const RECORD: usize = 1 + 3 * 32 * 32;
    if bytes.is_empty() || bytes.len() % RECORD != 0 {
        return Err(CoreError::data(
            name,
            format!(
                "size {} is not a whole number of {RECORD}-byte CIFAR-10 records (truncated or not CIFAR-10 binary?)",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut labels = Vec::with_capacity(n);
    let mut pixels = Vec::with_capacity(n * (RECORD - 1));
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] > 9 {
            return Err(CoreError::data(name, format!("record {i}: label {} is out of range 0..9", rec[0])));
        }
        labels.push(rec[0]);
        pixels.extend_from_slice(&rec[1..]);
    }
    Ok((pixels, labels))
}

/// Joins decoded CIFAR-10 batches into one set.
pub fn cifar10_from_batches(name: &str, batches: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Dataset, CoreError> {
    let mut pixels = Vec::new();
    let mut labels = Vec::new();
    for (p, l) in batches {
        pixels.extend(p);
        labels.extend(l);
    }
    let ds = Dataset {
        name: name.to_string(),
        pixels,
        labels,
        channels: 3,
        size: 32,
        classes: 10,
        mean: CIFAR10_MEAN.to_vec(),
        std: CIFAR10_STD.to_vec(),
        flip: true,
    };
    ds.validate()?;
    Ok(ds)
}

/// Augmentation settings (SPEC §5).
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
        if let Some(a) = aug {
            if a.cutout > 0 && rng.uniform() < a.cutout_prob {
                cutout(&mut x[b * c * plane..(b + 1) * c * plane], c, s, a.cutout, rng);
            }
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

/// The 50/50 split of SPEC §5: the first `portion` of the set trains weights, the rest trains α.
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

    fn idx_bytes(magic: [u8; 4], dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = magic.to_vec();
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

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
    fn idx_round_trip_and_errors() {
        let px: Vec<u8> = (0..2 * 28 * 28).map(|i| (i % 251) as u8).collect();
        let images = idx_bytes([0, 0, 8, 3], &[2, 28, 28], &px);
        let labels = idx_bytes([0, 0, 8, 1], &[2], &[3, 7]);
        let ds = digits_from_idx("t", &images, &labels, 10).unwrap();
        assert_eq!(ds.labels, vec![3, 7]);
        // Pixel (r, c) of image 1 lands at (r + 2, c + 2).
        assert_eq!(ds.pixels[1024 + 2 * 32 + 2], px[784]);
        assert_eq!(ds.pixels[1024 + 29 * 32 + 29], px[784 + 27 * 28 + 27]);

        let wrong_magic = idx_bytes([0, 0, 8, 2], &[2, 28], &px[..56]);
        let e = digits_from_idx("t", &wrong_magic, &labels, 10).unwrap_err().to_string();
        assert!(e.contains("magic"), "{e}");
        let truncated = &images[..images.len() - 1];
        let e = digits_from_idx("t", truncated, &labels, 10).unwrap_err().to_string();
        assert!(e.contains("data bytes"), "{e}");
        let bad_label = idx_bytes([0, 0, 8, 1], &[2], &[3, 12]);
        let e = digits_from_idx("t", &images, &bad_label, 10).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let mismatch = idx_bytes([0, 0, 8, 1], &[1], &[3]);
        assert!(digits_from_idx("t", &images, &mismatch, 10).is_err());
    }

    #[test]
    fn cifar_binary_decodes_and_rejects_truncation() {
        let mut bytes = Vec::new();
        for i in 0..3u8 {
            bytes.push(i);
            bytes.extend((0..3072).map(|j| ((j + i as usize) % 256) as u8));
        }
        let (px, labels) = decode_cifar10_bin("b", &bytes).unwrap();
        assert_eq!(labels, vec![0, 1, 2]);
        assert_eq!(px.len(), 3 * 3072);
        assert_eq!(px[3072], 1);
        let e = decode_cifar10_bin("data_batch_1.bin", &bytes[..bytes.len() - 10]).unwrap_err().to_string();
        assert!(e.starts_with("data_batch_1.bin:") && e.contains("records"), "{e}");
        bytes[0] = 10;
        assert!(decode_cifar10_bin("b", &bytes).unwrap_err().to_string().contains("label 10"));
    }

    #[test]
    fn batches_normalise_and_augment() {
        let ds = embedded_digits().truncate(8);
        let mut rng = Rng::new(1);
        let b = make_batch(&ds, &[0, 1], None, &mut rng);
        assert_eq!(b.shape, [2, 1, 32, 32]);
        let raw = ds.pixels[5 * 32 + 10] as f32 / 255.0;
        assert!((b.x[5 * 32 + 10] - (raw - MNIST_MEAN) / MNIST_STD).abs() < 1e-6);
        // Crop keeps the shape and the pixel values come from the image or the black padding.
        let aug = Augment { crop_padding: 4, flip: true, cutout: 8, cutout_prob: 1.0 };
        let a = make_batch(&ds, &[0, 1, 2], Some(&aug), &mut rng);
        assert_eq!(a.x.len(), 3 * 1024);
        assert!(a.x.iter().any(|&v| v == 0.0), "cutout writes zeros");
        let split = Split::new(10, 0.5).unwrap();
        assert_eq!(split.train, (0..5).collect::<Vec<_>>());
        assert_eq!(split.valid, (5..10).collect::<Vec<_>>());
        assert!(Split::new(10, 1.0).is_err());
        let eb = epoch_batches(&split.train, 2, &mut rng);
        assert_eq!(eb.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
        let mut all: Vec<usize> = eb.concat();
        all.sort();
        assert_eq!(all, split.train);
    }
}
