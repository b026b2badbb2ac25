//! rdarts-core: DARTS and RobustDARTS (Zela et al., ICLR 2020) over Burn.
//!
//! The core holds all search logic and does no I/O: front ends pass bytes in and observe
//! [`search::SearchEvent`]s. The algorithm is written down in docs/ALGORITHM.md, the code map in
//! ARCHITECTURE.md at the repository root.

pub mod architect;
pub mod backend;
pub mod batchnorm;
pub mod checkpoint;
pub mod clock;
pub mod data;
pub mod depthwise;
pub mod draw;
pub mod droppath;
pub mod error;
pub mod evalnet;
pub mod formats;
pub mod genotype;
pub mod golden;
pub mod hessian;
pub mod interop;
pub mod kernels;
pub mod limits;
pub mod lm;
pub mod memory;
pub mod mixed;
pub mod network;
pub mod ops;
pub mod optim;
pub mod params;
pub mod pointwise;
pub mod pool;
pub mod relu;
pub mod robust;
pub mod rng;
pub mod search;
pub mod space;
pub mod subsample;
pub mod tally;
pub mod train;

pub use error::CoreError;
pub use params::block_on;
