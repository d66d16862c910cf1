//! Deterministic synthetic daily data.
//!
//! Every symbol gets its own [`SplitMix64`] stream derived from the seed and
//! the symbol's index, so the output does not depend on the order in which
//! symbols are generated or written: the same seed gives byte-identical
//! files. Only `+ - * /`, `round` and comparisons are used on floats (no
//! `ln`, `exp`, `sin`...), whose results IEEE 754 fixes exactly, so the
//! output is the same on every platform too.

use std::time::{Duration, Instant};

use chrono::{Datelike, Days, NaiveDate, Weekday};
use shared::models::DailyBar;
use shared::storage::{DatasetWriter, StorageError, StorageLocation, SymbolSeries};
use shared::symbol::Symbol;

use crate::output::write_symbols;

/// Exchange recorded for synthetic symbols.
pub const SYNTH_EXCHANGE: &str = "SYNTH";

/// Currency recorded for synthetic symbols.
pub const SYNTH_CURRENCY: &str = "USD";

/// The splitmix64 generator (Steele, Lea, Flood 2014): tiny, fast and good
/// enough for test data. Not cryptographic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)` with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// A uniform float in `[low, high)`.
    pub fn range(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.next_f64()
    }

    /// An approximately standard-normal float: the Irwin–Hall sum of four
    /// uniforms, centred and scaled to variance 1 (bounded by ±√12 ≈ ±3.46).
    pub fn next_normalish(&mut self) -> f64 {
        let sum = self.next_f64() + self.next_f64() + self.next_f64() + self.next_f64();
        // Sum of 4 uniforms has mean 2 and variance 4/12 = 1/3.
        (sum - 2.0) * 1.732_050_807_568_877_2
    }
}

/// The seed of symbol number `index` (1-based) under the run seed `seed`.
pub fn symbol_seed(seed: u64, index: usize) -> u64 {
    let mut mix = SplitMix64::new(seed ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    mix.next_u64()
}

/// Name of synthetic symbol number `index` (1-based) out of `count`:
/// `SYN0001`, zero-padded to at least four digits.
pub fn symbol_name(index: usize, count: usize) -> String {
    let width = count.to_string().len().max(4);
    format!("SYN{index:0width$}")
}

/// The weekdays from `years` calendar years before `end` (exclusive) to `end`
/// (inclusive), ascending.
pub fn trading_days(end: NaiveDate, years: u32) -> Vec<NaiveDate> {
    let start = end
        .with_year(end.year() - years as i32)
        // 29 February of a leap year moves to 28 February.
        .or_else(|| {
            end.pred_opt()
                .and_then(|d| d.with_year(d.year() - years as i32))
        })
        .unwrap_or(NaiveDate::MIN);
    let mut days = Vec::with_capacity(years as usize * 262);
    let mut day = start;
    while day < end {
        day = match day.checked_add_days(Days::new(1)) {
            Some(next) => next,
            None => break,
        };
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            days.push(day);
        }
    }
    days
}

fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// The bars of one symbol: a random walk with per-symbol start price,
/// volatility, drift and volume level, on `days`.
///
/// Every bar satisfies `0 < low <= min(open, close)` and
/// `max(open, close) <= high`, prices have two decimals, and `volume > 0`.
pub fn generate_bars(seed: u64, days: &[NaiveDate]) -> Vec<DailyBar> {
    let mut rng = SplitMix64::new(seed);
    let mut price = rng.range(5.0, 500.0);
    let volatility = rng.range(0.005, 0.03);
    let drift = rng.range(-0.0002, 0.0006);
    let base_volume = rng.range(50_000.0, 20_000_000.0);
    let mut bars = Vec::with_capacity(days.len());
    for &date in days {
        let gap = 1.0 + volatility * 0.3 * rng.next_normalish();
        let open = cents((price * gap).max(1.0));
        let move_ = 1.0 + drift + volatility * rng.next_normalish();
        let close = cents((open * move_).max(1.0));
        let top = open.max(close);
        let bottom = open.min(close);
        // Rounding is monotonic, so the order survives rounding to cents.
        let high = cents(top * (1.0 + volatility * 0.5 * rng.next_f64()));
        let low = cents((bottom * (1.0 - volatility * 0.5 * rng.next_f64())).max(0.01));
        let volume = (base_volume * rng.range(0.3, 1.7)) as u64 + 1;
        bars.push(DailyBar {
            date,
            open,
            high,
            low,
            close,
            volume,
        });
        price = close;
    }
    bars
}

/// The complete series of symbol number `index` (1-based) out of `count`.
pub fn generate_series(seed: u64, index: usize, count: usize, days: &[NaiveDate]) -> SymbolSeries {
    let name = symbol_name(index, count);
    #[allow(
        clippy::expect_used,
        reason = "SYN + at most 12 digits is a valid symbol (tested in symbol_names_are_valid_and_padded)"
    )]
    let symbol = Symbol::parse(&name).expect("synthetic symbol names are valid");
    SymbolSeries {
        symbol,
        name: format!("Synthetic Company {}", &name[3..]),
        exchange: SYNTH_EXCHANGE.to_string(),
        currency: SYNTH_CURRENCY.to_string(),
        bars: generate_bars(symbol_seed(seed, index), days),
    }
}

/// What a synth run should produce.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthPlan {
    /// Number of symbols.
    pub symbols: usize,
    /// Years of history.
    pub years: u32,
    /// Run seed.
    pub seed: u64,
    /// Last calendar date (the last bar is the last weekday up to it).
    pub end_date: NaiveDate,
    /// Symbols written at the same time.
    pub concurrency: usize,
}

/// Result of [`synthesize`].
#[derive(Clone, Debug, PartialEq)]
pub struct SynthSummary {
    /// Symbols written.
    pub symbols: usize,
    /// Bars written in total.
    pub rows: u64,
    /// Partition objects written.
    pub partitions: u64,
    /// Wall time.
    pub elapsed: Duration,
}

impl std::fmt::Display for SynthSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "synthesized {} symbols, {} rows, {} partitions in {:.2?}",
            self.symbols, self.rows, self.partitions, self.elapsed
        )
    }
}

/// Generates and writes the data set `plan` describes into `location`.
pub async fn synthesize(
    plan: &SynthPlan,
    location: StorageLocation,
) -> Result<SynthSummary, StorageError> {
    let started = Instant::now();
    let days = std::sync::Arc::new(trading_days(plan.end_date, plan.years));
    let (seed, count) = (plan.seed, plan.symbols);
    let jobs = (1..=count).map(|index| {
        let days = days.clone();
        move || generate_series(seed, index, count, &days)
    });
    let writer = DatasetWriter::new(location);
    let stats = write_symbols(&writer, jobs, plan.concurrency).await?;
    Ok(SynthSummary {
        symbols: stats.infos.len(),
        rows: stats.infos.iter().map(|i| i.data_points).sum(),
        partitions: stats.partitions,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn splitmix_matches_reference_values() {
        // Reference output of splitmix64 seeded with 0.
        let mut rng = SplitMix64::new(0);
        assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        let mut rng = SplitMix64::new(7);
        for _ in 0..10_000 {
            let x = rng.next_f64();
            assert!((0.0..1.0).contains(&x));
            let z = rng.next_normalish();
            assert!(z.abs() <= 3.47);
        }
    }

    #[test]
    fn symbol_names_are_valid_and_padded() {
        assert_eq!(symbol_name(1, 5000), "SYN0001");
        assert_eq!(symbol_name(42, 12_345), "SYN00042");
        for name in [symbol_name(1, 1), symbol_name(99_999, 99_999)] {
            assert!(Symbol::parse(&name).is_ok(), "{name}");
        }
    }

    #[test]
    fn trading_days_are_weekdays_in_range() {
        let days = trading_days(date("2025-12-31"), 1);
        assert_eq!(days.first(), Some(&date("2025-01-01")));
        assert_eq!(days.last(), Some(&date("2025-12-31")));
        assert_eq!(days.len(), 261);
        assert!(
            days.iter()
                .all(|d| !matches!(d.weekday(), Weekday::Sat | Weekday::Sun))
        );
        assert!(days.windows(2).all(|w| w[0] < w[1]));
        // A Sunday end date ends on the Friday before.
        assert_eq!(
            trading_days(date("2025-11-30"), 1).last(),
            Some(&date("2025-11-28"))
        );
        // 29 February works.
        assert!(!trading_days(date("2024-02-29"), 3).is_empty());
    }

    #[test]
    fn same_seed_same_bars_other_seed_other_bars() {
        let days = trading_days(date("2025-12-31"), 3);
        let a = generate_series(1, 7, 10, &days);
        let b = generate_series(1, 7, 10, &days);
        assert_eq!(a.bars, b.bars);
        assert_ne!(a.bars, generate_series(2, 7, 10, &days).bars);
        assert_ne!(a.bars, generate_series(1, 8, 10, &days).bars);
    }

    #[test]
    fn bars_keep_ohlc_invariants() {
        let days = trading_days(date("2025-12-31"), 20);
        for index in 1..=50 {
            let bars = generate_bars(symbol_seed(99, index), &days);
            assert_eq!(bars.len(), days.len());
            for bar in &bars {
                assert!(bar.low > 0.0, "{bar:?}");
                assert!(bar.low <= bar.open.min(bar.close), "{bar:?}");
                assert!(bar.high >= bar.open.max(bar.close), "{bar:?}");
                assert!(bar.volume > 0, "{bar:?}");
                for price in [bar.open, bar.high, bar.low, bar.close] {
                    assert_eq!(cents(price), price);
                }
            }
        }
    }

    fn files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    let name = path
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    out.push((name, std::fs::read(&path).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn same_seed_gives_byte_identical_output() {
        let plan = SynthPlan {
            symbols: 12,
            years: 2,
            seed: 5,
            end_date: date("2025-12-31"),
            concurrency: 4,
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let summary = synthesize(
            &plan,
            StorageLocation::parse(a.path().to_str().unwrap()).unwrap(),
        )
        .await
        .unwrap();
        assert_eq!(summary.symbols, 12);
        assert_eq!(summary.partitions, 12 * 2);
        assert_eq!(
            summary.rows,
            12 * trading_days(plan.end_date, 2).len() as u64
        );
        // Different concurrency, same bytes.
        let other = SynthPlan {
            concurrency: 1,
            ..plan.clone()
        };
        synthesize(
            &other,
            StorageLocation::parse(b.path().to_str().unwrap()).unwrap(),
        )
        .await
        .unwrap();
        let (fa, fb) = (files(a.path()), files(b.path()));
        assert_eq!(fa.len(), 12 * 2 + 1);
        assert!(fa.iter().any(|(name, _)| name == "symbols.json"));
        assert!(fa == fb, "outputs differ");
    }
}
