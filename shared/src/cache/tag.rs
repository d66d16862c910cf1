//! The tag of a cached value: the tokens of the generation keys it was read
//! under ([`super::KeySpace::scopes_of`]), as one string.
//!
//! Every invalidation replaces the tokens of what it touches, so a value
//! whose tag differs from the tokens a reader fetches with it (in the same
//! `MGET`) was read before an update: it is never served, whenever it was
//! written. That is what lets a refresh store with a plain `SET` instead of
//! a lease-checking script.

use crate::upstash::Reply;

/// The tag of the tokens in `replies` (a missing key is the empty token).
pub(crate) fn tag_of(replies: &[Reply]) -> String {
    let mut tag = String::new();
    for (n, reply) in replies.iter().enumerate() {
        if n > 0 {
            tag.push('/');
        }
        tag.push_str(reply.as_str().unwrap_or(""));
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_in_order_and_a_missing_key_is_empty() {
        let replies = [
            Reply::Bytes(bytes::Bytes::from_static(b"a1")),
            Reply::Nil,
            Reply::Bytes(bytes::Bytes::from_static(b"e9")),
        ];
        assert_eq!(tag_of(&replies), "a1//e9");
        assert_eq!(tag_of(&[]), "");
        assert_ne!(tag_of(&replies[..1]), tag_of(&replies[1..2]));
    }
}
