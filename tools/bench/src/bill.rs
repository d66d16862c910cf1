//! Upstash pay-as-you-go pricing arithmetic.

/// Upstash pay-as-you-go: $0.20 per 100,000 commands.
pub(crate) const USD_PER_100K_COMMANDS: f64 = 0.20;

/// Dollars per one million API requests when each request costs
/// `commands_per_request` Redis commands on average.
pub(crate) fn usd_per_million_requests(commands_per_request: f64) -> f64 {
    commands_per_request * 1_000_000.0 / 100_000.0 * USD_PER_100K_COMMANDS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bill_arithmetic() {
        // One command per request: 1M commands = 10 × 100K = $2.00.
        assert!((usd_per_million_requests(1.0) - 2.0).abs() < 1e-12);
        assert!((usd_per_million_requests(0.05) - 0.10).abs() < 1e-12);
        assert!((usd_per_million_requests(3.0) - 6.0).abs() < 1e-12);
        assert_eq!(usd_per_million_requests(0.0), 0.0);
    }
}
