//! Secret strings: values (tokens, passwords) that must never be printed.
//!
//! [`Secret`] wraps a `String` whose `Debug` and `Display` output is masked,
//! so a secret can sit inside config structs that are logged with `{:?}`.
//! The value is only reachable through [`Secret::expose`], which makes every
//! use greppable.

use std::fmt;

/// Number of bytes [`Secret::constant_time_eq`] always walks when the lengths
/// differ, so a length mismatch costs about as much as a content mismatch.
const MIN_COMPARE_LEN: usize = 64;

/// A secret string whose `Debug` is `Secret(***)` and `Display` is `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Returns the secret value. Never log or format the result.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Returns `true` when the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compares the secret with `other` without an early exit on the first
    /// differing byte, so the time taken does not reveal how long a matching
    /// prefix is. A length mismatch returns `false`, but only after comparing
    /// over at least `max(len, 64)` bytes anyway.
    pub fn constant_time_eq(&self, other: &[u8]) -> bool {
        constant_time_eq(self.0.as_bytes(), other)
    }
}

/// Constant-time byte-slice comparison used by [`Secret::constant_time_eq`].
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len()).max(MIN_COMPARE_LEN);
    let mut diff: u8 = 0;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= x ^ y;
    }
    // Fold the length check in without branching on content.
    let len_diff = (a.len() ^ b.len()) as u64;
    let len_mismatch = u8::from(len_diff != 0);
    std::hint::black_box(diff | len_mismatch) == 0
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_are_masked() {
        let s = Secret::from("hunter2-token".to_string());
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:#?}", Some(&s)), "Some(\n    Secret(***),\n)");
        assert!(!format!("{s:?}{s}").contains("hunter2"));
    }

    #[test]
    fn expose_returns_the_value() {
        let s = Secret::new("abc");
        assert_eq!(s.expose(), "abc");
        assert!(!s.is_empty());
        assert!(Secret::default().is_empty());
    }

    #[test]
    fn constant_time_eq_matches_equality() {
        let s = Secret::from("token-123");
        assert!(s.constant_time_eq(b"token-123"));
        assert!(!s.constant_time_eq(b"token-124"));
        assert!(!s.constant_time_eq(b"Token-123"));
        assert!(!s.constant_time_eq(b"token-12"));
        assert!(!s.constant_time_eq(b"token-1234"));
        assert!(!s.constant_time_eq(b""));
        assert!(Secret::from("").constant_time_eq(b""));
        assert!(!Secret::from("").constant_time_eq(b"x"));
    }

    #[test]
    fn constant_time_eq_long_values() {
        let long = "x".repeat(1000);
        let s = Secret::from(long.clone());
        assert!(s.constant_time_eq(long.as_bytes()));
        let mut other = long.into_bytes();
        other[999] = b'y';
        assert!(!s.constant_time_eq(&other));
        // Same bytes padded with zeros must not compare equal.
        let mut padded = b"ab".to_vec();
        padded.push(0);
        assert!(!Secret::from("ab").constant_time_eq(&padded));
    }
}
