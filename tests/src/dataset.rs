//! A small, deterministic data set for tests, written through the real storage layer.

use chrono::{Datelike, NaiveDate, Weekday};
use object_store::{ObjectStoreExt, PutPayload};
use shared::models::{DailyBar, Manifest, Partition, SymbolInfo};
use shared::storage::{DatasetWriter, StorageLocation, SymbolSeries, layout};
use shared::symbol::Symbol;

/// Weekday bars from `from` to `to`; close = 100 + 0.5 × index.
pub fn bars(from: &str, to: &str) -> Vec<DailyBar> {
    let mut date: NaiveDate = from.parse().unwrap();
    let end: NaiveDate = to.parse().unwrap();
    let mut out = Vec::new();
    let mut i = 0u32;
    while date <= end {
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            let close = 100.0 + 0.5 * f64::from(i);
            out.push(DailyBar {
                date,
                open: close - 0.25,
                high: close + 1.0,
                low: close - 1.0,
                close,
                volume: 1_000 + u64::from(i),
            });
            i += 1;
        }
        date = date.succ_opt().unwrap();
    }
    out
}

/// Symbols of the test data set.
pub const SYMBOLS: [&str; 3] = ["AAPL", "BRK.B", "FB"];

/// Writes the test data set to `location`:
/// - `AAPL`: weekdays 2011-11-01..2013-03-01 (crosses two year boundaries),
/// - `FB`: one day, 2012-05-18 (no previous close),
/// - `BRK.B`: weekdays 2013-01-02..2013-01-10,
/// - `GHOST`: listed in the manifest, no partitions,
/// - `BROKEN`: listed, its 2013 partition is not JSON.
pub async fn seed(location: &StorageLocation) {
    let writer = DatasetWriter::new(location.clone());
    let mut infos = Vec::new();
    for (symbol, name, from, to) in [
        ("AAPL", "Apple Inc.", "2011-11-01", "2013-03-01"),
        ("FB", "Meta Platforms, Inc.", "2012-05-18", "2012-05-18"),
        (
            "BRK.B",
            "Berkshire Hathaway Inc.",
            "2013-01-02",
            "2013-01-10",
        ),
    ] {
        let info = writer
            .write_symbol(SymbolSeries {
                symbol: Symbol::parse(symbol).unwrap(),
                name: name.into(),
                exchange: "NASDAQ".into(),
                currency: "USD".into(),
                bars: bars(from, to),
            })
            .await
            .unwrap()
            .unwrap();
        infos.push(info);
    }
    for symbol in ["GHOST", "BROKEN"] {
        infos.push(SymbolInfo {
            symbol: symbol.into(),
            name: symbol.into(),
            exchange: "NYSE".into(),
            currency: "USD".into(),
            first_date: "2013-01-02".parse().unwrap(),
            last_date: "2013-01-04".parse().unwrap(),
            data_points: 3,
        });
    }
    let broken = layout::partition_path(&location.prefix, &Symbol::parse("BROKEN").unwrap(), 2013);
    location
        .store
        .put(&broken, PutPayload::from_static(b"{ this is not json"))
        .await
        .unwrap();
    writer
        .write_manifest(Manifest { symbols: infos })
        .await
        .unwrap();
}

/// Appends `bar` (a date after the symbol's last one, in its last year) to
/// `symbol`'s last partition and updates its manifest entry: a daily update
/// written as an outside pipeline would (partition first, manifest last).
pub async fn append_bar(location: &StorageLocation, symbol: &str, bar: DailyBar) {
    let sym = Symbol::parse(symbol).unwrap();
    let mut manifest = read_manifest(location).await;
    let entry = manifest
        .symbols
        .iter_mut()
        .find(|e| e.symbol == symbol)
        .expect("symbol listed");
    let path = layout::partition_path(&location.prefix, &sym, entry.last_date.year());
    let mut partition: Partition = get_json(location, &path).await;
    entry.last_date = bar.date;
    entry.data_points += 1;
    partition.data_points.push(bar);
    put_json(location, &path, &partition).await;
    put_json(
        location,
        &layout::manifest_path(&location.prefix),
        &manifest,
    )
    .await;
}

/// Lists a new symbol with `bars` (one year): partition first, manifest last.
pub async fn add_symbol(location: &StorageLocation, symbol: &str, bars: Vec<DailyBar>) {
    let writer = DatasetWriter::new(location.clone());
    let info = writer
        .write_symbol(SymbolSeries {
            symbol: Symbol::parse(symbol).unwrap(),
            name: format!("{symbol} Corp."),
            exchange: "NYSE".into(),
            currency: "USD".into(),
            bars,
        })
        .await
        .unwrap()
        .unwrap();
    let mut manifest = read_manifest(location).await;
    manifest.symbols.push(info);
    writer.write_manifest(manifest).await.unwrap();
}

/// The manifest as stored.
pub async fn read_manifest(location: &StorageLocation) -> Manifest {
    get_json(location, &layout::manifest_path(&location.prefix)).await
}

async fn get_json<T: serde::de::DeserializeOwned>(
    location: &StorageLocation,
    path: &object_store::path::Path,
) -> T {
    let bytes = location
        .store
        .get(path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn put_json<T: serde::Serialize>(
    location: &StorageLocation,
    path: &object_store::path::Path,
    value: &T,
) {
    let body = serde_json::to_vec(value).unwrap();
    location
        .store
        .put(path, PutPayload::from(body))
        .await
        .unwrap();
}
