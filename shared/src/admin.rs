//! Settings and authorization of the management routes.

use std::time::Duration;

use lambda_http::Request;

use crate::http::ApiError;
use crate::secret::Secret;
use crate::settings::{ConfigError, parse_bool, parse_u64};
use crate::symbol::Symbol;

/// Who may call the management routes.
#[derive(Clone, Debug, Default)]
pub struct AdminConfig {
    /// `CACHE_ADMIN_TOKEN`: the bearer token; `None` disables management routes (403).
    pub token: Option<Secret>,
    /// `CACHE_STATS_PUBLIC` (default false): `GET /v1/cache/stats` without a token.
    pub stats_public: bool,
}

impl AdminConfig {
    /// Reads `CACHE_ADMIN_TOKEN` and `CACHE_STATS_PUBLIC`.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let token = lookup("CACHE_ADMIN_TOKEN").filter(|t| !t.trim().is_empty());
        if let Some(token) = &token
            && (token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err(ConfigError::Invalid {
                name: "CACHE_ADMIN_TOKEN",
                reason: "must be at least 16 printable ASCII characters without spaces".into(),
            });
        }
        Ok(AdminConfig {
            token: token.map(Secret::from),
            stats_public: parse_bool(lookup, "CACHE_STATS_PUBLIC")?.unwrap_or(false),
        })
    }

    /// Checks `Authorization: Bearer <CACHE_ADMIN_TOKEN>`, comparing in constant time.
    ///
    /// 403 `admin_disabled` when no token is configured; 401 `unauthorized`
    /// for a missing, malformed or wrong token.
    pub fn authorize(&self, request: &Request) -> Result<(), ApiError> {
        let Some(expected) = &self.token else {
            return Err(ApiError::admin_disabled());
        };
        let presented = request
            .headers()
            .get("authorization")
            .map(|v| v.as_bytes())
            .and_then(|v| {
                let (scheme, rest) = v.split_at_checked(7)?;
                scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
            })
            .unwrap_or(b"");
        if expected.constant_time_eq(presented) {
            Ok(())
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

/// Settings of the cache warmer.
#[derive(Clone, Debug)]
pub struct WarmConfig {
    /// `WARM_SYMBOLS`: symbols always warmed (comma list).
    pub symbols: Vec<Symbol>,
    /// `WARM_TOP_N` (default 50): also warm the N most requested symbols.
    pub top_n: usize,
    /// `WARM_CONCURRENCY` (default 16): storage reads in flight.
    pub concurrency: usize,
    /// `WARM_EVERY_S` (default 300, the template's `rate(5 minutes)`): the
    /// period of the schedule. A value is warmed when it would stop being
    /// fresh before the next run.
    pub every: Duration,
}

impl Default for WarmConfig {
    fn default() -> Self {
        WarmConfig {
            symbols: Vec::new(),
            top_n: 50,
            concurrency: 16,
            every: Duration::from_secs(300),
        }
    }
}

impl WarmConfig {
    /// Reads `WARM_SYMBOLS`, `WARM_TOP_N`, `WARM_CONCURRENCY`, `WARM_EVERY_S`.
    pub fn from_lookup(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut symbols = Vec::new();
        for raw in lookup("WARM_SYMBOLS").unwrap_or_default().split(',') {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let symbol = Symbol::parse(raw).map_err(|_| ConfigError::Invalid {
                name: "WARM_SYMBOLS",
                reason: format!("{raw:?} is not a valid symbol"),
            })?;
            if !symbols.contains(&symbol) {
                symbols.push(symbol);
            }
        }
        Ok(WarmConfig {
            symbols,
            top_n: parse_u64(lookup, "WARM_TOP_N", 50, 0..=10_000)? as usize,
            concurrency: parse_u64(lookup, "WARM_CONCURRENCY", 16, 1..=256)? as usize,
            every: Duration::from_secs(parse_u64(lookup, "WARM_EVERY_S", 300, 1..=86_400)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(auth: Option<&str>) -> Request {
        let mut builder = lambda_http::http::Request::builder().uri("/v1/cache/clear");
        if let Some(value) = auth {
            builder = builder.header("authorization", value);
        }
        builder.body(lambda_http::Body::Empty).unwrap()
    }

    #[test]
    fn authorize_every_case() {
        let token = "s3cret-admin-token-0123456789";
        let admin = AdminConfig {
            token: Some(Secret::from(token)),
            stats_public: false,
        };
        assert!(
            admin
                .authorize(&request(Some(&format!("Bearer {token}"))))
                .is_ok()
        );
        assert!(
            admin
                .authorize(&request(Some(&format!("bearer {token}"))))
                .is_ok()
        );
        for bad in [
            None,
            Some(String::new()),
            Some(token.to_string()),
            Some(format!("Bearer {}", &token[..token.len() - 1])),
            Some(format!("Bearer {}", token.to_uppercase())),
            Some(format!("Bearer {token}x")),
            Some(format!("Basic {token}")),
            Some("Bearer ".into()),
        ] {
            let err = admin.authorize(&request(bad.as_deref())).unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code),
                (401, "unauthorized"),
                "{bad:?}"
            );
            assert!(!err.message.contains(token));
        }
        let disabled = AdminConfig::default();
        let err = disabled
            .authorize(&request(Some(&format!("Bearer {token}"))))
            .unwrap_err();
        assert_eq!((err.status.as_u16(), err.code), (403, "admin_disabled"));
    }

    #[test]
    fn warm_config_parses_symbols() {
        let lookup = |name: &str| match name {
            "WARM_SYMBOLS" => Some(" aapl, MSFT,,aapl ".to_string()),
            _ => None,
        };
        let config = WarmConfig::from_lookup(&lookup).unwrap();
        let names: Vec<&str> = config.symbols.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["AAPL", "MSFT"]);
        assert_eq!((config.top_n, config.concurrency), (50, 16));
        let bad = |name: &str| (name == "WARM_SYMBOLS").then(|| "A*".to_string());
        assert!(
            WarmConfig::from_lookup(&bad)
                .unwrap_err()
                .to_string()
                .contains("WARM_SYMBOLS")
        );
    }
}
