//! The stored form of a cached value: metadata line plus body.
//!
//! ```text
//! v1|{stored_at_ms}|{fresh_ttl_ms}|{delta_ms}|V\n{body}
//! ```
//! `V` marks a JSON body. `delta_ms` is how long the recompute took
//! (XFetch's δ). Unknown symbols are never cached (the container's manifest
//! answers them), so the negative entries (`N`) of earlier versions decode
//! as corrupt: a miss that the next refresh overwrites.

use std::time::Duration;

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
        let mut out = String::with_capacity(self.body.len() + 48);
        out.push_str(&format!(
            "v1|{}|{}|{}|V\n",
            self.stored_at_ms,
            self.fresh_ttl.as_millis(),
            self.delta.as_millis()
        ));
        out.push_str(&self.body);
        out
    }

    /// Parses what [`Envelope::encode`] wrote.
    pub fn decode(raw: &[u8]) -> Result<Self, CorruptEntry> {
        let text = std::str::from_utf8(raw).map_err(|_| CorruptEntry("not UTF-8"))?;
        let (header, body) = text
            .split_once('\n')
            .ok_or(CorruptEntry("no header line"))?;
        let mut fields = header.split('|');
        if fields.next() != Some("v1") {
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
        match fields.next() {
            Some("V") => {}
            Some("N") => return Err(CorruptEntry("negative entry of an earlier version")),
            _ => return Err(CorruptEntry("bad kind")),
        }
        if fields.next().is_some() {
            return Err(CorruptEntry("extra header fields"));
        }
        if body.is_empty() {
            return Err(CorruptEntry("empty body"));
        }
        Ok(Envelope {
            stored_at_ms,
            fresh_ttl,
            delta,
            body: body.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let entry = Envelope {
            stored_at_ms: 1_700_000_000_123,
            fresh_ttl: Duration::from_secs(300),
            delta: Duration::from_millis(52),
            body: "{\"a\":\"x|y\\nz\"}".into(),
        };
        assert_eq!(Envelope::decode(entry.encode().as_bytes()).unwrap(), entry);
        assert_eq!(entry.expires_at_ms(), 1_700_000_300_123);
        for bad in [
            &b""[..],
            b"{\"a\":1}",
            b"v2|1|2|3|V\n{}",
            b"v1|x|2|3|V\n{}",
            b"v1|1|2|3|Q\n{}",
            b"v1|1|2|3|N\n",
            b"v1|1|2|3|V\n",
            b"\xff\xfe",
        ] {
            assert!(Envelope::decode(bad).is_err(), "{bad:?}");
        }
    }
}
