//! Imports a small CSV into a temporary folder and reads it back through
//! the API's own reader, `shared::storage::StockStore`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::path::Path;
use std::process::Command;

use shared::storage::{StockStore, StorageLocation, StoreOptions};
use shared::symbol::Symbol;
use stockdata::csv_import::{self, Metadata};

/// Two symbols, AAPL across a year boundary, an extra column, a float
/// volume, rows out of order and one bad row.
const CSV: &str = "\
Ticker,Date,Open,High,Low,Close,Volume,Adj Close
AAPL,2012-12-28,510.29,514.48,508.12,509.59,12652500,66.9
AAPL,2012-12-31,510.53,535.4,509.0,532.17,23553300.0,69.9
AAPL,2013-01-03,547.88,549.67,541.0,542.1,12605900,71.2
AAPL,2013-01-02,553.82,555.0,541.63,549.03,20018500,72.1
AAPL,2013-01-04,536.97,538.63,525.83,527.0,21226200,69.2
IBM,2013-01-02,194.09,196.35,193.8,196.35,4234100,170.0
IBM,2013-01-03,195.67,196.29,194.44,195.27,3644700,169.1
IBM,2013-01-0x,1,1,1,1,1,1
";

const META: &str = "\
symbol,name,exchange,currency
AAPL,Apple Inc.,NASDAQ,USD
";

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn sym(s: &str) -> Symbol {
    Symbol::parse(s).unwrap()
}

async fn check_store(root: &Path) {
    let location = StorageLocation::parse(root.to_str().unwrap()).unwrap();
    let store = StockStore::new(location, StoreOptions::default());

    let list = store.symbol_list().await.unwrap();
    assert_eq!(list.symbols, ["AAPL", "IBM"]);
    assert_eq!(list.count, 2);

    let aapl = store.symbol_info(&sym("aapl")).await.unwrap();
    assert_eq!(aapl.name, "Apple Inc.");
    assert_eq!(aapl.exchange, "NASDAQ");
    assert_eq!(aapl.currency, "USD");
    assert_eq!(aapl.first_date.to_string(), "2012-12-28");
    assert_eq!(aapl.last_date.to_string(), "2013-01-04");
    assert_eq!(aapl.data_points, 5);

    // IBM is not in the metadata: defaults.
    let ibm = store.symbol_info(&sym("IBM")).await.unwrap();
    assert_eq!(
        (
            ibm.name.as_str(),
            ibm.exchange.as_str(),
            ibm.currency.as_str()
        ),
        ("IBM", "UNKNOWN", "USD")
    );
    assert_eq!(ibm.data_points, 2);

    let latest = store.latest_price(&sym("AAPL")).await.unwrap();
    assert_eq!(latest.date.to_string(), "2013-01-04");
    assert_eq!(
        (
            latest.open,
            latest.high,
            latest.low,
            latest.close,
            latest.volume
        ),
        (536.97, 538.63, 525.83, 527.0, 21_226_200)
    );
    assert_eq!(latest.change, Some(-15.1)); // 527.0 - 542.1
    assert_eq!(latest.change_percent, Some(-2.79));

    // IBM's first day of its only partition has no previous close; its
    // latest (second) day does.
    let ibm_latest = store.latest_price(&sym("IBM")).await.unwrap();
    assert_eq!(ibm_latest.close, 195.27);
    assert_eq!(ibm_latest.change, Some(-1.08));

    // A window crossing the year boundary reads both partitions, in order.
    let recent = store.recent(&sym("AAPL"), 7).await.unwrap();
    let dates: Vec<String> = recent
        .data_points
        .iter()
        .map(|b| b.date.to_string())
        .collect();
    assert_eq!(
        dates,
        [
            "2012-12-28",
            "2012-12-31",
            "2013-01-02",
            "2013-01-03",
            "2013-01-04"
        ]
    );
    assert_eq!(recent.data_points[1].volume, 23_553_300);
    assert_eq!(recent.data_points[2].close, 549.03);
    let short = store.recent(&sym("AAPL"), 2).await.unwrap();
    assert_eq!(short.data_points.len(), 3); // 2013-01-02 ..= 2013-01-04

    assert!(
        store
            .symbol_info(&sym("MSFT"))
            .await
            .unwrap_err()
            .is_not_found()
    );

    // The 2013 partition carries the last 2012 close.
    let raw: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("daily/AAPL/2013.json")).unwrap()).unwrap();
    assert_eq!(raw["previous_close"], serde_json::json!(532.17));
    let first: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("daily/AAPL/2012.json")).unwrap()).unwrap();
    assert!(first.get("previous_close").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_import_reads_back_through_stock_store() {
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "prices.csv", CSV);
    let meta_path = write(dir.path(), "meta.csv", META);
    let out = dir.path().join("data");
    std::fs::create_dir_all(&out).unwrap();

    let metadata = Metadata::load(&meta_path).unwrap();
    let location = StorageLocation::parse(out.to_str().unwrap()).unwrap();
    let summary = csv_import::import(&input, location, &metadata, 4)
        .await
        .unwrap();
    assert_eq!(summary.symbols, 2);
    assert_eq!(summary.rows, 7);
    assert_eq!(summary.rejected, 1);
    assert_eq!(summary.rejections[0].line, 9);
    assert_eq!(summary.partitions, 3);
    assert_eq!(summary.duplicates, 0);

    check_store(&out).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_import_of_gzip_into_missing_folder() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(CSV.as_bytes()).unwrap();
    let input = dir.path().join("prices.csv.gz");
    std::fs::write(&input, gz.finish().unwrap()).unwrap();
    let meta_path = write(dir.path(), "meta.csv", META);
    let out = dir.path().join("not/yet/there");

    let output = Command::new(env!("CARGO_BIN_EXE_stockdata"))
        .args(["import", "--input"])
        .arg(&input)
        .arg("--to")
        .arg(&out)
        .arg("--meta")
        .arg(&meta_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    // The default mode merges; into an empty folder every row is new.
    assert!(
        stdout.contains(
            "merged 7 rows of 2 symbols: 7 inserted, 0 replaced, 0 unchanged (1 rejected"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("added AAPL, IBM"), "{stdout}");
    assert!(stderr.contains("rejected line 9: bad date"), "{stderr}");

    check_store(&out).await;
}

#[test]
fn cli_rejects_bad_usage_with_exit_code_2() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_stockdata"))
            .args(args)
            .output()
            .unwrap()
    };
    for (args, needle) in [
        (&["import", "--to", "x"][..], "--input"),
        (
            &["synth", "--symbols", "1", "--years", "0", "--to", "x"],
            "between 1 and 200",
        ),
        (
            &[
                "import", "--input", "a", "--to", "b", "--meta", "m", "--names", "n",
            ],
            "multiple times",
        ),
        (&["frobnicate"], "frobnicate"),
    ] {
        let output = run(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
    // Help, asked for or implied by no arguments, is not an error.
    for args in [&[][..], &["help"], &["import", "--help"]] {
        let output = run(args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout.contains("Usage: stockdata"), "{args:?}: {stdout}");
    }
}
