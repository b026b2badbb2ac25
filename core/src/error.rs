//! Typed errors of the core library.

use thiserror::Error;

/// Everything that can go wrong inside the core. Front ends add file paths and exit codes.
#[derive(Debug, Error)]
pub enum CoreError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid {field}: {message}")]
    Invalid {
        /// The setting or argument at fault.
        field: String,
        /// What was expected and what was found.
        message: String,
    },
    /// A data file could not be decoded.
    #[error("{source_name}: {message}")]
    Data {
        /// The file (or embedded set) being decoded.
        source_name: String,
        /// What is wrong with it.
        message: String,
    },
    /// A genotype could not be parsed or does not fit a search space.
    #[error("genotype: {0}")]
    Genotype(String),
    /// No usable compute backend.
    #[error("backend: {0}")]
    Backend(String),
    /// The search diverged (a loss or gradient became NaN or infinite).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// DARTS-ES rolled back to an epoch the search has no record of (a state restored from an
    /// inconsistent checkpoint).
    #[error("DARTS-ES rolled back to epoch {epoch}, which has no record in this search's history")]
    NoRecord {
        /// The epoch the rule chose.
        epoch: usize,
    },
    /// DARTS-ADA must roll back to a state that is no longer kept.
    #[error("DARTS-ADA: no saved state of epoch {epoch} to roll back to (keep more checkpoints)")]
    NoSnapshot {
        /// The epoch whose end state is missing.
        epoch: usize,
    },
}

impl CoreError {
    /// An invalid setting `field`, with a message saying what was expected and found.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Invalid { field: field.into(), message: message.into() }
    }

    /// A decoding failure of `source_name`.
    pub fn data(source_name: impl Into<String>, message: impl Into<String>) -> Self {
        CoreError::Data { source_name: source_name.into(), message: message.into() }
    }
}
