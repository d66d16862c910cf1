//! Arbitrary bytes → Upstash reply decoding (`Reply::from_base64_json` on any
//! JSON) and cache envelope decoding (`Envelope::decode`): a value or a typed
//! error, never a panic; a decoded envelope re-encodes to the same envelope.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::cache::Envelope;
use shared::upstash::Reply;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
        if let Ok(reply) = Reply::from_base64_json(value.clone()) {
            let _ = (reply.as_int(), reply.as_str(), reply.is_nil());
            let _ = reply.into_array();
        }
        // A whole response body: {"result": …} or {"error": …}, or a pipeline array.
        if let Some(result) = value.get("result") {
            let _ = Reply::from_base64_json(result.clone());
        }
        if let Some(items) = value.as_array() {
            for item in items {
                if let Some(result) = item.get("result") {
                    let _ = Reply::from_base64_json(result.clone());
                }
            }
        }
    }
    if let Ok(envelope) = Envelope::decode(data) {
        let again = Envelope::decode(envelope.encode().as_bytes()).expect("re-decodes");
        assert_eq!(again, envelope);
        let _ = envelope.expires_at_ms();
    }
});
