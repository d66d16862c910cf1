//! Storage errors. Backend failures keep object_store's error as their
//! source, so logs and [`StorageError::kind`] tell permission problems,
//! network failures and other backend errors apart.

use std::error::Error as _;

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
    /// The backend failed (permissions, network, the service itself...).
    #[error("storage backend error on {path}")]
    Backend {
        /// Object path.
        path: String,
        /// What object_store reported.
        #[source]
        source: object_store::Error,
    },
    /// The read took longer than the storage timeout.
    #[error("storage read of {0} timed out")]
    Timeout(String),
    /// A value could not be encoded as JSON.
    #[error("JSON encoding failed")]
    Encode(#[source] serde_json::Error),
}

impl StorageError {
    /// Short, stable name of the failure kind, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            StorageError::SymbolNotFound(_) => "symbol_not_found",
            StorageError::Missing(_) => "missing",
            StorageError::Corrupt { .. } => "corrupt",
            StorageError::Backend { source, .. } => backend_kind(source),
            StorageError::Timeout(_) => "timeout",
            StorageError::Encode(_) => "encode",
        }
    }

    /// True when the answer is a definite "no such symbol".
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::SymbolNotFound(_))
    }
}

/// `permission_denied`, `unauthenticated`, `network` (connecting, sending,
/// a timeout or an interrupted request, after object_store's retries) or
/// `backend` (anything else).
fn backend_kind(error: &object_store::Error) -> &'static str {
    use object_store::client::HttpErrorKind;
    match error {
        object_store::Error::PermissionDenied { .. } => return "permission_denied",
        object_store::Error::Unauthenticated { .. } => return "unauthenticated",
        _ => {}
    }
    let mut cause = error.source();
    while let Some(current) = cause {
        if let Some(http) = current.downcast_ref::<object_store::client::HttpError>()
            && matches!(
                http.kind(),
                HttpErrorKind::Connect
                    | HttpErrorKind::Request
                    | HttpErrorKind::Timeout
                    | HttpErrorKind::Interrupted
            )
        {
            return "network";
        }
        cause = current.source();
    }
    "backend"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_tell_backend_failures_apart() {
        let backend = |source: object_store::Error| StorageError::Backend {
            path: "p".into(),
            source,
        };
        let denied = backend(object_store::Error::PermissionDenied {
            path: "p".into(),
            source: "403".into(),
        });
        assert_eq!(denied.kind(), "permission_denied");
        let unauthenticated = backend(object_store::Error::Unauthenticated {
            path: "p".into(),
            source: "401".into(),
        });
        assert_eq!(unauthenticated.kind(), "unauthenticated");
        let other = backend(object_store::Error::Generic {
            store: "S3",
            source: "boom".into(),
        });
        assert_eq!(other.kind(), "backend");
        assert!(other.source().is_some(), "the cause is kept");
        let encode = StorageError::Encode(serde_json::from_str::<u8>("x").unwrap_err());
        assert_eq!(encode.kind(), "encode");
    }
}
