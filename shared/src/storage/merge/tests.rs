//! Tests of the whole merge: [`merge_import`] on an in-memory store, racing
//! imports, a manifest conflict and failures part way.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload, UpdateVersion, path::Path};

use super::manifest::update_manifest;
use super::objects::{is_conflict, put, read_versioned};
use super::symbol::{RowCounts, SymbolOutcome};
use super::*;
use crate::models::{DailyBar, Manifest, Partition};
use crate::storage::{DatasetWriter, SymbolSeries};

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

fn bar(date: &str, close: f64) -> DailyBar {
    DailyBar {
        date: date.parse().unwrap(),
        open: close,
        high: close + 1.0,
        low: close - 1.0,
        close,
        volume: 100,
    }
}

fn update(symbol: &str, bars: Vec<DailyBar>) -> SymbolUpdate {
    SymbolUpdate {
        symbol: sym(symbol),
        bars,
        metadata: None,
    }
}

fn memory() -> StorageLocation {
    StorageLocation::from_store(Arc::new(InMemory::new()), "data").unwrap()
}

/// AAA: 2011 (2 bars), 2013 (2 bars) — no 2012; BBB: 2013 (1 bar).
async fn seeded() -> StorageLocation {
    let location = memory();
    let writer = DatasetWriter::new(location.clone());
    let mut infos = Vec::new();
    for (symbol, bars) in [
        (
            "AAA",
            vec![
                bar("2011-03-01", 10.0),
                bar("2011-12-30", 11.0),
                bar("2013-01-02", 13.0),
                bar("2013-01-03", 14.0),
            ],
        ),
        ("BBB", vec![bar("2013-01-02", 50.0)]),
    ] {
        let series = SymbolSeries {
            symbol: sym(symbol),
            name: format!("{symbol} Corp"),
            exchange: "NYSE".into(),
            currency: "EUR".into(),
            bars,
        };
        infos.push(writer.write_symbol(series).await.unwrap().unwrap());
    }
    writer
        .write_manifest(Manifest { symbols: infos })
        .await
        .unwrap();
    location
}

async fn raw(location: &StorageLocation, path: &str) -> Option<Bytes> {
    let path = Path::parse(format!("{}/{path}", location.prefix)).unwrap();
    match location.store.get(&path).await {
        Ok(result) => Some(result.bytes().await.unwrap()),
        Err(object_store::Error::NotFound { .. }) => None,
        Err(e) => panic!("{e}"),
    }
}

async fn partition(location: &StorageLocation, symbol: &str, year: i32) -> Partition {
    let bytes = raw(location, &format!("daily/{symbol}/{year}.json"))
        .await
        .unwrap_or_else(|| panic!("no partition {symbol} {year}"));
    serde_json::from_slice(&bytes).unwrap()
}

async fn manifest(location: &StorageLocation) -> Manifest {
    serde_json::from_slice(&raw(location, "symbols.json").await.unwrap()).unwrap()
}

async fn snapshot(location: &StorageLocation) -> BTreeMap<String, Bytes> {
    let listed: Vec<_> = location
        .store
        .list(None)
        .map(|m| m.unwrap().location)
        .collect()
        .await;
    let mut all = BTreeMap::new();
    for path in listed {
        let bytes = location.store.get(&path).await.unwrap().bytes().await;
        all.insert(path.to_string(), bytes.unwrap());
    }
    all
}

async fn merge(location: &StorageLocation, updates: Vec<SymbolUpdate>) -> MergeReport {
    merge_import(location, updates, &MergeOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn inserts_a_new_day_and_keeps_everything_else() {
    let location = seeded().await;
    let before = snapshot(&location).await;
    let report = merge(
        &location,
        vec![update("AAA", vec![bar("2013-01-04", 15.0)])],
    )
    .await;
    assert_eq!(report.touched, [sym("AAA")]);
    assert!(!report.symbol_set_changed);
    assert_eq!(
        (
            report.rows_inserted,
            report.rows_replaced,
            report.rows_unchanged
        ),
        (1, 0, 0)
    );
    assert_eq!(report.partitions_written, ["data/daily/AAA/2013.json"]);
    assert!(report.manifest_written);

    let p = partition(&location, "AAA", 2013).await;
    assert_eq!(p.previous_close, Some(11.0));
    let dates: Vec<String> = p.data_points.iter().map(|b| b.date.to_string()).collect();
    assert_eq!(dates, ["2013-01-02", "2013-01-03", "2013-01-04"]);
    let m = manifest(&location).await;
    let aaa = m.get("AAA").unwrap();
    assert_eq!(aaa.data_points, 5);
    assert_eq!(aaa.last_date.to_string(), "2013-01-04");
    assert_eq!(aaa.first_date.to_string(), "2011-03-01");
    assert_eq!(aaa.name, "AAA Corp");
    assert_eq!(m.symbols.len(), 2);

    let after = snapshot(&location).await;
    let changed: Vec<&String> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
        .map(|(path, _)| path)
        .collect();
    assert_eq!(
        changed,
        ["data/daily/AAA/2013.json", "data/symbols.json"],
        "only the touched partition and the manifest change"
    );
}

#[tokio::test]
async fn correction_replaces_the_bar_and_keeps_the_count() {
    let location = seeded().await;
    let report = merge(
        &location,
        vec![update("AAA", vec![bar("2013-01-02", 99.0)])],
    )
    .await;
    assert_eq!(
        (
            report.rows_inserted,
            report.rows_replaced,
            report.rows_unchanged
        ),
        (0, 1, 0)
    );
    let p = partition(&location, "AAA", 2013).await;
    assert_eq!(p.data_points.len(), 2);
    assert_eq!(p.data_points[0].close, 99.0);
    assert_eq!(manifest(&location).await.get("AAA").unwrap().data_points, 4);
    // Range and count did not change: the manifest is not rewritten.
    assert!(!report.manifest_written);
    assert_eq!(report.touched, [sym("AAA")]);
}

#[tokio::test]
async fn backfill_of_a_years_last_bar_relinks_the_next_year() {
    let location = seeded().await;
    let report = merge(
        &location,
        vec![update("AAA", vec![bar("2011-12-31", 12.5)])],
    )
    .await;
    assert_eq!(
        report.partitions_written,
        ["data/daily/AAA/2011.json", "data/daily/AAA/2013.json"]
    );
    assert_eq!(
        partition(&location, "AAA", 2013).await.previous_close,
        Some(12.5)
    );
    assert_eq!(partition(&location, "AAA", 2011).await.previous_close, None);
    // A correction of that last bar relinks again.
    merge(
        &location,
        vec![update("AAA", vec![bar("2011-12-31", 7.25)])],
    )
    .await;
    assert_eq!(
        partition(&location, "AAA", 2013).await.previous_close,
        Some(7.25)
    );
    assert_eq!(manifest(&location).await.get("AAA").unwrap().data_points, 5);
}

#[tokio::test]
async fn new_years_before_and_between_existing_ones_relink_their_neighbours() {
    let location = seeded().await;
    let report = merge(
        &location,
        vec![update(
            "AAA",
            vec![bar("2012-06-01", 20.0), bar("2009-05-05", 5.0)],
        )],
    )
    .await;
    assert_eq!(
        report.partitions_written,
        [
            "data/daily/AAA/2009.json",
            "data/daily/AAA/2011.json",
            "data/daily/AAA/2012.json",
            "data/daily/AAA/2013.json"
        ]
    );
    assert_eq!(partition(&location, "AAA", 2009).await.previous_close, None);
    assert_eq!(
        partition(&location, "AAA", 2011).await.previous_close,
        Some(5.0)
    );
    assert_eq!(
        partition(&location, "AAA", 2012).await.previous_close,
        Some(11.0)
    );
    assert_eq!(
        partition(&location, "AAA", 2013).await.previous_close,
        Some(20.0)
    );
    let m = manifest(&location).await;
    let aaa = m.get("AAA").unwrap();
    assert_eq!(aaa.first_date.to_string(), "2009-05-05");
    assert_eq!(aaa.data_points, 6);
}

#[tokio::test]
async fn second_identical_import_writes_nothing() {
    let location = seeded().await;
    let rows = || {
        vec![
            update("AAA", vec![bar("2013-01-04", 15.0), bar("2013-01-02", 1.0)]),
            update("CCC", vec![bar("2014-01-02", 3.0)]),
        ]
    };
    let first = merge(&location, rows()).await;
    assert_eq!((first.rows_inserted, first.rows_replaced), (2, 1));
    let before = snapshot(&location).await;
    let second = merge(&location, rows()).await;
    assert_eq!(
        (
            second.rows_inserted,
            second.rows_replaced,
            second.rows_unchanged
        ),
        (0, 0, 3)
    );
    assert!(second.partitions_written.is_empty());
    assert!(!second.manifest_written);
    assert!(second.touched.is_empty());
    assert!(!second.symbol_set_changed);
    assert_eq!(snapshot(&location).await, before);
}

#[tokio::test]
async fn new_symbol_changes_the_symbol_set_with_defaults_or_metadata() {
    let location = seeded().await;
    let mut with_meta = update("DDD", vec![bar("2014-01-03", 4.0)]);
    with_meta.metadata = Some(SymbolMetadata {
        name: "Dee".into(),
        exchange: "LSE".into(),
        currency: "GBP".into(),
    });
    let report = merge(
        &location,
        vec![
            update("CCC", vec![bar("2014-01-02", 3.0), bar("2013-12-31", 2.0)]),
            with_meta,
        ],
    )
    .await;
    assert!(report.symbol_set_changed);
    assert_eq!(report.symbols_added, [sym("CCC"), sym("DDD")]);
    let m = manifest(&location).await;
    let names: Vec<&str> = m.symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(names, ["AAA", "BBB", "CCC", "DDD"]);
    let ccc = m.get("CCC").unwrap();
    assert_eq!(
        (
            ccc.name.as_str(),
            ccc.exchange.as_str(),
            ccc.currency.as_str()
        ),
        ("CCC", DEFAULT_EXCHANGE, DEFAULT_CURRENCY)
    );
    assert_eq!(ccc.data_points, 2);
    assert_eq!(ccc.first_date.to_string(), "2013-12-31");
    assert_eq!(
        partition(&location, "CCC", 2014).await.previous_close,
        Some(2.0)
    );
    let ddd = m.get("DDD").unwrap();
    assert_eq!((ddd.name.as_str(), ddd.currency.as_str()), ("Dee", "GBP"));
    // Metadata given for an existing symbol replaces its metadata.
    let mut rename = update("BBB", vec![bar("2013-01-02", 50.0)]);
    rename.metadata = Some(SymbolMetadata {
        name: "Bee".into(),
        exchange: "NYSE".into(),
        currency: "EUR".into(),
    });
    let report = merge(&location, vec![rename]).await;
    assert_eq!(report.touched, [sym("BBB")]);
    assert!(report.partitions_written.is_empty());
    assert_eq!(manifest(&location).await.get("BBB").unwrap().name, "Bee");
}

#[tokio::test]
async fn orphan_partitions_get_an_entry_computed_from_all_of_them() {
    let location = seeded().await;
    // Drop BBB from the manifest, keeping AAA: BBB's partition is an orphan.
    let mut m = manifest(&location).await;
    m.symbols.retain(|s| s.symbol != "BBB");
    DatasetWriter::new(location.clone())
        .write_manifest(m)
        .await
        .unwrap();
    let report = merge(
        &location,
        vec![update("BBB", vec![bar("2015-02-02", 60.0)])],
    )
    .await;
    assert!(report.symbol_set_changed);
    let m = manifest(&location).await;
    let bbb = m.get("BBB").unwrap();
    assert_eq!(bbb.data_points, 2);
    assert_eq!(bbb.first_date.to_string(), "2013-01-02");
    assert_eq!(bbb.last_date.to_string(), "2015-02-02");
    assert_eq!(m.get("AAA").unwrap().data_points, 4);
}

// Racing imports (two and four at once, on a store that yields between
// calls so they interleave) are tested through the public API in
// tools/stockdata/tests/merge.rs (`two_racing_imports`,
// `many_racing_imports_on_memory_keep_every_entry`).

/// The outcome of a merge that inserted one row at `date` into the listed `symbol`.
fn one_row_inserted(symbol: &str, date: &str) -> SymbolOutcome {
    SymbolOutcome {
        symbol: sym(symbol),
        rows: RowCounts {
            inserted: 1,
            replaced: 0,
            unchanged: 0,
        },
        first: date.parse().unwrap(),
        last: date.parse().unwrap(),
        metadata: None,
        was_unlisted: false,
        full: None,
        wrote_partition: true,
    }
}

#[tokio::test]
async fn conflicting_manifest_is_reread_and_reapplied() {
    let location = seeded().await;
    let store = location.store.clone();
    let path = layout::manifest_path(&location.prefix);
    // Read the manifest's version, then let another writer change it:
    // a write against the old version must fail and a merge must retry.
    let stale = read_versioned::<Manifest>(store.as_ref(), &path)
        .await
        .unwrap()
        .unwrap();
    merge(&location, vec![update("ZZZ", vec![bar("2013-01-02", 1.0)])]).await;
    let conflict = put(
        store.as_ref(),
        &path,
        b"{}".to_vec(),
        PutMode::Update(stale.version),
    )
    .await
    .unwrap_err();
    assert!(is_conflict(&conflict), "{conflict}");
    let ctx = Ctx {
        store: store.as_ref(),
        prefix: &location.prefix,
        conditional: true,
        max_attempts: 3,
        written: Mutex::new(Vec::new()),
        failed: AtomicBool::new(false),
    };
    let outcome = one_row_inserted("AAA", "2013-01-04");
    // Start from the stale manifest (without ZZZ): the first put conflicts.
    let stale = read_versioned::<Manifest>(store.as_ref(), &path)
        .await
        .unwrap()
        .map(|mut v| {
            v.version = UpdateVersion {
                e_tag: Some("\"stale\"".into()),
                version: None,
            };
            v
        });
    let done = update_manifest(&ctx, &[outcome], stale).await.unwrap();
    assert_eq!(done.attempts, 2);
    assert!(done.written);
    let m = manifest(&location).await;
    assert!(m.get("ZZZ").is_some());
    assert_eq!(m.get("AAA").unwrap().data_points, 5);
}

#[tokio::test]
async fn failure_part_way_lists_the_objects_already_written() {
    let location = seeded().await;
    let bad = layout::partition_path(&location.prefix, &sym("BBB"), 2013);
    location
        .store
        .put(&bad, PutPayload::from_static(b"not json"))
        .await
        .unwrap();
    let manifest_before = raw(&location, "symbols.json").await;
    let error = merge_import(
        &location,
        vec![
            update("AAA", vec![bar("2013-01-04", 15.0)]),
            update("BBB", vec![bar("2013-01-03", 1.0)]),
        ],
        &MergeOptions {
            concurrency: 1,
            max_attempts: 3,
        },
    )
    .await
    .unwrap_err();
    assert!(matches!(error, MergeError::Corrupt { .. }), "{error}");
    assert_eq!(error.written(), ["data/daily/AAA/2013.json"]);
    let message = error.to_string();
    assert!(
        message.contains("data/daily/BBB/2013.json is corrupt"),
        "{message}"
    );
    assert!(
        message.contains("already written before the failure (1): data/daily/AAA/2013.json"),
        "{message}"
    );
    assert_eq!(raw(&location, "symbols.json").await, manifest_before);
}

#[tokio::test]
async fn non_finite_prices_are_refused_before_any_write() {
    let location = seeded().await;
    let before = snapshot(&location).await;
    let error = merge_import(
        &location,
        vec![update("AAA", vec![bar("2013-01-04", f64::NAN)])],
        &MergeOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(error.to_string().contains("finite"), "{error}");
    assert_eq!(snapshot(&location).await, before);
}
