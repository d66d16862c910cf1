//! [`MergeError`], what a failed merge reports, and [`AttemptError`], why one
//! attempt at a symbol stopped.

use std::path::PathBuf;

use chrono::NaiveDate;

/// A merge failed. Every variant that can follow writes lists the objects
/// already written (`written`); the manifest is never among them unless it
/// says so, because it is written last.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A bar carries a price that is not a finite number.
    #[error("{symbol} {date}: prices must be finite numbers")]
    InvalidBar {
        /// The symbol.
        symbol: String,
        /// The bar's date.
        date: NaiveDate,
    },
    /// Reading or listing an object failed.
    #[error("reading {path} failed: {source}{}", written_note(.written))]
    Read {
        /// Object path (or listed prefix).
        path: String,
        /// Objects already written when the import stopped.
        written: Vec<String>,
        /// The backend error.
        #[source]
        source: object_store::Error,
    },
    /// An object does not hold what the layout says.
    #[error("object {path} is corrupt: {reason}{}", written_note(.written))]
    Corrupt {
        /// Object path.
        path: String,
        /// What was wrong.
        reason: String,
        /// Objects already written when the import stopped.
        written: Vec<String>,
    },
    /// Writing an object failed.
    #[error("writing {path} failed: {source}{}", written_note(.written))]
    Write {
        /// Object path.
        path: String,
        /// Objects already written when the import stopped.
        written: Vec<String>,
        /// The backend error.
        #[source]
        source: object_store::Error,
    },
    /// Concurrent writers kept changing an object; the merge gave up.
    #[error(
        "{path} kept changing under concurrent imports; gave up after {attempts} attempts{}",
        written_note(.written)
    )]
    Conflict {
        /// Object path.
        path: String,
        /// Attempts made.
        attempts: u32,
        /// Objects already written when the import stopped.
        written: Vec<String>,
    },
    /// The local import lock could not be taken.
    #[error("cannot lock {}: {source}", .path.display())]
    Lock {
        /// Lock file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// The end of an error message: which objects were written before the failure.
fn written_note(written: &[String]) -> String {
    if written.is_empty() {
        "; nothing was written".to_string()
    } else {
        format!(
            "; already written before the failure ({}): {}",
            written.len(),
            written.join(", ")
        )
    }
}

impl MergeError {
    /// The objects already written when the import stopped.
    pub fn written(&self) -> &[String] {
        match self {
            MergeError::Read { written, .. }
            | MergeError::Corrupt { written, .. }
            | MergeError::Write { written, .. }
            | MergeError::Conflict { written, .. } => written,
            MergeError::InvalidBar { .. } | MergeError::Lock { .. } => &[],
        }
    }

    /// This error with `list` as the objects already written.
    pub(super) fn with_written(mut self, list: Vec<String>) -> Self {
        match &mut self {
            MergeError::Read { written, .. }
            | MergeError::Corrupt { written, .. }
            | MergeError::Write { written, .. }
            | MergeError::Conflict { written, .. } => *written = list,
            MergeError::InvalidBar { .. } | MergeError::Lock { .. } => {}
        }
        self
    }
}

/// Why one attempt at a symbol stopped.
pub(super) enum AttemptError {
    /// Another writer changed an object in between: merge again.
    Conflict(String),
    /// Anything else: give up.
    Fatal(MergeError),
}

impl From<MergeError> for AttemptError {
    fn from(e: MergeError) -> Self {
        AttemptError::Fatal(e)
    }
}
