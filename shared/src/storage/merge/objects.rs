//! Object access of a merge: versioned reads, partition listings and
//! conditional writes that skip objects whose content would not change.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use futures::StreamExt;
use object_store::{
    ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion, path::Path,
};
use serde::de::DeserializeOwned;

use super::error::AttemptError;
use super::{Ctx, MergeError, layout};
use crate::models::Partition;
use crate::symbol::Symbol;

/// A stored object with the version it was read at.
pub(super) struct Versioned<T> {
    /// The parsed object.
    pub(super) value: T,
    /// The object's bytes as stored.
    pub(super) bytes: Bytes,
    /// The version the object was read at.
    pub(super) version: UpdateVersion,
}

/// Writes `partition` unless the stored object already holds it (same
/// bytes, or the same content in another formatting). Returns whether it wrote.
pub(super) async fn write_if_changed(
    ctx: &Ctx<'_>,
    path: &Path,
    partition: &Partition,
    existing: Option<&Versioned<Partition>>,
) -> Result<bool, AttemptError> {
    if existing.is_some_and(|e| e.value == *partition) {
        return Ok(false);
    }
    let body = to_json(path, partition)?;
    if existing.is_some_and(|e| e.bytes.as_ref() == body.as_slice()) {
        return Ok(false);
    }
    let mode = ctx.put_mode(existing.map(|e| &e.version));
    match put(ctx.store, path, body, mode).await {
        Ok(()) => Ok(true),
        Err(source) if is_conflict(&source) => Err(AttemptError::Conflict(path.to_string())),
        Err(source) => Err(AttemptError::Fatal(MergeError::Write {
            path: path.to_string(),
            written: Vec::new(),
            source,
        })),
    }
}

/// True when a conditional write failed because another writer got there first.
pub(super) fn is_conflict(error: &object_store::Error) -> bool {
    matches!(
        error,
        object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }
    )
}

/// Writes `body` to `path` with `mode`.
pub(super) async fn put(
    store: &dyn ObjectStore,
    path: &Path,
    body: Vec<u8>,
    mode: PutMode,
) -> Result<(), object_store::Error> {
    store
        .put_opts(path, PutPayload::from(body), PutOptions::from(mode))
        .await
        .map(|_| ())
}

/// `value` as JSON; a failure is reported as [`MergeError::Corrupt`] of `path`.
pub(super) fn to_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<Vec<u8>, MergeError> {
    serde_json::to_vec(value).map_err(|e| MergeError::Corrupt {
        path: path.to_string(),
        reason: e.to_string(),
        written: Vec::new(),
    })
}

/// Years of `symbol`'s stored partitions (names `YYYY.json` under `daily/{SYMBOL}/`).
pub(super) async fn list_years(
    ctx: &Ctx<'_>,
    symbol: &Symbol,
) -> Result<BTreeSet<i32>, MergeError> {
    let prefix = ctx.prefix.clone().join("daily").join(symbol.as_str());
    let mut listing = ctx.store.list(Some(&prefix));
    let mut years = BTreeSet::new();
    while let Some(item) = listing.next().await {
        let meta = item.map_err(|source| MergeError::Read {
            path: format!("{prefix}/"),
            written: Vec::new(),
            source,
        })?;
        if let Some(year) = partition_year(&prefix, &meta.location) {
            years.insert(year);
        }
    }
    Ok(years)
}

/// The year of a partition object directly under `prefix`, if `path` is one.
fn partition_year(prefix: &Path, path: &Path) -> Option<i32> {
    let mut rest = path.prefix_match(prefix)?;
    let name = rest.next()?;
    if rest.next().is_some() {
        return None;
    }
    let stem = name.as_ref().strip_suffix(".json")?;
    if stem.len() != 4 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

/// Reads the stored partitions among `years`.
pub(super) async fn load_partitions(
    ctx: &Ctx<'_>,
    symbol: &Symbol,
    years: &BTreeSet<i32>,
    stored: &BTreeSet<i32>,
) -> Result<BTreeMap<i32, Versioned<Partition>>, AttemptError> {
    let reads = years.iter().filter(|y| stored.contains(y)).map(|&year| {
        let path = layout::partition_path(ctx.prefix, symbol, year);
        async move {
            let read = read_versioned::<Partition>(ctx.store, &path).await?;
            Ok::<_, MergeError>((year, path, read))
        }
    });
    let mut loaded = BTreeMap::new();
    for (year, path, read) in futures::future::try_join_all(reads).await? {
        // Listed a moment ago but gone now: another writer is at work.
        let Some(partition) = read else {
            return Err(AttemptError::Conflict(path.to_string()));
        };
        if partition.value.symbol != symbol.as_str() {
            return Err(AttemptError::Fatal(MergeError::Corrupt {
                path: path.to_string(),
                reason: format!("holds symbol {:?}", partition.value.symbol),
                written: Vec::new(),
            }));
        }
        loaded.insert(year, partition);
    }
    Ok(loaded)
}

/// Reads and parses one JSON object with its version; `None` when absent.
pub(super) async fn read_versioned<T: DeserializeOwned>(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<Option<Versioned<T>>, MergeError> {
    let read_error = |source| MergeError::Read {
        path: path.to_string(),
        written: Vec::new(),
        source,
    };
    let result = match store.get(path).await {
        Ok(result) => result,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(read_error(source)),
    };
    let version = UpdateVersion {
        e_tag: result.meta.e_tag.clone(),
        version: result.meta.version.clone(),
    };
    let bytes = result.bytes().await.map_err(read_error)?;
    let value = serde_json::from_slice(&bytes).map_err(|e| MergeError::Corrupt {
        path: path.to_string(),
        reason: e.to_string(),
        written: Vec::new(),
    })?;
    Ok(Some(Versioned {
        value,
        bytes,
        version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_year_accepts_only_yyyy_json_directly_under_the_prefix() {
        let prefix = Path::from("data/daily/AAA");
        let year = |p: &str| partition_year(&prefix, &Path::from(p));
        assert_eq!(year("data/daily/AAA/2013.json"), Some(2013));
        assert_eq!(year("data/daily/AAA/213.json"), None);
        assert_eq!(year("data/daily/AAA/2013.json.tmp"), None);
        assert_eq!(year("data/daily/AAA/x/2013.json"), None);
        assert_eq!(year("data/daily/AAAB/2013.json"), None);
    }
}
