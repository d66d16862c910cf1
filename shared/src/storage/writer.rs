//! Writing a data set in the storage layout (used by the data tool and tests).

use chrono::Datelike;
use object_store::{ObjectStoreExt, PutPayload};

use super::{StorageError, StorageLocation, layout};
use crate::models::{DailyBar, Manifest, Partition, SymbolInfo};
use crate::symbol::Symbol;

/// One symbol's full history plus its descriptive data.
#[derive(Clone, Debug)]
pub struct SymbolSeries {
    /// The symbol.
    pub symbol: Symbol,
    /// Company name.
    pub name: String,
    /// Listing exchange.
    pub exchange: String,
    /// Trading currency.
    pub currency: String,
    /// Bars in any order; duplicates by date keep the last one.
    pub bars: Vec<DailyBar>,
}

/// Writes partitions and the manifest to a [`StorageLocation`].
#[derive(Clone, Debug)]
pub struct DatasetWriter {
    location: StorageLocation,
}

impl DatasetWriter {
    /// A writer into `location`.
    pub fn new(location: StorageLocation) -> Self {
        DatasetWriter { location }
    }

    /// Writes one partition per year of `series` and returns its manifest entry,
    /// or `None` when the series has no bars.
    pub async fn write_symbol(
        &self,
        mut series: SymbolSeries,
    ) -> Result<Option<SymbolInfo>, StorageError> {
        series.bars.sort_by_key(|bar| bar.date);
        series.bars.reverse();
        series.bars.dedup_by_key(|bar| bar.date);
        series.bars.reverse();
        if let Some(bad) = series.bars.iter().find(|b| {
            ![b.open, b.high, b.low, b.close]
                .iter()
                .all(|v| v.is_finite())
        }) {
            return Err(StorageError::Corrupt {
                path: format!("{} {}", series.symbol, bad.date),
                reason: "prices must be finite numbers".into(),
            });
        }
        let (Some(first), Some(last)) = (series.bars.first(), series.bars.last()) else {
            return Ok(None);
        };
        let info = SymbolInfo {
            symbol: series.symbol.to_string(),
            name: series.name.clone(),
            exchange: series.exchange.clone(),
            currency: series.currency.clone(),
            first_date: first.date,
            last_date: last.date,
            data_points: series.bars.len() as u64,
        };
        let mut previous_close = None;
        for chunk in series.bars.chunk_by(|a, b| a.date.year() == b.date.year()) {
            let year = chunk[0].date.year();
            let partition = Partition {
                symbol: info.symbol.clone(),
                previous_close,
                data_points: chunk.to_vec(),
            };
            let path = layout::partition_path(&self.location.prefix, &series.symbol, year);
            self.put_json(&path, &partition).await?;
            previous_close = chunk.last().map(|bar| bar.close);
        }
        Ok(Some(info))
    }

    /// Writes the manifest (sorted by symbol).
    pub async fn write_manifest(&self, mut manifest: Manifest) -> Result<(), StorageError> {
        manifest.sort();
        let path = layout::manifest_path(&self.location.prefix);
        self.put_json(&path, &manifest).await
    }

    async fn put_json<T: serde::Serialize>(
        &self,
        path: &object_store::path::Path,
        value: &T,
    ) -> Result<(), StorageError> {
        let body = serde_json::to_vec(value).map_err(StorageError::Encode)?;
        self.location
            .store
            .put(path, PutPayload::from(body))
            .await
            .map(|_| ())
            .map_err(|source| StorageError::Backend {
                path: path.to_string(),
                source,
            })
    }
}
