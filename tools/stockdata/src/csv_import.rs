//! Importing a CSV of daily OHLCV rows (optionally gzip-compressed).
//!
//! The header must name the columns `Ticker` (or `Symbol`), `Date`, `Open`,
//! `High`, `Low`, `Close` and `Volume`, in any case and order; other columns
//! are ignored. A row that cannot be used (bad number, bad date, invalid
//! symbol, missing field) is counted as rejected and skipped, never fatal.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use shared::models::DailyBar;
use shared::storage::{
    DatasetWriter, ImportLock, MergeOptions, MergeReport, StorageLocation, SymbolMetadata,
    SymbolSeries, SymbolUpdate, merge_import,
};
use shared::symbol::Symbol;

use crate::output::write_symbols;

/// How many rejected rows are kept with their reason for the report.
pub const MAX_REPORTED_REJECTS: usize = 20;

/// Default exchange of a symbol missing from the metadata.
pub const DEFAULT_EXCHANGE: &str = shared::storage::DEFAULT_EXCHANGE;

/// Default currency of a symbol missing from the metadata.
pub const DEFAULT_CURRENCY: &str = shared::storage::DEFAULT_CURRENCY;

/// The import could not run at all (as opposed to single rejected rows).
#[derive(Debug)]
pub struct ImportError(pub String);

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ImportError {}

/// Opens `path` for reading, decompressing it when it starts with the gzip
/// magic bytes (`1f 8b`) or its name ends in `.gz`.
pub fn open_input(path: &Path) -> Result<Box<dyn Read + Send>, ImportError> {
    let file = File::open(path)
        .map_err(|e| ImportError(format!("cannot open {}: {e}", path.display())))?;
    let named_gz = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("gz"));
    maybe_gunzip(BufReader::new(file), named_gz)
        .map_err(|e| ImportError(format!("cannot read {}: {e}", path.display())))
}

/// Wraps `reader` in a gzip decoder when its first bytes are the gzip magic
/// number or `force_gzip` is set.
pub fn maybe_gunzip<R: BufRead + Send + 'static>(
    mut reader: R,
    force_gzip: bool,
) -> std::io::Result<Box<dyn Read + Send>> {
    let head = reader.fill_buf()?;
    let magic = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    if magic || force_gzip {
        Ok(Box::new(MultiGzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

/// Positions of the needed columns in the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Columns {
    symbol: usize,
    date: usize,
    open: usize,
    high: usize,
    low: usize,
    close: usize,
    volume: usize,
}

impl Columns {
    /// Finds the columns in `header`, case-insensitively.
    pub fn from_header(header: &csv::StringRecord) -> Result<Self, ImportError> {
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_ascii_lowercase())
            .collect();
        let find = |wanted: &[&str]| -> Result<usize, ImportError> {
            wanted
                .iter()
                .find_map(|w| names.iter().position(|n| n == w))
                .ok_or_else(|| {
                    ImportError(format!(
                        "CSV header has no {} column (header: {})",
                        wanted.join(" or "),
                        header.iter().collect::<Vec<_>>().join(",")
                    ))
                })
        };
        Ok(Columns {
            symbol: find(&["ticker", "symbol"])?,
            date: find(&["date"])?,
            open: find(&["open"])?,
            high: find(&["high"])?,
            low: find(&["low"])?,
            close: find(&["close"])?,
            volume: find(&["volume"])?,
        })
    }

    /// Parses one data row.
    pub fn parse_row(&self, row: &csv::StringRecord) -> Result<(Symbol, DailyBar), String> {
        let field = |index: usize, name: &str| -> Result<&str, String> {
            row.get(index)
                .map(str::trim)
                .ok_or_else(|| format!("missing {name} field"))
        };
        let raw_symbol = field(self.symbol, "symbol")?;
        let symbol =
            Symbol::parse(raw_symbol).map_err(|_| format!("invalid symbol {raw_symbol:?}"))?;
        let date = parse_date(field(self.date, "date")?)?;
        let open = parse_price(field(self.open, "open")?, "open")?;
        let high = parse_price(field(self.high, "high")?, "high")?;
        let low = parse_price(field(self.low, "low")?, "low")?;
        let close = parse_price(field(self.close, "close")?, "close")?;
        let volume = parse_volume(field(self.volume, "volume")?)?;
        if low > high {
            return Err(format!("low {low} is above high {high}"));
        }
        Ok((
            symbol,
            DailyBar {
                date,
                open,
                high,
                low,
                close,
                volume,
            },
        ))
    }
}

/// Parses `YYYY-MM-DD`, allowing a trailing time part (`2013-03-01 00:00:00`,
/// `2013-03-01T00:00:00Z`).
pub fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    let day = match raw.get(..10) {
        Some(day) if raw.len() == 10 || matches!(raw.as_bytes()[10], b' ' | b'T') => day,
        _ => raw,
    };
    NaiveDate::parse_from_str(day, "%Y-%m-%d").map_err(|_| format!("bad date {raw:?}"))
}

/// Parses a price: a finite, non-negative decimal number.
pub fn parse_price(raw: &str, name: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("bad {name} {raw:?}")),
    }
}

/// Parses a volume: a non-negative integer, or a float such as `1234.0`
/// (rounded to the nearest integer).
pub fn parse_volume(raw: &str) -> Result<u64, String> {
    if let Ok(value) = raw.parse::<u64>() {
        return Ok(value);
    }
    match raw.parse::<f64>() {
        // 1.8e19 is just below u64::MAX; larger values are nonsense anyway.
        Ok(value) if (0.0..1.8e19).contains(&value) => Ok(value.round() as u64),
        _ => Err(format!("bad volume {raw:?}")),
    }
}

/// One rejected row and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// What was wrong.
    pub reason: String,
}

/// The rows of a CSV, grouped by symbol.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParsedCsv {
    /// Accepted bars per symbol, in file order.
    pub series: BTreeMap<Symbol, Vec<DailyBar>>,
    /// Accepted rows.
    pub rows: u64,
    /// Rejected rows.
    pub rejected: u64,
    /// The first [`MAX_REPORTED_REJECTS`] rejected rows.
    pub rejections: Vec<Rejection>,
}

impl ParsedCsv {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_REPORTED_REJECTS {
            self.rejections.push(Rejection { line, reason });
        }
    }
}

/// Parses CSV text from `reader`. Fails only when the input cannot be read
/// or the header lacks a needed column.
pub fn parse_csv<R: Read>(reader: R) -> Result<ParsedCsv, ImportError> {
    let mut csv = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(reader);
    let header = csv
        .headers()
        .map_err(|e| ImportError(format!("cannot read CSV header: {e}")))?
        .clone();
    let columns = Columns::from_header(&header)?;
    let mut parsed = ParsedCsv::default();
    let mut record = csv::StringRecord::new();
    loop {
        let line_hint = csv.position().line() + 1;
        match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line_hint, |p| p.line());
                if record.iter().all(str::is_empty) {
                    continue;
                }
                match columns.parse_row(&record) {
                    Ok((symbol, bar)) => {
                        parsed.rows += 1;
                        parsed.series.entry(symbol).or_default().push(bar);
                    }
                    Err(reason) => parsed.reject(line, reason),
                }
            }
            Err(e) => match e.kind() {
                csv::ErrorKind::Io(_) => return Err(ImportError(format!("cannot read CSV: {e}"))),
                _ => {
                    let line = e.position().map_or(line_hint, |p| p.line());
                    parsed.reject(line, format!("unreadable row: {e}"));
                }
            },
        }
    }
    Ok(parsed)
}

/// Descriptive data of one symbol.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct SymbolMeta {
    /// Ticker (validated and upper-cased when loaded).
    pub symbol: String,
    /// Company name.
    pub name: String,
    /// Listing exchange.
    pub exchange: String,
    /// Trading currency (ISO 4217).
    pub currency: String,
}

/// Symbol metadata keyed by upper-case symbol.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata(HashMap<String, SymbolMeta>);

impl Metadata {
    /// Loads metadata from a CSV file (header `symbol,name,exchange,currency`)
    /// or, when the name ends in `.json`, a JSON array of objects with those keys.
    pub fn load(path: &Path) -> Result<Self, ImportError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ImportError(format!("cannot read {}: {e}", path.display())))?;
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let entries = if is_json {
            serde_json::from_str::<Vec<SymbolMeta>>(&text)
                .map_err(|e| ImportError(format!("{}: {e}", path.display())))?
        } else {
            Self::parse_csv(&text).map_err(|e| ImportError(format!("{}: {e}", path.display())))?
        };
        Self::from_entries(entries)
    }

    /// Parses the CSV form of the metadata.
    pub fn parse_csv(text: &str) -> Result<Vec<SymbolMeta>, String> {
        let mut reader = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let headers = reader.headers().map_err(|e| e.to_string())?;
        let lower = csv::StringRecord::from(
            headers
                .iter()
                .map(|h| h.trim_start_matches('\u{feff}').to_ascii_lowercase())
                .collect::<Vec<_>>(),
        );
        reader.set_headers(lower);
        reader
            .deserialize::<SymbolMeta>()
            .map(|row| row.map_err(|e| e.to_string()))
            .collect()
    }

    /// Builds the map, validating every symbol.
    pub fn from_entries(entries: Vec<SymbolMeta>) -> Result<Self, ImportError> {
        let mut map = HashMap::new();
        for mut entry in entries {
            let symbol = Symbol::parse(&entry.symbol).map_err(|_| {
                ImportError(format!("metadata has invalid symbol {:?}", entry.symbol))
            })?;
            entry.symbol = symbol.to_string();
            if map.insert(entry.symbol.clone(), entry).is_some() {
                return Err(ImportError(format!("metadata lists {symbol} twice")));
            }
        }
        Ok(Metadata(map))
    }

    /// The metadata of `symbol`, or the defaults (name = symbol,
    /// exchange = `UNKNOWN`, currency = `USD`).
    pub fn for_symbol(&self, symbol: &Symbol) -> SymbolMeta {
        self.0
            .get(symbol.as_str())
            .cloned()
            .unwrap_or_else(|| SymbolMeta {
                symbol: symbol.to_string(),
                name: symbol.to_string(),
                exchange: DEFAULT_EXCHANGE.to_string(),
                currency: DEFAULT_CURRENCY.to_string(),
            })
    }

    /// The metadata given for `symbol`, if the file lists it.
    pub fn given(&self, symbol: &Symbol) -> Option<SymbolMetadata> {
        self.0.get(symbol.as_str()).map(|m| SymbolMetadata {
            name: m.name.clone(),
            exchange: m.exchange.clone(),
            currency: m.currency.clone(),
        })
    }

    /// Symbols listed in the metadata, sorted.
    pub fn symbols(&self) -> Vec<String> {
        let mut symbols: Vec<String> = self.0.keys().cloned().collect();
        symbols.sort();
        symbols
    }
}

/// Result of [`import`].
#[derive(Clone, Debug, PartialEq)]
pub struct ImportSummary {
    /// Symbols written.
    pub symbols: usize,
    /// Accepted rows.
    pub rows: u64,
    /// Rejected rows.
    pub rejected: u64,
    /// The first rejected rows with their reasons.
    pub rejections: Vec<Rejection>,
    /// Accepted rows that repeated a symbol's date (the later row wins).
    pub duplicates: u64,
    /// Partition objects written.
    pub partitions: u64,
    /// Symbols in the metadata that had no rows.
    pub unused_metadata: Vec<String>,
    /// Wall time of the whole import.
    pub elapsed: Duration,
}

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "imported {} symbols, {} rows ({} rejected, {} duplicate dates), {} partitions in {:.2?}",
            self.symbols, self.rows, self.rejected, self.duplicates, self.partitions, self.elapsed
        )
    }
}

/// Imports the CSV at `input` into `location`, REPLACING the data set: one
/// partition per symbol and year, then a manifest listing only the input's
/// symbols. Symbols are written `concurrency` at a time. See [`merge`] for
/// the default mode of the tool.
pub async fn import(
    input: &Path,
    location: StorageLocation,
    metadata: &Metadata,
    concurrency: usize,
) -> Result<ImportSummary, ImportError> {
    let started = Instant::now();
    let reader = open_input(input)?;
    let parsed = tokio::task::spawn_blocking(move || parse_csv(reader))
        .await
        .map_err(|e| ImportError(format!("CSV parser failed: {e}")))??;
    import_parsed(parsed, location, metadata, concurrency, started).await
}

/// Fails when `parsed` holds no valid row (nothing is written then).
fn require_rows(parsed: &ParsedCsv) -> Result<(), ImportError> {
    if parsed.rows > 0 {
        return Ok(());
    }
    Err(ImportError(format!(
        "no valid rows ({} rejected){}; nothing was written",
        parsed.rejected,
        parsed
            .rejections
            .first()
            .map(|r| format!("; line {}: {}", r.line, r.reason))
            .unwrap_or_default()
    )))
}

/// Accepted rows of `bars` that repeat an earlier row's date.
fn duplicate_dates(bars: &[DailyBar]) -> u64 {
    let mut dates: Vec<NaiveDate> = bars.iter().map(|b| b.date).collect();
    dates.sort_unstable();
    dates.dedup();
    (bars.len() - dates.len()) as u64
}

/// Writes already parsed rows, replacing the data set (see [`import`]).
pub async fn import_parsed(
    parsed: ParsedCsv,
    location: StorageLocation,
    metadata: &Metadata,
    concurrency: usize,
    started: Instant,
) -> Result<ImportSummary, ImportError> {
    require_rows(&parsed)?;
    let _lock = ImportLock::acquire(&location)
        .await
        .map_err(|e| ImportError(e.to_string()))?;
    let mut duplicates = 0;
    let mut jobs = Vec::with_capacity(parsed.series.len());
    for (symbol, bars) in parsed.series {
        duplicates += duplicate_dates(&bars);
        let meta = metadata.for_symbol(&symbol);
        let series = SymbolSeries {
            symbol,
            name: meta.name,
            exchange: meta.exchange,
            currency: meta.currency,
            bars,
        };
        jobs.push(move || series);
    }
    let writer = DatasetWriter::new(location);
    let stats = write_symbols(&writer, jobs, concurrency)
        .await
        .map_err(|e| ImportError(format!("writing failed: {e}")))?;
    let unused_metadata = metadata
        .symbols()
        .into_iter()
        .filter(|s| {
            stats
                .infos
                .binary_search_by(|i| i.symbol.as_str().cmp(s))
                .is_err()
        })
        .collect();
    Ok(ImportSummary {
        symbols: stats.infos.len(),
        rows: parsed.rows,
        rejected: parsed.rejected,
        rejections: parsed.rejections,
        duplicates,
        partitions: stats.partitions,
        unused_metadata,
        elapsed: started.elapsed(),
    })
}

/// Result of [`merge`].
#[derive(Clone, Debug, PartialEq)]
pub struct MergeSummary {
    /// What the merge changed.
    pub report: MergeReport,
    /// Symbols in the input.
    pub symbols: usize,
    /// Accepted rows.
    pub rows: u64,
    /// Rejected rows.
    pub rejected: u64,
    /// The first rejected rows with their reasons.
    pub rejections: Vec<Rejection>,
    /// Accepted rows that repeated a symbol's date (the later row wins).
    pub duplicates: u64,
    /// Symbols in the metadata that had no rows.
    pub unused_metadata: Vec<String>,
    /// Wall time of the whole import.
    pub elapsed: Duration,
}

impl std::fmt::Display for MergeSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = &self.report;
        write!(
            f,
            "merged {} rows of {} symbols: {} inserted, {} replaced, {} unchanged \
             ({} rejected, {} duplicate dates); {} partitions written, manifest {} in {:.2?}",
            self.rows,
            self.symbols,
            r.rows_inserted,
            r.rows_replaced,
            r.rows_unchanged,
            self.rejected,
            self.duplicates,
            r.partitions_written.len(),
            if r.manifest_written {
                "written"
            } else {
                "unchanged"
            },
            self.elapsed
        )
    }
}

/// Merges the CSV at `input` into the data set at `location` (upsert by
/// symbol and date; see [`shared::storage::merge_import`]).
pub async fn merge(
    input: &Path,
    location: &StorageLocation,
    metadata: &Metadata,
    concurrency: usize,
) -> Result<MergeSummary, ImportError> {
    let started = Instant::now();
    let reader = open_input(input)?;
    let parsed = tokio::task::spawn_blocking(move || parse_csv(reader))
        .await
        .map_err(|e| ImportError(format!("CSV parser failed: {e}")))??;
    merge_parsed(parsed, location, metadata, concurrency, started).await
}

/// Merges already parsed rows (see [`merge`]). Metadata is applied to the
/// symbols it lists; other symbols keep theirs (new ones get the defaults).
pub async fn merge_parsed(
    parsed: ParsedCsv,
    location: &StorageLocation,
    metadata: &Metadata,
    concurrency: usize,
    started: Instant,
) -> Result<MergeSummary, ImportError> {
    require_rows(&parsed)?;
    let symbols = parsed.series.len();
    let mut duplicates = 0;
    let mut updates = Vec::with_capacity(symbols);
    for (symbol, bars) in parsed.series {
        duplicates += duplicate_dates(&bars);
        updates.push(SymbolUpdate {
            metadata: metadata.given(&symbol),
            symbol,
            bars,
        });
    }
    let input_symbols: std::collections::BTreeSet<&str> =
        updates.iter().map(|u| u.symbol.as_str()).collect();
    let unused_metadata = metadata
        .symbols()
        .into_iter()
        .filter(|s| !input_symbols.contains(s.as_str()))
        .collect();
    let options = MergeOptions {
        concurrency,
        ..MergeOptions::default()
    };
    let report = merge_import(location, updates, &options)
        .await
        .map_err(|e| ImportError(format!("merge failed: {e}")))?;
    Ok(MergeSummary {
        report,
        symbols,
        rows: parsed.rows,
        rejected: parsed.rejected,
        rejections: parsed.rejections,
        duplicates,
        unused_metadata,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    const SAMPLE: &str = "\
Ticker,Date,Open,High,Low,Close,Volume,Adj Close
AAPL,2012-12-31,510.53,535.4,509.0,532.17,23553300,70.1
AAPL,2013-01-02,553.82,555.0,541.63,549.03,20018500.0,72.3
msft,2013-01-02,27.25,27.73,27.15,27.62,52899300,24.0
";

    #[test]
    fn parses_rows_and_ignores_extra_columns() {
        let parsed = parse_csv(SAMPLE.as_bytes()).unwrap();
        assert_eq!(parsed.rows, 3);
        assert_eq!(parsed.rejected, 0);
        let aapl = &parsed.series[&Symbol::parse("AAPL").unwrap()];
        assert_eq!(aapl.len(), 2);
        assert_eq!(aapl[1].date.to_string(), "2013-01-02");
        assert_eq!(aapl[1].close, 549.03);
        assert_eq!(aapl[1].volume, 20_018_500);
        let msft = &parsed.series[&Symbol::parse("MSFT").unwrap()];
        assert_eq!(msft[0].open, 27.25);
    }

    #[test]
    fn matches_header_case_insensitively_in_any_order() {
        let text = "volume,SYMBOL,close,LOW,high,Open,DATE\n100,ibm,3,1,4,2,2013-03-01 00:00:00\n";
        let parsed = parse_csv(text.as_bytes()).unwrap();
        assert_eq!(parsed.rows, 1, "{:?}", parsed.rejections);
        let bar = &parsed.series[&Symbol::parse("IBM").unwrap()][0];
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close, bar.volume),
            (2.0, 4.0, 1.0, 3.0, 100)
        );
        assert_eq!(bar.date.to_string(), "2013-03-01");
    }

    #[test]
    fn missing_column_is_an_error() {
        let error = parse_csv("Ticker,Date,Open,High,Low,Close\n".as_bytes()).unwrap_err();
        assert!(error.0.contains("no volume column"), "{error}");
    }

    #[test]
    fn counts_rejected_rows_without_failing() {
        let text = "\
Ticker,Date,Open,High,Low,Close,Volume
AAPL,2013-01-02,1,2,0.5,1.5,100
AAPL,2013-02-30,1,2,0.5,1.5,100
AAPL,2013-01-03,abc,2,0.5,1.5,100
A/B,2013-01-03,1,2,0.5,1.5,100
AAPL,2013-01-04,1,2,0.5,1.5,-5
AAPL,2013-01-07,1,2,0.5,NaN,5
AAPL,2013-01-08,1,2,3,1.5,5
AAPL,2013-01-09,1,2
,2013-01-10,1,2,0.5,1.5,100

AAPL,2013-01-11,1,2,0.5,1.5,1e3
";
        let parsed = parse_csv(text.as_bytes()).unwrap();
        assert_eq!(parsed.rows, 2);
        assert_eq!(parsed.rejected, 8);
        let reasons: Vec<(u64, &str)> = parsed
            .rejections
            .iter()
            .map(|r| (r.line, r.reason.as_str()))
            .collect();
        assert_eq!(reasons[0], (3, "bad date \"2013-02-30\""));
        assert_eq!(reasons[1], (4, "bad open \"abc\""));
        assert_eq!(reasons[2], (5, "invalid symbol \"A/B\""));
        assert_eq!(reasons[3], (6, "bad volume \"-5\""));
        assert_eq!(reasons[4], (7, "bad close \"NaN\""));
        assert_eq!(reasons[5], (8, "low 3 is above high 2"));
        assert_eq!(reasons[6], (9, "missing low field"));
        assert_eq!(reasons[7], (10, "invalid symbol \"\""));
        assert_eq!(
            parsed.series[&Symbol::parse("AAPL").unwrap()][1].volume,
            1000
        );
    }

    #[test]
    fn volume_floats_are_rounded() {
        assert_eq!(parse_volume("1234"), Ok(1234));
        assert_eq!(parse_volume("1234.0"), Ok(1234));
        assert_eq!(parse_volume("1234.6"), Ok(1235));
        assert!(parse_volume("").is_err());
        assert!(parse_volume("1e30").is_err());
        assert!(parse_volume("inf").is_err());
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn reads_gzip_by_magic_bytes_and_by_name() {
        let dir = tempfile::tempdir().unwrap();
        // Compressed but not named .gz: detected by the magic bytes.
        let hidden = dir.path().join("prices.csv");
        std::fs::write(&hidden, gzip(SAMPLE.as_bytes())).unwrap();
        let parsed = parse_csv(open_input(&hidden).unwrap()).unwrap();
        assert_eq!(parsed.rows, 3);
        // Named .gz.
        let named = dir.path().join("prices.csv.gz");
        std::fs::write(&named, gzip(SAMPLE.as_bytes())).unwrap();
        assert_eq!(parse_csv(open_input(&named).unwrap()).unwrap().rows, 3);
        // Plain text.
        let plain = dir.path().join("plain.csv");
        std::fs::write(&plain, SAMPLE).unwrap();
        assert_eq!(parse_csv(open_input(&plain).unwrap()).unwrap().rows, 3);
    }

    #[test]
    fn corrupt_gzip_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broken.csv.gz");
        let mut bytes = gzip(SAMPLE.as_bytes());
        bytes.truncate(bytes.len() / 2);
        std::fs::write(&path, bytes).unwrap();
        let result = open_input(&path).map(parse_csv);
        assert!(matches!(result, Ok(Err(_)) | Err(_)));
    }

    #[test]
    fn metadata_from_csv_and_json_with_defaults() {
        let csv_text =
            "# comment\nsymbol,name,exchange,currency\nfb,\"Meta Platforms, Inc.\",NASDAQ,USD\n";
        let meta = Metadata::from_entries(Metadata::parse_csv(csv_text).unwrap()).unwrap();
        let fb = meta.for_symbol(&Symbol::parse("FB").unwrap());
        assert_eq!(fb.name, "Meta Platforms, Inc.");
        assert_eq!(fb.exchange, "NASDAQ");
        let other = meta.for_symbol(&Symbol::parse("XYZ").unwrap());
        assert_eq!(
            (
                other.name.as_str(),
                other.exchange.as_str(),
                other.currency.as_str()
            ),
            ("XYZ", "UNKNOWN", "USD")
        );

        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("meta.json");
        std::fs::write(
            &json,
            r#"[{"symbol":"ibm","name":"IBM Corp","exchange":"NYSE","currency":"USD"}]"#,
        )
        .unwrap();
        let meta = Metadata::load(&json).unwrap();
        assert_eq!(meta.symbols(), ["IBM"]);

        let dup = "symbol,name,exchange,currency\nA,a,X,USD\na,b,X,USD\n";
        assert!(Metadata::from_entries(Metadata::parse_csv(dup).unwrap()).is_err());
        let bad = "symbol,name,exchange,currency\nA/B,a,X,USD\n";
        assert!(Metadata::from_entries(Metadata::parse_csv(bad).unwrap()).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn import_reports_duplicates_and_partitions() {
        let text = format!("{SAMPLE}AAPL,2013-01-02,1,2,0.5,1.5,7\n");
        let parsed = parse_csv(text.as_bytes()).unwrap();
        let location = StorageLocation::parse("memory://").unwrap();
        let meta = Metadata::from_entries(vec![SymbolMeta {
            symbol: "GOOG".into(),
            name: "Alphabet".into(),
            exchange: "NASDAQ".into(),
            currency: "USD".into(),
        }])
        .unwrap();
        let summary = import_parsed(parsed, location, &meta, 4, Instant::now())
            .await
            .unwrap();
        assert_eq!(summary.symbols, 2);
        assert_eq!(summary.rows, 4);
        assert_eq!(summary.duplicates, 1);
        // AAPL: 2012 and 2013; MSFT: 2013.
        assert_eq!(summary.partitions, 3);
        assert_eq!(summary.unused_metadata, ["GOOG"]);
    }

    #[tokio::test]
    async fn import_without_valid_rows_fails() {
        let parsed =
            parse_csv("Ticker,Date,Open,High,Low,Close,Volume\nA,x,1,1,1,1,1\n".as_bytes())
                .unwrap();
        let location = StorageLocation::parse("memory://").unwrap();
        let error = import_parsed(parsed, location, &Metadata::default(), 1, Instant::now())
            .await
            .unwrap_err();
        assert!(error.0.contains("no valid rows (1 rejected)"), "{error}");
    }
}
