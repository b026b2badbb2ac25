//! Upper bounds on every size a configuration file, a command line or a data file may ask for,
//! checked before anything is sized from it. Each is far above what the paper and its users run
//! (C = 16–36, 8–20 cells, 4 nodes, 32×32 images, batch 64–96, 50–600 epochs); beyond them a
//! value is a typo or a hostile file, and would overflow an index, exhaust memory or run for
//! years before failing. Memory is checked separately, from an estimate ([`crate::memory`]).

use crate::error::CoreError;

/// Initial channels C.
pub const MAX_CHANNELS: usize = 1024;
/// Cells.
pub const MAX_LAYERS: usize = 100;
/// Intermediate nodes per cell.
pub const MAX_NODES: usize = 12;
/// Image side.
pub const MAX_IMAGE_SIZE: usize = 1024;
/// Image channels.
pub const MAX_IN_CHANNELS: usize = 64;
/// Stem channels per C.
pub const MAX_STEM_MULTIPLIER: usize = 16;
/// Classes.
pub const MAX_CLASSES: usize = 100_000;
/// Batch size.
pub const MAX_BATCH: usize = 65_536;
/// Epochs, and any epoch number or epoch count (DARTS-ES windows, λ histories).
pub const MAX_EPOCHS: usize = 1_000_000;
/// Crop padding and Cutout side, in pixels.
pub const MAX_AUGMENT_PIXELS: usize = MAX_IMAGE_SIZE;
/// Lanczos steps, validation batches and RS-ws candidates or batches.
pub const MAX_COUNT: usize = 1_000_000;

/// `value` of `field` must be at most `max`.
pub fn at_most(field: &str, value: usize, max: usize) -> Result<(), CoreError> {
    if value > max {
        return Err(CoreError::invalid(field, format!("must be at most {max}, found {value}")));
    }
    Ok(())
}

/// [`at_most`] for each (field, value, max), in order; the first over its bound is the error.
pub fn all_at_most(bounds: &[(&str, usize, usize)]) -> Result<(), CoreError> {
    bounds.iter().try_for_each(|&(field, value, max)| at_most(field, value, max))
}
