//! Data models: what storage holds and what the API returns.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One trading day of OHLCV data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DailyBar {
    /// Trading date.
    pub date: NaiveDate,
    /// Opening price.
    pub open: f64,
    /// Highest price of the day.
    pub high: f64,
    /// Lowest price of the day.
    pub low: f64,
    /// Closing price.
    pub close: f64,
    /// Shares traded.
    pub volume: u64,
}

/// One stored partition: a symbol's bars of one calendar year, ascending by date.
/// Stored at `daily/{SYMBOL}/{YYYY}.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Partition {
    /// The symbol the bars belong to.
    pub symbol: String,
    /// Close of the symbol's last bar before this partition (the previous
    /// partition's last close), so the latest change needs one partition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_close: Option<f64>,
    /// Bars ascending by date.
    pub data_points: Vec<DailyBar>,
}

/// A symbol's descriptive data and range, as kept in the manifest and
/// returned by `GET /v1/symbols/{symbol}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymbolInfo {
    /// Upper-case ticker.
    pub symbol: String,
    /// Company name.
    pub name: String,
    /// Listing exchange.
    pub exchange: String,
    /// Trading currency (ISO 4217).
    pub currency: String,
    /// Date of the first stored bar.
    pub first_date: NaiveDate,
    /// Date of the last stored bar.
    pub last_date: NaiveDate,
    /// Number of stored bars.
    pub data_points: u64,
}

/// The manifest `symbols.json`: every symbol's info, sorted by symbol.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// One entry per symbol.
    pub symbols: Vec<SymbolInfo>,
}

impl Manifest {
    /// Sorts entries by symbol so lookups can binary-search.
    pub fn sort(&mut self) {
        self.symbols.sort_by(|a, b| a.symbol.cmp(&b.symbol));
        self.symbols.dedup_by(|a, b| a.symbol == b.symbol);
    }

    /// The entry of `symbol` (upper-case), if listed. Expects a sorted manifest.
    pub fn get(&self, symbol: &str) -> Option<&SymbolInfo> {
        self.symbols
            .binary_search_by(|entry| entry.symbol.as_str().cmp(symbol))
            .ok()
            .map(|i| &self.symbols[i])
    }
}

/// Response of `GET /v1/stocks/{symbol}/latest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatestPrice {
    /// Upper-case ticker.
    pub symbol: String,
    /// Date of the latest bar.
    pub date: NaiveDate,
    /// Opening price.
    pub open: f64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Closing price.
    pub close: f64,
    /// Shares traded.
    pub volume: u64,
    /// close − previous close; `null` on the symbol's first day.
    pub change: Option<f64>,
    /// change / previous close × 100, rounded to 2 decimals; `null` on the first day.
    pub change_percent: Option<f64>,
}

impl LatestPrice {
    /// Builds the latest price from the last bar and the previous close.
    pub fn from_bar(symbol: &str, bar: &DailyBar, previous_close: Option<f64>) -> Self {
        let change = previous_close.map(|prev| round_to(bar.close - prev, 4));
        let change_percent = previous_close
            .filter(|prev| *prev != 0.0)
            .map(|prev| round_to((bar.close - prev) / prev * 100.0, 2));
        LatestPrice {
            symbol: symbol.to_string(),
            date: bar.date,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
            change,
            change_percent,
        }
    }
}

/// Response of `GET /v1/stocks/{symbol}/recent`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecentData {
    /// Upper-case ticker.
    pub symbol: String,
    /// The window asked for, in calendar days.
    pub days: u32,
    /// Bars with `date >= last_date − days`, ascending.
    pub data_points: Vec<DailyBar>,
}

impl RecentData {
    /// The part of this window that a smaller `days` asks for.
    pub fn slice(&self, days: u32) -> RecentData {
        let points = match self.data_points.last() {
            Some(last) => {
                let start = window_start(last.date, days);
                let from = self.data_points.partition_point(|bar| bar.date < start);
                self.data_points[from..].to_vec()
            }
            None => Vec::new(),
        };
        RecentData {
            symbol: self.symbol.clone(),
            days,
            data_points: points,
        }
    }
}

/// Response of `GET /v1/symbols`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SymbolList {
    /// Every symbol, sorted.
    pub symbols: Vec<String>,
    /// `symbols.len()`.
    pub count: usize,
}

/// First date inside a window of `days` calendar days ending at `last`.
pub fn window_start(last: NaiveDate, days: u32) -> NaiveDate {
    last.checked_sub_days(chrono::Days::new(u64::from(days)))
        .unwrap_or(NaiveDate::MIN)
}

/// Rounds `value` to `decimals` decimal places (half away from zero).
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let factor = 10f64.powi(decimals);
    (value * factor).round() / factor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(date: &str, close: f64) -> DailyBar {
        DailyBar {
            date: date.parse().unwrap(),
            open: close,
            high: close,
            low: close,
            close,
            volume: 1,
        }
    }

    #[test]
    fn latest_change_and_percent() {
        let latest = LatestPrice::from_bar("AAPL", &bar("2013-03-01", 430.47), Some(441.4));
        assert_eq!(latest.change, Some(-10.93));
        assert_eq!(latest.change_percent, Some(-2.48));
        let first = LatestPrice::from_bar("AAPL", &bar("2013-03-01", 430.47), None);
        assert_eq!(first.change, None);
        assert_eq!(first.change_percent, None);
    }

    #[test]
    fn slice_keeps_points_inside_window() {
        let window = RecentData {
            symbol: "X".into(),
            days: 365,
            data_points: vec![
                bar("2013-01-01", 1.0),
                bar("2013-02-21", 2.0),
                bar("2013-02-22", 3.0),
                bar("2013-03-01", 4.0),
            ],
        };
        let sliced = window.slice(7);
        assert_eq!(sliced.days, 7);
        let dates: Vec<String> = sliced
            .data_points
            .iter()
            .map(|b| b.date.to_string())
            .collect();
        assert_eq!(dates, ["2013-02-22", "2013-03-01"]);
    }

    #[test]
    fn manifest_lookup_after_sort() {
        let info = |s: &str| SymbolInfo {
            symbol: s.into(),
            name: s.into(),
            exchange: "X".into(),
            currency: "USD".into(),
            first_date: "2000-01-01".parse().unwrap(),
            last_date: "2000-01-02".parse().unwrap(),
            data_points: 2,
        };
        let mut manifest = Manifest {
            symbols: vec![info("MSFT"), info("AAPL"), info("IBM")],
        };
        manifest.sort();
        assert_eq!(manifest.get("IBM").unwrap().symbol, "IBM");
        assert!(manifest.get("GOOG").is_none());
    }
}
