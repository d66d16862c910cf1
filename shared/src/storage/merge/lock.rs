//! [`ImportLock`]: the exclusive OS file lock that serialises imports into a
//! local folder.

use std::fs::File;

use super::{LOCK_FILE, MergeError};
use crate::storage::StorageLocation;

/// Holds the exclusive import lock of a local folder until dropped; holds
/// nothing for other backends. See the `merge` module documentation.
#[derive(Debug)]
pub struct ImportLock {
    _file: Option<File>,
}

impl ImportLock {
    /// Takes the lock of `location` when it is a local folder, waiting for
    /// any other import holding it.
    pub async fn acquire(location: &StorageLocation) -> Result<Self, MergeError> {
        let Some(root) = location.local_root.clone() else {
            return Ok(ImportLock { _file: None });
        };
        let path = root.join(LOCK_FILE);
        let for_thread = path.clone();
        let locked = tokio::task::spawn_blocking(move || lock_file(&for_thread))
            .await
            .map_err(std::io::Error::other)
            .and_then(|result| result);
        match locked {
            Ok(file) => Ok(ImportLock { _file: Some(file) }),
            Err(source) => Err(MergeError::Lock { path, source }),
        }
    }
}

fn lock_file(path: &std::path::Path) -> std::io::Result<File> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    file.lock()?;
    Ok(file)
}
