//! Latency samples and their summaries (pure arithmetic, unit-tested).

use std::time::Duration;

use serde_json::{Value, json};

/// The `p`-th percentile (0..=100) of `sorted` by the nearest-rank method:
/// the smallest sample such that at least `p`% of the samples are ≤ it.
/// `None` for no samples.
pub(crate) fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let p = p.clamp(0.0, 100.0);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.saturating_sub(1).min(sorted.len() - 1)])
}

/// Microseconds of `d` as a float.
pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Sorted microsecond values of `samples`.
pub(crate) fn sorted_micros(samples: &[Duration]) -> Vec<f64> {
    let mut v: Vec<f64> = samples.iter().map(|d| micros(*d)).collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Count, mean and percentiles of a set of latencies, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Smallest sample.
    pub min: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest sample.
    pub max: f64,
}

impl Summary {
    /// The summary of `samples` (all zero when empty).
    pub(crate) fn of(samples: &[Duration]) -> Summary {
        let sorted = sorted_micros(samples);
        Summary::of_sorted(&sorted)
    }

    /// The summary of sorted microsecond values.
    pub(crate) fn of_sorted(sorted: &[f64]) -> Summary {
        if sorted.is_empty() {
            return Summary::default();
        }
        let p = |q| percentile(sorted, q).unwrap_or(0.0);
        Summary {
            n: sorted.len(),
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min: sorted[0],
            p50: p(50.0),
            p95: p(95.0),
            p99: p(99.0),
            max: sorted[sorted.len() - 1],
        }
    }

    /// Every number, in microseconds.
    pub(crate) fn to_json(self) -> Value {
        json!({
            "n": self.n,
            "mean_us": round3(self.mean),
            "min_us": round3(self.min),
            "p50_us": round3(self.p50),
            "p95_us": round3(self.p95),
            "p99_us": round3(self.p99),
            "max_us": round3(self.max),
        })
    }
}

/// Rounds to 3 decimals (for JSON output).
pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// `a / b`, or NaN when `b` is zero.
pub(crate) fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { f64::NAN } else { a / b }
}

/// A latency in microseconds for humans: `12.3 µs`, `4.56 ms`, `1.23 s`.
pub(crate) fn fmt_us(us: f64) -> String {
    if us.is_nan() {
        "–".into()
    } else if us < 1000.0 {
        format!("{us:.1} µs")
    } else if us < 1_000_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

/// A fraction as a percentage with one decimal.
pub(crate) fn fmt_pct(fraction: f64) -> String {
    if fraction.is_nan() {
        "–".into()
    } else {
        format!("{:.1}%", fraction * 100.0)
    }
}

/// The median of `values` (the lower middle for even counts), `None` when empty.
pub(crate) fn median<T: Copy + PartialOrd>(values: &[T]) -> Option<T> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    Some(v[(v.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 95.0), Some(95.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&v, 100.0), Some(100.0));
        assert_eq!(percentile(&v, 0.0), Some(1.0));
        assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
        assert_eq!(percentile(&[], 50.0), None);
        // Ten samples: p50 is the 5th, p99 the 10th.
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(5.0));
        assert_eq!(percentile(&v, 99.0), Some(10.0));
        assert_eq!(percentile(&v, 91.0), Some(10.0));
        assert_eq!(percentile(&v, 90.0), Some(9.0));
    }

    #[test]
    fn summary_of_durations() {
        let samples: Vec<Duration> = [3, 1, 2, 4]
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect();
        let s = Summary::of(&samples);
        assert_eq!(s.n, 4);
        assert_eq!(s.min, 1000.0);
        assert_eq!(s.max, 4000.0);
        assert_eq!(s.p50, 2000.0);
        assert_eq!(s.p99, 4000.0);
        assert!((s.mean - 2500.0).abs() < 1e-9);
        assert_eq!(Summary::of(&[]), Summary::default());
    }

    #[test]
    fn formatting_and_helpers() {
        assert_eq!(fmt_us(12.34), "12.3 µs");
        assert_eq!(fmt_us(4560.0), "4.56 ms");
        assert_eq!(fmt_us(1_230_000.0), "1.23 s");
        assert_eq!(fmt_pct(0.9567), "95.7%");
        assert!(ratio(1.0, 0.0).is_nan());
        assert_eq!(ratio(3.0, 2.0), 1.5);
        assert_eq!(median(&[5, 1, 3]), Some(3));
        assert_eq!(median(&[4, 1, 3, 2]), Some(2));
        assert_eq!(median::<u64>(&[]), None);
    }
}
