//! Object-storage change events: which objects of which bucket changed.
//!
//! Two shapes reach `cache-invalidate`:
//! - EventBridge events from S3 (`"source": "aws.s3"`, `"detail-type":
//!   "Object Created"` or `"Object Deleted"`), the key in `detail.object.key`;
//! - classic S3 event notifications (`{"Records":[{"eventSource":"aws:s3",
//!   "s3":{"bucket":{"name"},"object":{"key"}}}]}`), whose keys are
//!   URL-encoded (a space is `+`).
//!
//! Keys of the data layout never hold characters that URL encoding changes
//! (symbols are `A-Z 0-9 . -`), so decoding EventBridge keys as well would
//! change nothing for them; they are taken as sent.

use serde_json::Value;

/// One object that was created, overwritten or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectChange {
    /// The bucket.
    pub bucket: String,
    /// The full object key (decoded).
    pub key: String,
}

/// The object changes an event reports, or `None` when `event` is neither
/// an S3 EventBridge event nor an S3 notification. Records of other
/// sources and record entries without a key are skipped.
pub fn parse(event: &Value) -> Option<Vec<ObjectChange>> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        return Some(records.iter().filter_map(notification_record).collect());
    }
    if event.get("source").and_then(Value::as_str) == Some("aws.s3") {
        let detail_type = event.get("detail-type").and_then(Value::as_str)?;
        if !matches!(detail_type, "Object Created" | "Object Deleted") {
            return Some(Vec::new());
        }
        let detail = event.get("detail")?;
        let change = ObjectChange {
            bucket: text(detail, &["bucket", "name"])?.to_string(),
            key: text(detail, &["object", "key"])?.to_string(),
        };
        return Some(vec![change]);
    }
    None
}

fn notification_record(record: &Value) -> Option<ObjectChange> {
    if record.get("eventSource").and_then(Value::as_str) != Some("aws:s3") {
        return None;
    }
    let s3 = record.get("s3")?;
    Some(ObjectChange {
        bucket: text(s3, &["bucket", "name"])?.to_string(),
        key: decode_key(text(s3, &["object", "key"])?)?,
    })
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(value, |v, name| v.get(name))?.as_str()
}

/// Decodes an S3 notification key: `+` is a space, `%XX` a byte; `None` when not UTF-8.
fn decode_key(raw: &str) -> Option<String> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|key| key.into_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_eventbridge_and_notification_shapes() {
        let bridge = json!({
            "source": "aws.s3",
            "detail-type": "Object Created",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "data/daily/BRK.B/2013.json"}}
        });
        assert_eq!(
            parse(&bridge),
            Some(vec![ObjectChange {
                bucket: "b".into(),
                key: "data/daily/BRK.B/2013.json".into()
            }])
        );
        let notification = json!({"Records": [
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": "my+data/caf%C3%A9%2B.json"}}},
            {"eventSource": "aws:sqs"},
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}}},
            {"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": "%FF"}}}
        ]});
        assert_eq!(
            parse(&notification),
            Some(vec![ObjectChange {
                bucket: "b".into(),
                key: "my data/café+.json".into()
            }])
        );
    }

    #[test]
    fn other_events_are_not_object_changes() {
        let tag_change =
            json!({"source": "aws.s3", "detail-type": "Object Tags Added", "detail": {}});
        assert_eq!(parse(&tag_change), Some(Vec::new()));
        assert_eq!(parse(&json!({"source": "aws.events"})), None);
        assert_eq!(
            parse(&json!({"source": "aws.s3", "detail-type": "Object Created"})),
            None
        );
        assert_eq!(parse(&json!("text")), None);
    }
}
