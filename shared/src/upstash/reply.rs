//! Decoded Upstash results.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::Value;

use super::UpstashError;

/// A command result, decoded from a base64-encoded Upstash response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Redis nil (`null`).
    Nil,
    /// An integer reply.
    Int(i64),
    /// A bulk string (or any status other than `OK`), as raw bytes.
    Bytes(Bytes),
    /// The status reply `OK` (never base64-encoded by Upstash).
    Status(String),
    /// An array reply (may nest and hold `Nil`).
    Array(Vec<Reply>),
}

impl Reply {
    /// Decodes one `result` value of a response sent with
    /// `Upstash-Encoding: base64`: every string except exactly `"OK"` is
    /// base64, integers and nulls are unchanged, arrays nest.
    pub fn from_base64_json(value: Value) -> Result<Self, UpstashError> {
        match value {
            Value::Null => Ok(Self::Nil),
            Value::Number(n) => n
                .as_i64()
                .map(Self::Int)
                .ok_or_else(|| UpstashError::Decode(format!("non-integer number {n}"))),
            Value::String(s) if s == "OK" => Ok(Self::Status(s)),
            Value::String(s) => STANDARD
                .decode(s.as_bytes())
                .map(|b| Self::Bytes(Bytes::from(b)))
                .map_err(|e| UpstashError::Decode(format!("invalid base64: {e}"))),
            Value::Array(items) => items
                .into_iter()
                .map(Self::from_base64_json)
                .collect::<Result<Vec<_>, _>>()
                .map(Self::Array),
            Value::Bool(b) => Ok(Self::Int(i64::from(b))),
            Value::Object(_) => Err(UpstashError::Decode("unexpected object in result".into())),
        }
    }

    /// `true` for [`Reply::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Self::Nil)
    }

    /// The bytes of a bulk string or status, `None` otherwise.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Self::Bytes(b) => Some(b),
            Self::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// The value as UTF-8 text (bulk string or status), `None` if not a
    /// string or not valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// The integer of an [`Reply::Int`], or a bulk string holding a decimal
    /// integer (Redis returns some numbers as strings).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Self::Int(i) => Some(*i),
            Self::Bytes(_) => self.as_str().and_then(|s| s.parse().ok()),
            _ => None,
        }
    }

    /// Takes the bytes of a bulk string or status.
    pub fn into_bytes(self) -> Option<Bytes> {
        match self {
            Self::Bytes(b) => Some(b),
            Self::Status(s) => Some(Bytes::from(s)),
            _ => None,
        }
    }

    /// Takes the elements of an array reply.
    pub fn into_array(self) -> Option<Vec<Reply>> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// `true` for the status reply `OK`.
    pub fn is_ok_status(&self) -> bool {
        matches!(self, Self::Status(s) if s == "OK")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: Value) -> Result<Reply, UpstashError> {
        Reply::from_base64_json(v)
    }

    #[test]
    fn decodes_scalars() {
        assert_eq!(decode(json!(null)).unwrap(), Reply::Nil);
        assert_eq!(decode(json!(42)).unwrap(), Reply::Int(42));
        assert_eq!(decode(json!(-1)).unwrap(), Reply::Int(-1));
        assert_eq!(decode(json!("OK")).unwrap(), Reply::Status("OK".into()));
        assert_eq!(
            decode(json!("aGVsbG8=")).unwrap(),
            Reply::Bytes(Bytes::from_static(b"hello"))
        );
        assert_eq!(
            decode(json!("/wA=")).unwrap(),
            Reply::Bytes(Bytes::from_static(&[0xff, 0x00]))
        );
        assert_eq!(decode(json!("")).unwrap(), Reply::Bytes(Bytes::new()));
    }

    #[test]
    fn decodes_nested_arrays() {
        let r = decode(json!(["MA==", ["YQ==", null, 3], []])).unwrap();
        assert_eq!(
            r,
            Reply::Array(vec![
                Reply::Bytes(Bytes::from_static(b"0")),
                Reply::Array(vec![
                    Reply::Bytes(Bytes::from_static(b"a")),
                    Reply::Nil,
                    Reply::Int(3)
                ]),
                Reply::Array(vec![]),
            ])
        );
    }

    #[test]
    fn rejects_bad_shapes() {
        assert!(matches!(
            decode(json!("not base64!")),
            Err(UpstashError::Decode(_))
        ));
        assert!(matches!(decode(json!(1.5)), Err(UpstashError::Decode(_))));
        assert!(matches!(
            decode(json!({"a": 1})),
            Err(UpstashError::Decode(_))
        ));
    }

    #[test]
    fn helpers() {
        let b = Reply::Bytes(Bytes::from_static(b"12"));
        assert_eq!(b.as_str(), Some("12"));
        assert_eq!(b.as_int(), Some(12));
        assert_eq!(b.as_bytes(), Some(&b"12"[..]));
        assert_eq!(Reply::Int(5).as_int(), Some(5));
        assert_eq!(Reply::Nil.as_int(), None);
        assert!(Reply::Nil.is_nil());
        assert_eq!(Reply::Bytes(Bytes::from_static(&[0xff])).as_str(), None);
        assert!(Reply::Status("OK".into()).is_ok_status());
        assert_eq!(Reply::Status("OK".into()).as_str(), Some("OK"));
        assert_eq!(
            Reply::Array(vec![Reply::Nil]).into_array(),
            Some(vec![Reply::Nil])
        );
        assert_eq!(Reply::Nil.into_array(), None);
        assert_eq!(
            Reply::Bytes(Bytes::from_static(b"x")).into_bytes(),
            Some(Bytes::from_static(b"x"))
        );
    }
}
