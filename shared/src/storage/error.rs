//! Storage errors.

/// A storage read failed or found inconsistent data.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The symbol is not in the manifest.
    #[error("symbol {0} not found")]
    SymbolNotFound(String),
    /// An object the manifest promises is missing.
    #[error("object {0} is missing")]
    Missing(String),
    /// An object exists but does not hold what the layout says.
    #[error("object {path} is corrupt: {reason}")]
    Corrupt {
        /// Object path.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// The backend failed (network, permissions, ...).
    #[error("storage backend error: {0}")]
    Backend(String),
    /// The read took longer than the storage timeout.
    #[error("storage read of {0} timed out")]
    Timeout(String),
}

impl StorageError {
    /// Short, stable name of the failure kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::SymbolNotFound(_) => "symbol_not_found",
            StorageError::Missing(_) => "missing",
            StorageError::Corrupt { .. } => "corrupt",
            StorageError::Backend(_) => "backend",
            StorageError::Timeout(_) => "timeout",
        }
    }

    /// True when the answer is a definite "no such symbol" (cacheable as a negative entry).
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::SymbolNotFound(_))
    }
}
