//! XXH3 (64 bit, from the `xxhash-rust` crate): a fast, non-cryptographic
//! checksum for ETags and for checking that a cached value is exactly what
//! was written. It replaced a byte-at-a-time FNV-1a, which cost about 25 µs
//! per 24 KB recent window on every hit (issue 19, `bench --scenario
//! hit-overhead`).

/// The XXH3 64-bit hash of `bytes` (seed 0).
pub fn hash64(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Test vectors of the XXH3 reference implementation (seed 0).
        assert_eq!(hash64(b""), 0x2d06_8005_38d3_94c2);
        assert_eq!(hash64(b"a"), 0xe6c6_32b6_1e96_4e1f);
        assert_ne!(hash64(b"foobar"), hash64(b"foobaR"));
    }
}
