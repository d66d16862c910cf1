//! API errors and their JSON form `{"error":{"code":"…","message":"…"}}`.

use lambda_http::http::StatusCode;
use serde::Serialize;

/// An error answer of the API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation (never holds secrets).
    pub message: String,
    /// The method the route serves (the `Allow` header of a 405).
    pub allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            allow: None,
        }
    }

    /// 400 `invalid_symbol`.
    pub fn invalid_symbol() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_symbol",
            "symbol must be 1 to 15 characters: letters, digits, '.' or '-', starting with a letter or digit",
        )
    }

    /// 400 `invalid_parameter`.
    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_parameter", message)
    }

    /// 404 `symbol_not_found`.
    pub fn symbol_not_found(symbol: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "symbol_not_found",
            format!("symbol {symbol} not found"),
        )
    }

    /// 404 `not_found` for a path no route serves.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "no route serves this path",
        )
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed(allowed: &'static str) -> Self {
        let error = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("method not allowed; use {allowed}"),
        );
        ApiError {
            allow: Some(allowed),
            ..error
        }
    }

    /// 502 `storage_unavailable`: the data store failed or holds bad data.
    pub fn storage_unavailable() -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            "storage_unavailable",
            "the data store is unavailable; try again later",
        )
    }

    /// 401 `unauthorized`.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    }

    /// 403 `admin_disabled`.
    pub fn admin_disabled() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "admin_disabled",
            "management routes are disabled: CACHE_ADMIN_TOKEN is not set",
        )
    }

    /// 503 `cache_unavailable`.
    pub fn cache_unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cache_unavailable",
            message,
        )
    }

    /// The JSON body of this error.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        serde_json::to_string(&Outer {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        })
        .unwrap_or_else(|_| {
            String::from(r#"{"error":{"code":"internal","message":"internal error"}}"#)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_documented_shape() {
        let body: serde_json::Value =
            serde_json::from_str(&ApiError::symbol_not_found("ZZZ").body()).unwrap();
        assert_eq!(body["error"]["code"], "symbol_not_found");
        assert_eq!(body["error"]["message"], "symbol ZZZ not found");
        assert_eq!(body.as_object().unwrap().len(), 1);
    }
}
