//! A Zipf sampler (CDF + binary search) over the data tool's seeded PRNG.

/// The seeded generator of the data tool (splitmix64), shared so both tools draw alike.
pub(crate) use stockdata::synth::SplitMix64 as Rng;

/// Uniform integer in `low..=high` from `rng`.
pub(crate) fn range_inclusive(rng: &mut Rng, low: u32, high: u32) -> u32 {
    let span = u64::from(high - low) + 1;
    low + (rng.next_u64() % span) as u32
}

/// Zipf(s) over ranks `0..n`: P(rank k) ∝ 1 / (k + 1)^s.
#[derive(Clone, Debug)]
pub(crate) struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n ≥ 1` ranks with exponent `s ≥ 0`.
    pub(crate) fn new(n: usize, s: f64) -> Self {
        assert!(n >= 1, "Zipf needs at least one rank");
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cdf.push(total);
        }
        for c in &mut cdf {
            *c /= total;
        }
        cdf[n - 1] = 1.0;
        Zipf { cdf }
    }

    /// Number of ranks.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.cdf.len()
    }

    /// Probability of rank `k` (0-based).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn pmf(&self, k: usize) -> f64 {
        match k {
            0 => self.cdf[0],
            _ => self.cdf[k] - self.cdf[k - 1],
        }
    }

    /// A rank drawn with `rng`: the first rank whose cumulative probability exceeds `u`.
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.next_f64();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_uniformish() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut r = Rng::new(1);
        let n = 100_000;
        let mean: f64 = (0..n).map(|_| r.next_f64()).sum::<f64>() / f64::from(n);
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        for _ in 0..10_000 {
            let x = range_inclusive(&mut r, 1, 365);
            assert!((1..=365).contains(&x));
        }
    }

    #[test]
    fn zipf_pmf_matches_harmonic_numbers() {
        let z = Zipf::new(500, 1.0);
        let h500: f64 = (1..=500).map(|k| 1.0 / f64::from(k)).sum();
        assert!((z.pmf(0) - 1.0 / h500).abs() < 1e-12);
        assert!((z.pmf(1) - 0.5 / h500).abs() < 1e-12);
        let total: f64 = (0..z.len()).map(|k| z.pmf(k)).sum();
        assert!((total - 1.0).abs() < 1e-9);
        // s = 0 is uniform.
        let u = Zipf::new(4, 0.0);
        assert!((0..4).all(|k| (u.pmf(k) - 0.25).abs() < 1e-12));
    }

    #[test]
    fn zipf_samples_follow_the_distribution() {
        let z = Zipf::new(500, 1.0);
        let mut rng = Rng::new(42);
        let n = 200_000;
        let mut counts = vec![0u32; 500];
        for _ in 0..n {
            let k = z.sample(&mut rng);
            counts[k] += 1;
        }
        for k in [0usize, 1, 2, 9, 99] {
            let observed = f64::from(counts[k]) / f64::from(n);
            let expected = z.pmf(k);
            let sigma = (expected * (1.0 - expected) / f64::from(n)).sqrt();
            assert!(
                (observed - expected).abs() < 5.0 * sigma,
                "rank {k}: observed {observed}, expected {expected}"
            );
        }
        // Rank 0 is about twice rank 1 and ten times rank 9.
        let r01 = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((1.8..2.2).contains(&r01), "{r01}");
        // The top 10% of ranks take most requests (≈ 68% for n = 500, s = 1).
        let top: u32 = counts[..50].iter().sum();
        let share = f64::from(top) / f64::from(n);
        assert!((0.65..0.71).contains(&share), "{share}");
        // Every sample is in range and a single-rank distribution always answers 0.
        let one = Zipf::new(1, 1.0);
        assert!((0..100).all(|_| one.sample(&mut rng) == 0));
    }
}
