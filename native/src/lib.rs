//! The `rdarts` command-line program as a library, so that integration tests can drive it.

pub mod bench;
pub mod bench_kernels;
pub mod cli;
pub mod common;
pub mod curvature;
pub mod datasets;
pub mod genotype_cmd;
pub mod launches;
pub mod lm_report;
pub mod lm_search_cmd;
pub mod lm_train_cmd;
pub mod golden_cmd;
pub mod measure;
pub mod memory;
pub mod report;
pub mod rundir;
pub mod search_args;
pub mod search_cmd;
pub mod sweep;
pub mod text;
pub mod train_cmd;
