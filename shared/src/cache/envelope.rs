//! The stored form of a cached value: metadata line plus body.
//!
//! ```text
//! v3|{stored_at_ms}|{fresh_ttl_ms}|{delta_ms}|{body_len}|{xxh3(body), 16 hex}|{tag}\n{body}
//! ```
//! `delta_ms` is how long the recompute took (XFetch's δ). `tag` names the
//! generations the value was read under (see [`super::keys::KeySpace::scopes_of`]):
//! a reader serves it only while those generations are unchanged, so a
//! value read before an update is dead on arrival whenever it is written. The length and
//! the checksum make any body that is not exactly what was written (cut
//! short, extended, or foreign) decode as corrupt, without parsing JSON on
//! the hit path: a corrupt value is a miss that the next refresh overwrites.
//! Values of earlier versions (`v1`, `v2`) decode as corrupt the same way.

use std::time::Duration;

use crate::checksum::hash64;

/// A decoded cache entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    /// Unix time in ms when it was stored.
    pub stored_at_ms: u64,
    /// How long it is fresh.
    pub fresh_ttl: Duration,
    /// How long computing it took.
    pub delta: Duration,
    /// The JSON body.
    pub body: String,
    /// The generations it was read under (no `|` or newline).
    pub tag: String,
}

/// A stored value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("corrupt cache entry: {0}")]
pub struct CorruptEntry(pub &'static str);

impl Envelope {
    /// Unix time in ms when it stops being fresh.
    pub fn expires_at_ms(&self) -> u64 {
        self.stored_at_ms
            .saturating_add(self.fresh_ttl.as_millis() as u64)
    }

    /// Serializes for `SET`.
    pub fn encode(&self) -> String {
        let header = format!(
            "v3|{}|{}|{}|{}|{:016x}|{}\n",
            self.stored_at_ms,
            self.fresh_ttl.as_millis(),
            self.delta.as_millis(),
            self.body.len(),
            hash64(self.body.as_bytes()),
            self.tag
        );
        let mut out = String::with_capacity(header.len() + self.body.len());
        out.push_str(&header);
        out.push_str(&self.body);
        out
    }

    /// Parses what [`Envelope::encode`] wrote; anything else is [`CorruptEntry`].
    pub fn decode(raw: &[u8]) -> Result<Self, CorruptEntry> {
        let newline = raw
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(CorruptEntry("no header line"))?;
        let header =
            std::str::from_utf8(&raw[..newline]).map_err(|_| CorruptEntry("header not UTF-8"))?;
        let body = &raw[newline + 1..];
        let mut fields = header.split('|');
        if fields.next() != Some("v3") {
            return Err(CorruptEntry("unknown version"));
        }
        let mut number = || -> Result<u64, CorruptEntry> {
            fields
                .next()
                .and_then(|f| f.parse().ok())
                .ok_or(CorruptEntry("bad number"))
        };
        let stored_at_ms = number()?;
        let fresh_ttl = Duration::from_millis(number()?);
        let delta = Duration::from_millis(number()?);
        let length = number()?;
        let checksum = fields
            .next()
            .filter(|f| f.len() == 16)
            .and_then(|f| u64::from_str_radix(f, 16).ok())
            .ok_or(CorruptEntry("bad checksum field"))?;
        let tag = fields.next().ok_or(CorruptEntry("no tag"))?.to_string();
        if fields.next().is_some() {
            return Err(CorruptEntry("extra header fields"));
        }
        if body.is_empty() {
            return Err(CorruptEntry("empty body"));
        }
        if body.len() as u64 != length {
            return Err(CorruptEntry("body length differs from the header"));
        }
        if hash64(body) != checksum {
            return Err(CorruptEntry("body checksum differs from the header"));
        }
        let body = std::str::from_utf8(body).map_err(|_| CorruptEntry("body not UTF-8"))?;
        Ok(Envelope {
            stored_at_ms,
            fresh_ttl,
            delta,
            body: body.to_string(),
            tag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Envelope {
        Envelope {
            stored_at_ms: 1_700_000_000_123,
            fresh_ttl: Duration::from_secs(300),
            delta: Duration::from_millis(52),
            body: "{\"a\":\"x|y\\nz\"}".into(),
            tag: "0123456789abcdef/".into(),
        }
    }

    #[test]
    fn round_trips() {
        let entry = entry();
        assert_eq!(Envelope::decode(entry.encode().as_bytes()).unwrap(), entry);
        assert_eq!(entry.expires_at_ms(), 1_700_000_300_123);
    }

    #[test]
    fn rejects_garbage_and_old_versions() {
        for bad in [
            &b""[..],
            b"{\"a\":1}",
            b"v1|1|2|3|V\n{}",
            b"v1|1|2|3|N\n",
            b"v3|1|2|3|2|0000000000000000\n{}",
            b"v2|x|2|3|2|0000000000000000\n{}",
            b"v2|1|2|3|2|zz\n{}",
            b"v2|1|2|3|0|cbf29ce484222325\n",
            b"v2|1|2|3|2|cbf29ce484222325\n{}",
            b"v3|1|2|3|2|0000000000000000|t|x\n{}",
            b"\xff\xfe",
        ] {
            assert!(Envelope::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_body_that_is_not_exactly_what_was_written_is_corrupt() {
        let encoded = entry().encode();
        let cut = &encoded.as_bytes()[..encoded.len() - 1];
        assert_eq!(
            Envelope::decode(cut).unwrap_err(),
            CorruptEntry("body length differs from the header")
        );
        let extended = format!("{encoded} ");
        assert!(Envelope::decode(extended.as_bytes()).is_err());
        // Same length, other bytes: the checksum catches it.
        let foreign = encoded.replace("x|y", "x|Y");
        assert_eq!(
            Envelope::decode(foreign.as_bytes()).unwrap_err(),
            CorruptEntry("body checksum differs from the header")
        );
    }
}
