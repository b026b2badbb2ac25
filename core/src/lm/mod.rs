//! Language modelling: DARTS' recurrent-cell search on word-level text (quark0/darts `rnn/`).
//!
//! One concept per file: [`genotype`] (the cell's activations, its discretisation and text form),
//! [`corpus`] (vocabulary, token streams, `batchify` and its windows), [`model`] (the search and
//! evaluation models with the reference's dropouts), [`step`] (weight and α steps, evaluation,
//! the α Hessian's objective), [`search`] (the search on the shared DARTS-ES/ADA controller) and
//! [`search_config`] (its knobs), [`search_state`] (its state on the host and on disk), [`train`] (training a found cell from scratch).

pub mod corpus;
pub mod genotype;
pub mod model;
pub mod search;
pub mod search_config;
pub mod search_state;
pub mod step;
pub mod train;

pub use corpus::{Batched, Corpus, Vocab, Window};
pub use genotype::{RnnGenotype, RnnOp};
pub use model::{RnnCell, RnnConfig, RnnModel, RnnOut};
pub use search::{LmEpochReport, LmEvent, LmKept, LmSearch, LmSnapshot};
pub use search_config::LmSearchConfig;
