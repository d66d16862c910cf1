//! Validated ticker symbols.

use std::fmt;

/// Longest symbol accepted (the pattern `^[A-Z0-9][A-Z0-9.\-]{0,14}$` allows 15 characters).
pub const MAX_SYMBOL_LEN: usize = 15;

/// A ticker symbol that matched `^[A-Z0-9][A-Z0-9.\-]{0,14}$` after upper-casing.
///
/// Only ASCII letters, digits, `.` and `-` can appear, so a `Symbol` is safe to
/// embed in storage paths and cache keys: it holds no glob, path-separator or
/// protocol characters.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Symbol(String);

/// The input was not a valid symbol.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "symbol must be 1 to 15 characters: letters, digits, '.' or '-', starting with a letter or digit"
)]
pub struct InvalidSymbol;

impl Symbol {
    /// Validates `input` case-insensitively and returns it upper-cased.
    pub fn parse(input: &str) -> Result<Self, InvalidSymbol> {
        let bytes = input.as_bytes();
        if bytes.is_empty() || bytes.len() > MAX_SYMBOL_LEN {
            return Err(InvalidSymbol);
        }
        if !bytes[0].is_ascii_alphanumeric() {
            return Err(InvalidSymbol);
        }
        if !bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'-')
        {
            return Err(InvalidSymbol);
        }
        Ok(Symbol(input.to_ascii_uppercase()))
    }

    /// The upper-case symbol.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_uppercases_valid_symbols() {
        for (input, expected) in [
            ("AAPL", "AAPL"),
            ("aapl", "AAPL"),
            ("brk.b", "BRK.B"),
            ("BF-B", "BF-B"),
            ("7203", "7203"),
            ("A", "A"),
            ("ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNO"),
        ] {
            assert_eq!(Symbol::parse(input).unwrap().as_str(), expected, "{input}");
        }
    }

    #[test]
    fn rejects_invalid_symbols() {
        for input in [
            "",
            ".A",
            "-A",
            "ABCDEFGHIJKLMNOP",
            "A*",
            "A?",
            "[A]",
            "A B",
            "A\r\nB",
            "../A",
            "A/B",
            "A%2F",
            "ΑAPL",  // Greek capital alpha look-alike
            "ＡAPL", // full-width A
            "A_B",
        ] {
            assert_eq!(Symbol::parse(input), Err(InvalidSymbol), "{input:?}");
        }
    }
}
