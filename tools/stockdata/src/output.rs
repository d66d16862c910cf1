//! Opening the target `STORAGE_URL` and writing many symbols concurrently.

use std::collections::BTreeSet;
use std::path::PathBuf;

use chrono::Datelike;
use futures::StreamExt;
use shared::models::{DailyBar, Manifest, SymbolInfo};
use shared::storage::{DatasetWriter, StorageError, StorageLocation, SymbolSeries};

/// Opens `url` as a [`StorageLocation`], creating the folder first when it
/// names a local path or a `file://` URL.
pub fn open_location(url: &str) -> Result<StorageLocation, String> {
    if let Some(dir) = local_dir(url)? {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    StorageLocation::parse(url).map_err(|e| e.to_string())
}

/// The local folder `url` names, if it names one.
fn local_dir(url: &str) -> Result<Option<PathBuf>, String> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    if !url.contains("://") {
        return Ok(Some(PathBuf::from(url)));
    }
    if url.starts_with("file://") {
        let parsed = url::Url::parse(url).map_err(|e| format!("STORAGE_URL is invalid: {e}"))?;
        let path = parsed
            .to_file_path()
            .map_err(|_| "STORAGE_URL is invalid: file:// URL must be absolute".to_string())?;
        return Ok(Some(path));
    }
    Ok(None)
}

/// What [`write_symbols`] wrote.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteStats {
    /// Manifest entries of the symbols written (symbols without bars are skipped).
    pub infos: Vec<SymbolInfo>,
    /// Partition objects written.
    pub partitions: u64,
}

/// Number of partitions (distinct calendar years) `bars` fill.
pub fn partition_count(bars: &[DailyBar]) -> u64 {
    bars.iter()
        .map(|bar| bar.date.year())
        .collect::<BTreeSet<_>>()
        .len() as u64
}

/// Writes every series that `jobs` produce, at most `concurrency` at a time,
/// then the manifest listing them.
///
/// Each job is a closure that builds one [`SymbolSeries`]; it runs on a
/// runtime worker thread, so generating and serialising proceed in
/// parallel. The first storage error stops the run.
pub async fn write_symbols<I, F>(
    writer: &DatasetWriter,
    jobs: I,
    concurrency: usize,
) -> Result<WriteStats, StorageError>
where
    I: IntoIterator<Item = F>,
    F: FnOnce() -> SymbolSeries + Send + 'static,
{
    let mut results = futures::stream::iter(jobs)
        .map(|job| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let series = job();
                let partitions = partition_count(&series.bars);
                let info = writer.write_symbol(series).await?;
                Ok::<_, StorageError>(info.map(|info| (info, partitions)))
            })
        })
        .buffer_unordered(concurrency.max(1));
    let mut stats = WriteStats::default();
    while let Some(joined) = results.next().await {
        let written = match joined {
            Ok(result) => result?,
            Err(join_error) => std::panic::resume_unwind(join_error.into_panic()),
        };
        if let Some((info, partitions)) = written {
            stats.infos.push(info);
            stats.partitions += partitions;
        }
    }
    stats.infos.sort_by(|a, b| a.symbol.cmp(&b.symbol));
    writer
        .write_manifest(Manifest {
            symbols: stats.infos.clone(),
        })
        .await?;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_missing_local_folders() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        open_location(nested.to_str().unwrap()).unwrap();
        assert!(nested.is_dir());
        let via_url = dir.path().join("c");
        open_location(&format!("file://{}", via_url.display())).unwrap();
        assert!(via_url.is_dir());
        assert!(open_location("memory://").is_ok());
        assert!(
            open_location("ftp://x/y")
                .unwrap_err()
                .contains("unsupported scheme")
        );
    }

    #[test]
    fn counts_partitions_by_year() {
        let bar = |d: &str| DailyBar {
            date: d.parse().unwrap(),
            open: 1.0,
            high: 1.0,
            low: 1.0,
            close: 1.0,
            volume: 1,
        };
        assert_eq!(partition_count(&[]), 0);
        assert_eq!(
            partition_count(&[
                bar("2012-12-31"),
                bar("2013-01-02"),
                bar("2013-01-03"),
                bar("2012-01-03")
            ]),
            2
        );
    }
}
