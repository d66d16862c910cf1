//! Rendering Redis replies as Upstash JSON.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use redis::Value;
use serde_json::{Value as Json, json};

/// Formats a Redis server error like Redis itself prints it: `CODE detail`.
pub(crate) fn server_error_message(err: &redis::ServerError) -> String {
    match err.details() {
        Some(detail) => format!("{} {}", err.code(), detail),
        None => err.code().to_owned(),
    }
}

/// Renders a string: base64 when `base64` is set, otherwise UTF-8 with
/// invalid sequences replaced by U+FFFD.
fn string(bytes: &[u8], base64: bool) -> Json {
    if base64 {
        Json::String(STANDARD.encode(bytes))
    } else {
        Json::String(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Converts a reply value to the JSON placed in `"result"`.
///
/// The status `OK` is never encoded; other statuses (`PONG`, `QUEUED`) are
/// strings like any other. Errors nested in arrays become their message.
pub(crate) fn to_json(value: &Value, base64: bool) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Int(i) => json!(i),
        Value::Okay => Json::String("OK".into()),
        Value::SimpleString(s) if s == "OK" => Json::String("OK".into()),
        Value::SimpleString(s) => string(s.as_bytes(), base64),
        Value::BulkString(b) => string(b, base64),
        Value::Array(items) | Value::Set(items) => {
            Json::Array(items.iter().map(|v| to_json(v, base64)).collect())
        }
        Value::Map(pairs) => Json::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [to_json(k, base64), to_json(v, base64)])
                .collect(),
        ),
        Value::Attribute { data, .. } => to_json(data, base64),
        Value::Double(d) => string(d.to_string().as_bytes(), base64),
        Value::Boolean(b) => json!(i64::from(*b)),
        Value::VerbatimString { text, .. } => string(text.as_bytes(), base64),
        Value::BigNumber(n) => string(format!("{n:?}").as_bytes(), base64),
        Value::Push { data, .. } => Json::Array(data.iter().map(|v| to_json(v, base64)).collect()),
        Value::ServerError(e) => Json::String(server_error_message(e)),
        // `Value` is non-exhaustive; future variants render as their debug text.
        other => string(format!("{other:?}").as_bytes(), base64),
    }
}

/// `{"result": X}` or, for a server error, `{"error": msg}` (never encoded).
pub(crate) fn entry(value: &Value, base64: bool) -> Json {
    match value {
        Value::ServerError(e) => error_entry(&server_error_message(e)),
        other => json!({ "result": to_json(other, base64) }),
    }
}

/// `{"error": msg}`.
pub(crate) fn error_entry(msg: &str) -> Json {
    json!({ "error": msg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_rendering() {
        let v = Value::Array(vec![
            Value::BulkString(b"a".to_vec()),
            Value::Nil,
            Value::Int(3),
            Value::Array(vec![Value::BulkString(vec![0xff, b'x'])]),
        ]);
        assert_eq!(to_json(&v, false), json!(["a", null, 3, ["\u{fffd}x"]]));
    }

    #[test]
    fn base64_rendering_keeps_ok() {
        assert_eq!(to_json(&Value::Okay, true), json!("OK"));
        assert_eq!(
            to_json(&Value::SimpleString("OK".into()), true),
            json!("OK")
        );
        assert_eq!(
            to_json(&Value::SimpleString("PONG".into()), true),
            json!("UE9ORw==")
        );
        assert_eq!(
            to_json(&Value::BulkString(b"OK".to_vec()), true),
            json!("T0s=")
        );
        assert_eq!(to_json(&Value::Int(7), true), json!(7));
        assert_eq!(to_json(&Value::Nil, true), json!(null));
    }
}
