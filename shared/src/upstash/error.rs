//! Errors returned by the Upstash client.

/// Every way an Upstash request can fail.
///
/// No variant ever carries the token, the URL's credentials or a request
/// body, so errors are safe to log.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum UpstashError {
    /// The server rejected the token (HTTP 401).
    #[error("upstash: unauthorized (invalid or missing token)")]
    Unauthorized,
    /// Redis (or the REST layer) rejected the command: HTTP 400 with
    /// `{"error": msg}`, or one failed entry of a pipeline/transaction.
    #[error("upstash: command failed: {0}")]
    Command(String),
    /// Any other non-2xx HTTP status.
    #[error("upstash: HTTP status {0}")]
    Http(u16),
    /// The request did not complete within the configured timeout.
    #[error("upstash: request timed out")]
    Timeout,
    /// The connection could not be established, or was lost before a
    /// response arrived.
    #[error("upstash: connection failed")]
    Connect,
    /// The response was not the expected JSON/base64 shape.
    #[error("upstash: could not decode response: {0}")]
    Decode(String),
    /// The HTTP client could not be built (invalid configuration).
    #[error("upstash: could not build client: {0}")]
    Build(String),
}

impl UpstashError {
    /// A short, stable name of the variant, for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Unauthorized => "unauthorized",
            Self::Command(_) => "command",
            Self::Http(_) => "http",
            Self::Timeout => "timeout",
            Self::Connect => "connect",
            Self::Decode(_) => "decode",
            Self::Build(_) => "build",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_distinct() {
        let all = [
            UpstashError::Unauthorized,
            UpstashError::Command("ERR x".into()),
            UpstashError::Http(503),
            UpstashError::Timeout,
            UpstashError::Connect,
            UpstashError::Decode("bad".into()),
            UpstashError::Build("bad".into()),
        ];
        let mut kinds: Vec<_> = all.iter().map(UpstashError::kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), all.len());
    }

    #[test]
    fn display_includes_command_message() {
        let e = UpstashError::Command("WRONGTYPE Operation".into());
        assert_eq!(
            e.to_string(),
            "upstash: command failed: WRONGTYPE Operation"
        );
    }
}
