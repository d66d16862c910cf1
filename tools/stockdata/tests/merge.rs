//! Merge imports (the default of `stockdata import`) on every backend:
//! a temp folder (`file://`), process memory (`memory://`) and S3 served by
//! moto (`s3://`, skipped with a message when moto is not reachable at
//! `MOTO_ENDPOINT`, default http://127.0.0.1:5057).
//!
//! Each scenario starts from a copy of `sample-data/` and compares every
//! stored object's bytes before and after.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::path::{Path as FsPath, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use shared::models::{Manifest, Partition};
use shared::storage::{LOCK_FILE, StorageLocation};
use stockdata::csv_import::{self, MergeSummary, Metadata, parse_csv};

/// The delta of the reported scenario: one new day for AAPL.
const ONE_ROW: &str = "Ticker,Date,Open,High,Low,Close,Volume\n\
AAPL,2013-03-04,427.8,428.2,419.0,420.05,20910000\n";

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../sample-data")
}

/// Every sample file as (relative path, bytes).
fn sample_files() -> Vec<(String, Vec<u8>)> {
    fn walk(root: &FsPath, dir: &FsPath, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_str().unwrap();
                out.push((rel.replace('\\', "/"), std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(&sample_dir(), &sample_dir(), &mut out);
    out.sort();
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    File,
    Memory,
    S3,
}

/// A location holding a copy of `sample-data/`, plus what keeps it alive.
struct Target {
    location: StorageLocation,
    dir: Option<tempfile::TempDir>,
}

impl Target {
    fn root(&self) -> Option<&FsPath> {
        self.dir.as_ref().map(|d| d.path())
    }
}

async fn target(kind: Kind, test: &str) -> Option<Target> {
    let (location, dir) = match kind {
        Kind::File => {
            let dir = tempfile::tempdir().unwrap();
            for (rel, bytes) in sample_files() {
                let path = dir.path().join(&rel);
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(path, bytes).unwrap();
            }
            let url = format!("file://{}", dir.path().display());
            (StorageLocation::parse(&url).unwrap(), Some(dir))
        }
        Kind::Memory => (
            StorageLocation::from_store(Arc::new(Yielding(InMemory::new())), "data/v1").unwrap(),
            None,
        ),
        Kind::S3 => (s3(test).await?, None),
    };
    if kind != Kind::File {
        for (rel, bytes) in sample_files() {
            let path = location.prefix.clone().join_path(&rel);
            location
                .store
                .put(&path, PutPayload::from(bytes))
                .await
                .unwrap();
        }
    }
    Some(Target { location, dir })
}

/// An [`InMemory`] store that yields to the scheduler before each read and
/// write, so that imports joined on one task really interleave (a plain
/// `InMemory` completes every call without yielding).
#[derive(Debug)]
struct Yielding(InMemory);

impl std::fmt::Display for Yielding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Yielding({})", self.0)
    }
}

async fn yield_some() {
    for _ in 0..fastrand::usize(0..4) {
        tokio::task::yield_now().await;
    }
}

#[async_trait::async_trait]
impl ObjectStore for Yielding {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        yield_some().await;
        self.0.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.0.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        yield_some().await;
        self.0.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<Bytes>> {
        self.0.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        self.0.delete_stream(locations)
    }

    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.0.list(prefix)
    }

    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.0.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.0.copy_opts(from, to, options).await
    }
}

trait JoinPath {
    fn join_path(self, rel: &str) -> Path;
}

impl JoinPath for Path {
    fn join_path(self, rel: &str) -> Path {
        rel.split('/').fold(self, |path, part| path.join(part))
    }
}

/// An empty bucket on moto (the integration tests' S3 backend), or `None`
/// (with a message) when moto is absent.
async fn s3(test: &str) -> Option<StorageLocation> {
    let store =
        integration_tests::backends::empty(integration_tests::backends::BackendKind::S3, test)
            .await?;
    Some(store.location.clone())
}

/// Every object (path relative to the prefix → bytes), without the lock file.
async fn snapshot(location: &StorageLocation) -> BTreeMap<String, Bytes> {
    let listed: Vec<Path> = location
        .store
        .list(Some(&location.prefix))
        .map(|m| m.unwrap().location)
        .collect()
        .await;
    let mut all = BTreeMap::new();
    for path in listed {
        let rel = path
            .prefix_match(&location.prefix)
            .unwrap()
            .map(|p| p.as_ref().to_string())
            .collect::<Vec<_>>()
            .join("/");
        if rel == LOCK_FILE {
            continue;
        }
        let bytes = location.store.get(&path).await.unwrap().bytes().await;
        all.insert(rel, bytes.unwrap());
    }
    all
}

fn changed(before: &BTreeMap<String, Bytes>, after: &BTreeMap<String, Bytes>) -> Vec<String> {
    let mut paths: Vec<String> = after
        .iter()
        .filter(|(path, bytes)| before.get(*path) != Some(*bytes))
        .map(|(path, _)| path.clone())
        .collect();
    paths.extend(before.keys().filter(|p| !after.contains_key(*p)).cloned());
    paths.sort();
    paths
}

fn manifest(snap: &BTreeMap<String, Bytes>) -> Manifest {
    serde_json::from_slice(&snap["symbols.json"]).unwrap()
}

fn partition(snap: &BTreeMap<String, Bytes>, symbol: &str, year: i32) -> Partition {
    serde_json::from_slice(&snap[&format!("daily/{symbol}/{year}.json")]).unwrap()
}

async fn merge_csv(location: &StorageLocation, csv: &str) -> MergeSummary {
    let parsed = parse_csv(csv.as_bytes()).unwrap();
    csv_import::merge_parsed(parsed, location, &Metadata::default(), 4, Instant::now())
        .await
        .unwrap()
}

fn rel_paths(location: &StorageLocation, paths: &[String]) -> Vec<String> {
    let prefix = location.prefix.as_ref();
    paths
        .iter()
        .map(|p| {
            if prefix.is_empty() {
                p.clone()
            } else {
                p.strip_prefix(&format!("{prefix}/")).unwrap().to_string()
            }
        })
        .collect()
}

/// Runs `scenario` on a fresh sample copy on every backend.
macro_rules! on_every_backend {
    ($name:ident, $scenario:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for kind in [Kind::File, Kind::Memory, Kind::S3] {
                let Some(target) = target(kind, stringify!($name)).await else {
                    continue;
                };
                $scenario(&target, kind).await;
            }
        }
    };
}

async fn one_new_day_changes_only_its_partition_and_the_manifest(target: &Target, kind: Kind) {
    let location = &target.location;
    let before = snapshot(location).await;
    let old_manifest = manifest(&before);
    let old_2013 = partition(&before, "AAPL", 2013);

    let summary = merge_csv(location, ONE_ROW).await;
    let report = &summary.report;
    let after = snapshot(location).await;

    assert_eq!(
        changed(&before, &after),
        ["daily/AAPL/2013.json", "symbols.json"],
        "{kind:?}: every other object stays byte-identical"
    );
    assert_eq!(
        rel_paths(location, &report.partitions_written),
        ["daily/AAPL/2013.json"]
    );
    assert_eq!(report.touched.len(), 1);
    assert_eq!(report.touched[0].as_str(), "AAPL");
    assert!(!report.symbol_set_changed);
    assert!(report.manifest_written);
    assert_eq!(
        (
            report.rows_inserted,
            report.rows_replaced,
            report.rows_unchanged
        ),
        (1, 0, 0)
    );

    let new_manifest = manifest(&after);
    let names: Vec<&str> = new_manifest
        .symbols
        .iter()
        .map(|s| s.symbol.as_str())
        .collect();
    assert_eq!(names, ["AAPL", "FB", "GOOG", "IBM", "MSFT"], "{kind:?}");
    for (old, new) in old_manifest.symbols.iter().zip(&new_manifest.symbols) {
        if old.symbol != "AAPL" {
            assert_eq!(old, new, "{kind:?}: untouched entries stay as they were");
        }
    }
    let (old_aapl, aapl) = (
        old_manifest.get("AAPL").unwrap(),
        new_manifest.get("AAPL").unwrap(),
    );
    assert_eq!(aapl.data_points, old_aapl.data_points + 1);
    assert_eq!(aapl.data_points, 3271);
    assert_eq!(aapl.last_date.to_string(), "2013-03-04");
    assert_eq!(aapl.first_date, old_aapl.first_date);
    assert_eq!(
        (aapl.name.as_str(), aapl.exchange.as_str()),
        ("Apple Inc.", "NASDAQ")
    );

    let new_2013 = partition(&after, "AAPL", 2013);
    assert_eq!(old_2013.data_points.len(), 41);
    assert_eq!(new_2013.data_points.len(), 42);
    assert_eq!(new_2013.previous_close, Some(532.1729));
    assert_eq!(new_2013.previous_close, old_2013.previous_close);
    assert_eq!(&new_2013.data_points[..41], &old_2013.data_points[..]);
    let last = &new_2013.data_points[41];
    assert_eq!(last.date.to_string(), "2013-03-04");
    assert_eq!(
        (last.open, last.high, last.low, last.close, last.volume),
        (427.8, 428.2, 419.0, 420.05, 20_910_000)
    );
}
on_every_backend!(
    sample_one_new_day_is_merged_not_replaced,
    one_new_day_changes_only_its_partition_and_the_manifest
);

async fn correction_replaces_the_bar(target: &Target, kind: Kind) {
    let location = &target.location;
    let before = snapshot(location).await;
    let summary = merge_csv(
        location,
        "Ticker,Date,Open,High,Low,Close,Volume\nMSFT,2013-03-01,27.72,28.05,27.61,27.95,1000\n",
    )
    .await;
    let report = &summary.report;
    assert_eq!(
        (
            report.rows_inserted,
            report.rows_replaced,
            report.rows_unchanged
        ),
        (0, 1, 0),
        "{kind:?}"
    );
    let after = snapshot(location).await;
    // Range and count are unchanged, so the manifest is not rewritten.
    assert_eq!(
        changed(&before, &after),
        ["daily/MSFT/2013.json"],
        "{kind:?}"
    );
    assert!(!report.manifest_written);
    assert_eq!(report.touched.len(), 1);
    let old = partition(&before, "MSFT", 2013);
    let new = partition(&after, "MSFT", 2013);
    assert_eq!(new.data_points.len(), old.data_points.len());
    let bar = new.data_points.last().unwrap();
    assert_eq!((bar.close, bar.volume), (27.95, 1000));
    assert_ne!(old.data_points.last(), new.data_points.last());
    assert_eq!(manifest(&after), manifest(&before));
}
on_every_backend!(correction_of_a_stored_day, correction_replaces_the_bar);

async fn year_end_fixes_relink_the_next_year(target: &Target, kind: Kind) {
    let location = &target.location;
    let before = snapshot(location).await;
    // Correct IBM's last 2012 bar and backfill a day before IBM's first year.
    let summary = merge_csv(
        location,
        "Ticker,Date,Open,High,Low,Close,Volume\n\
         IBM,2012-12-31,190,192,189,191.5,1\n\
         IBM,1999-12-31,110,112,109,111.25,2\n",
    )
    .await;
    let report = &summary.report;
    assert_eq!((report.rows_inserted, report.rows_replaced), (1, 1));
    let after = snapshot(location).await;
    assert_eq!(
        changed(&before, &after),
        [
            "daily/IBM/1999.json",
            "daily/IBM/2000.json",
            "daily/IBM/2012.json",
            "daily/IBM/2013.json",
            "symbols.json"
        ],
        "{kind:?}"
    );
    assert_eq!(partition(&after, "IBM", 2013).previous_close, Some(191.5));
    assert_eq!(partition(&after, "IBM", 2000).previous_close, Some(111.25));
    assert_eq!(partition(&after, "IBM", 1999).previous_close, None);
    // 2000's bars are untouched; only its previous_close changed.
    assert_eq!(
        partition(&after, "IBM", 2000).data_points,
        partition(&before, "IBM", 2000).data_points
    );
    let ibm = manifest(&after).get("IBM").cloned().unwrap();
    assert_eq!(ibm.first_date.to_string(), "1999-12-31");
    assert_eq!(
        ibm.data_points,
        manifest(&before).get("IBM").unwrap().data_points + 1
    );
}
on_every_backend!(
    backfill_and_year_end_correction,
    year_end_fixes_relink_the_next_year
);

async fn second_import_writes_nothing(target: &Target, kind: Kind) {
    let location = &target.location;
    let csv = "Ticker,Date,Open,High,Low,Close,Volume\n\
               AAPL,2013-03-04,427.8,428.2,419.0,420.05,20910000\n\
               GOOG,2013-03-01,1,2,0.5,1.5,3\n\
               NEWCO,2013-03-04,5,6,4,5.5,7\n";
    let first = merge_csv(location, csv).await;
    assert_eq!(first.report.rows_inserted, 2);
    assert_eq!(first.report.rows_replaced, 1);
    let before = snapshot(location).await;
    let second = merge_csv(location, csv).await;
    let report = &second.report;
    assert_eq!(
        (
            report.rows_inserted,
            report.rows_replaced,
            report.rows_unchanged
        ),
        (0, 0, 3),
        "{kind:?}"
    );
    assert!(report.partitions_written.is_empty(), "{kind:?}");
    assert!(!report.manifest_written);
    assert!(report.touched.is_empty());
    assert!(!report.symbol_set_changed);
    assert_eq!(snapshot(location).await, before, "{kind:?}: byte-identical");
}
on_every_backend!(importing_twice_is_idempotent, second_import_writes_nothing);

async fn new_symbol_changes_the_set(target: &Target, kind: Kind) {
    let location = &target.location;
    let before = snapshot(location).await;
    let summary = merge_csv(
        location,
        "Ticker,Date,Open,High,Low,Close,Volume\nNEWCO,2013-03-04,5,6,4,5.5,7\nNEWCO,2012-12-31,4,5,3,4.5,7\n",
    )
    .await;
    let report = &summary.report;
    assert!(report.symbol_set_changed, "{kind:?}");
    assert_eq!(report.symbols_added.len(), 1);
    assert_eq!(report.touched[0].as_str(), "NEWCO");
    let after = snapshot(location).await;
    assert_eq!(
        changed(&before, &after),
        [
            "daily/NEWCO/2012.json",
            "daily/NEWCO/2013.json",
            "symbols.json"
        ]
    );
    let m = manifest(&after);
    assert_eq!(m.symbols.len(), 6);
    let newco = m.get("NEWCO").unwrap();
    assert_eq!(
        (
            newco.name.as_str(),
            newco.exchange.as_str(),
            newco.currency.as_str()
        ),
        ("NEWCO", "UNKNOWN", "USD")
    );
    assert_eq!(newco.data_points, 2);
    assert_eq!(partition(&after, "NEWCO", 2013).previous_close, Some(4.5));
}
on_every_backend!(new_symbol_is_added, new_symbol_changes_the_set);

async fn racing_imports_lose_nothing(target: &Target, kind: Kind) {
    let location = &target.location;
    let a = "Ticker,Date,Open,High,Low,Close,Volume\n\
             AAPL,2013-03-04,427.8,428.2,419.0,420.05,20910000\n\
             ALPHA,2013-03-04,1,1,1,1,1\n";
    let b = "Ticker,Date,Open,High,Low,Close,Volume\n\
             AAPL,2013-03-05,420,421,419,420.5,100\n\
             FB,2013-03-04,27,28,26,27.5,100\n\
             BETA,2013-03-04,2,2,2,2,2\n";
    let (ra, rb) = tokio::join!(merge_csv(location, a), merge_csv(location, b));
    assert_eq!(ra.report.rows_inserted + rb.report.rows_inserted, 5);
    let after = snapshot(location).await;
    let m = manifest(&after);
    let names: Vec<&str> = m.symbols.iter().map(|s| s.symbol.as_str()).collect();
    assert_eq!(
        names,
        ["AAPL", "ALPHA", "BETA", "FB", "GOOG", "IBM", "MSFT"],
        "{kind:?}: both imports' entries survive"
    );
    assert_eq!(m.get("AAPL").unwrap().data_points, 3272, "{kind:?}");
    assert_eq!(m.get("AAPL").unwrap().last_date.to_string(), "2013-03-05");
    assert_eq!(m.get("FB").unwrap().data_points, 197);
    let aapl = partition(&after, "AAPL", 2013);
    assert_eq!(aapl.data_points.len(), 43, "{kind:?}: both new days kept");
}
on_every_backend!(two_racing_imports, racing_imports_lose_nothing);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_racing_imports_on_memory_keep_every_entry() {
    let mut conflicts = 0;
    for round in 0..10 {
        let target = target(Kind::Memory, "many").await.unwrap();
        let location = &target.location;
        let imports = (0..4).map(|i| {
            let csv = format!(
                "Ticker,Date,Open,High,Low,Close,Volume\n\
                 AAPL,2013-03-{:02},1,1,1,1,1\n\
                 NEW{i},2013-03-04,1,1,1,1,1\n",
                4 + i
            );
            async move { merge_csv(location, &csv).await }
        });
        let reports = futures::future::join_all(imports).await;
        conflicts += reports
            .iter()
            .filter(|r| r.report.manifest_attempts > 1)
            .count();
        let inserted: u64 = reports.iter().map(|r| r.report.rows_inserted).sum();
        assert_eq!(inserted, 8, "round {round}");
        let m = manifest(&snapshot(location).await);
        assert_eq!(m.symbols.len(), 9, "round {round}");
        assert_eq!(m.get("AAPL").unwrap().data_points, 3274, "round {round}");
    }
    assert!(
        conflicts > 0,
        "the imports never conflicted: the test proves nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_mode_still_rewrites_the_data_set() {
    let target = target(Kind::File, "replace").await.unwrap();
    let location = target.location.clone();
    let parsed = parse_csv(ONE_ROW.as_bytes()).unwrap();
    let summary =
        csv_import::import_parsed(parsed, location, &Metadata::default(), 4, Instant::now())
            .await
            .unwrap();
    assert_eq!(summary.partitions, 1);
    let after = snapshot(&target.location).await;
    let m = manifest(&after);
    assert_eq!(m.symbols.len(), 1);
    assert_eq!(m.symbols[0].data_points, 1);
    assert_eq!(m.symbols[0].name, "AAPL", "defaults: the metadata is gone");
    let p = partition(&after, "AAPL", 2013);
    assert_eq!(p.data_points.len(), 1);
    assert_eq!(p.previous_close, None);
    // Other symbols' partitions are left behind, unlisted.
    assert!(after.contains_key("daily/MSFT/2013.json"));
}

fn stockdata(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stockdata"))
        .args(args)
        // No cache here: tests/cache.rs covers the invalidation.
        .env_remove("UPSTASH_REDIS_REST_URL")
        .env_remove("UPSTASH_REDIS_URL")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_merges_by_default_and_replaces_on_request() {
    let target = target(Kind::File, "cli").await.unwrap();
    let root = target.root().unwrap().to_path_buf();
    let input = root.join("delta.csv");
    let before = snapshot(&target.location).await;
    std::fs::write(&input, ONE_ROW).unwrap();
    let to = root.as_os_str();
    let out = stockdata(&[
        "import".as_ref(),
        "--input".as_ref(),
        input.as_os_str(),
        "--to".as_ref(),
        to,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 inserted, 0 replaced, 0 unchanged"),
        "{stdout}"
    );
    assert!(stdout.contains("  touched:     1 (AAPL)"), "{stdout}");
    assert!(stdout.contains("  symbol set:  unchanged"), "{stdout}");
    assert!(stdout.contains("  manifest:    written"), "{stdout}");
    assert!(
        stdout.contains("  partitions written: 1\n    daily/AAPL/2013.json\n"),
        "{stdout}"
    );
    let after = snapshot(&target.location).await;
    let mut expected_changed = vec!["daily/AAPL/2013.json", "delta.csv", "symbols.json"];
    expected_changed.sort();
    assert_eq!(changed(&before, &after), expected_changed);
    assert!(root.join(LOCK_FILE).exists(), "the lock file stays (empty)");

    // Again: nothing to do.
    let out = stockdata(&[
        "import".as_ref(),
        "--input".as_ref(),
        input.as_os_str(),
        "--to".as_ref(),
        to,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 inserted, 0 replaced, 1 unchanged"),
        "{stdout}"
    );
    assert!(stdout.contains("  partitions written: 0"), "{stdout}");
    assert!(
        stdout.contains("  manifest:    unchanged, not written"),
        "{stdout}"
    );
    assert_eq!(snapshot(&target.location).await, after);

    // No valid row: a clear error, nothing changes.
    let bad = root.join("bad.csv");
    std::fs::write(
        &bad,
        "Ticker,Date,Open,High,Low,Close,Volume\nAAPL,2013-02-30,1,1,1,1,1\n",
    )
    .unwrap();
    let out = stockdata(&[
        "import".as_ref(),
        "--input".as_ref(),
        bad.as_os_str(),
        "--to".as_ref(),
        to,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("no valid rows (1 rejected)"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    let mut unchanged = snapshot(&target.location).await;
    unchanged.remove("bad.csv");
    assert_eq!(unchanged, after);

    // --replace: today's full rewrite.
    let out = stockdata(&[
        "import".as_ref(),
        "--replace".as_ref(),
        "--input".as_ref(),
        input.as_os_str(),
        "--to".as_ref(),
        to,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("mode:       replace"), "{stdout}");
    let m = manifest(&snapshot(&target.location).await);
    assert_eq!(m.symbols.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_imports_are_serialised_by_the_file_lock() {
    let target = target(Kind::File, "lock").await.unwrap();
    let location = &target.location;
    let held = shared::storage::ImportLock::acquire(location)
        .await
        .unwrap();
    let merge = merge_csv(location, ONE_ROW);
    tokio::pin!(merge);
    // While another import holds the lock, this one waits.
    let waited = tokio::time::timeout(Duration::from_millis(300), &mut merge).await;
    assert!(waited.is_err(), "the merge must wait for the lock");
    assert!(!snapshot(location).await.is_empty());
    assert_eq!(
        partition(&snapshot(location).await, "AAPL", 2013)
            .data_points
            .len(),
        41
    );
    drop(held);
    let summary = merge.await;
    assert_eq!(summary.report.rows_inserted, 1);
}

/// The race safety on S3 rests on the emulator honouring conditional PUTs
/// (`If-Match` for updates, `If-None-Match: *` for creates).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_emulator_honours_conditional_puts() {
    use object_store::{PutMode, PutOptions, UpdateVersion};
    let Some(location) = s3("conditional_puts").await else {
        return;
    };
    let path = location.prefix.clone().join("k.json");
    let first = location
        .store
        .put(&path, PutPayload::from_static(b"1"))
        .await
        .unwrap();
    let stale = UpdateVersion {
        e_tag: Some("\"0123456789abcdef0123456789abcdef\"".into()),
        version: None,
    };
    let error = location
        .store
        .put_opts(
            &path,
            PutPayload::from_static(b"2"),
            PutOptions::from(PutMode::Update(stale)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, object_store::Error::Precondition { .. }),
        "{error}"
    );
    let error = location
        .store
        .put_opts(
            &path,
            PutPayload::from_static(b"3"),
            PutOptions::from(PutMode::Create),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(error, object_store::Error::AlreadyExists { .. }),
        "{error}"
    );
    location
        .store
        .put_opts(
            &path,
            PutPayload::from_static(b"4"),
            PutOptions::from(PutMode::Update(UpdateVersion::from(first))),
        )
        .await
        .unwrap();
    let now = location
        .store
        .get(&path)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(now.as_ref(), b"4");
}
