//! Upstash connection settings, read from the environment.

use std::time::Duration;

use crate::secret::Secret;

/// Default per-request timeout when `CACHE_TIMEOUT_MS` is unset.
pub const DEFAULT_TIMEOUT_MS: u64 = 100;

const URL_VARS: [&str; 2] = ["UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_URL"];
const TOKEN_VARS: [&str; 2] = ["UPSTASH_REDIS_REST_TOKEN", "UPSTASH_REDIS_TOKEN"];
const TIMEOUT_VAR: &str = "CACHE_TIMEOUT_MS";

/// Where the Upstash REST API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct UpstashConfig {
    /// Base URL, e.g. `https://us1-merry-cat-32748.upstash.io` or `http://127.0.0.1:8079`.
    pub url: String,
    /// The REST token (sent as `Authorization: Bearer`).
    pub token: Secret,
    /// Hard limit on each request, connection included.
    pub timeout: Duration,
}

/// An invalid Upstash setting; names the variable, never its secret value.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
#[error("invalid {variable}: {reason}")]
pub struct UpstashConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

impl UpstashConfig {
    /// Reads `UPSTASH_REDIS_REST_URL` / `UPSTASH_REDIS_REST_TOKEN` (aliases
    /// `UPSTASH_REDIS_URL` / `UPSTASH_REDIS_TOKEN`) and `CACHE_TIMEOUT_MS`
    /// (default 100) through `lookup`.
    ///
    /// Returns `Ok(None)` when no URL is set (cache not configured) and an
    /// error naming the variable when a value is invalid (bad URL, URL without
    /// token, non-numeric or zero timeout). Empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, UpstashConfigError> {
        let get = |names: &[&'static str]| {
            names.iter().find_map(|name| {
                lookup(name)
                    .map(|v| v.trim().to_owned())
                    .filter(|v| !v.is_empty())
                    .map(|v| (*name, v))
            })
        };
        let Some((url_var, url)) = get(&URL_VARS) else {
            return Ok(None);
        };
        let url = validate_url(url_var, &url)?;
        let Some((_, token)) = get(&TOKEN_VARS) else {
            return Err(UpstashConfigError {
                variable: TOKEN_VARS[0],
                reason: format!("must be set when {url_var} is set"),
            });
        };
        let timeout = match get(&[TIMEOUT_VAR]) {
            None => Duration::from_millis(DEFAULT_TIMEOUT_MS),
            Some((_, raw)) => match raw.parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(UpstashConfigError {
                        variable: TIMEOUT_VAR,
                        reason: format!("expected a positive integer of milliseconds, got {raw:?}"),
                    });
                }
            },
        };
        Ok(Some(Self {
            url,
            token: Secret::from(token),
            timeout,
        }))
    }
}

/// Checks the URL is absolute http(s) with a host and no credentials or
/// query; returns it without a trailing slash.
fn validate_url(variable: &'static str, raw: &str) -> Result<String, UpstashConfigError> {
    let err = |reason: &str| UpstashConfigError {
        variable,
        reason: reason.to_owned(),
    };
    // Never echo the value: a mistyped URL might contain a token.
    let parsed = url::Url::parse(raw).map_err(|_| err("not a valid absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(err("scheme must be http or https"));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(err("URL has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(err("URL must not contain credentials"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(err("URL must not contain a query or fragment"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn none_without_url() {
        assert_eq!(
            UpstashConfig::from_lookup(lookup(&[]))
                .unwrap()
                .map(|c| c.url),
            None
        );
        let only_token = lookup(&[("UPSTASH_REDIS_REST_TOKEN", "t")]);
        assert!(UpstashConfig::from_lookup(only_token).unwrap().is_none());
        let empty = lookup(&[("UPSTASH_REDIS_REST_URL", " ")]);
        assert!(UpstashConfig::from_lookup(empty).unwrap().is_none());
    }

    #[test]
    fn reads_primary_names() {
        let c = UpstashConfig::from_lookup(lookup(&[
            ("UPSTASH_REDIS_REST_URL", "https://x.upstash.io/"),
            ("UPSTASH_REDIS_REST_TOKEN", "tok"),
            ("CACHE_TIMEOUT_MS", "250"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.url, "https://x.upstash.io");
        assert_eq!(c.token.expose(), "tok");
        assert_eq!(c.timeout, Duration::from_millis(250));
    }

    #[test]
    fn reads_aliases_and_default_timeout() {
        let c = UpstashConfig::from_lookup(lookup(&[
            ("UPSTASH_REDIS_URL", "http://127.0.0.1:8079"),
            ("UPSTASH_REDIS_TOKEN", "tok2"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.url, "http://127.0.0.1:8079");
        assert_eq!(c.token.expose(), "tok2");
        assert_eq!(c.timeout, Duration::from_millis(DEFAULT_TIMEOUT_MS));
    }

    #[test]
    fn primary_name_wins_over_alias() {
        let c = UpstashConfig::from_lookup(lookup(&[
            ("UPSTASH_REDIS_REST_URL", "http://a:1"),
            ("UPSTASH_REDIS_URL", "http://b:2"),
            ("UPSTASH_REDIS_REST_TOKEN", "ta"),
            ("UPSTASH_REDIS_TOKEN", "tb"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(c.url, "http://a:1");
        assert_eq!(c.token.expose(), "ta");
    }

    #[test]
    fn errors_name_the_variable() {
        let bad_url = UpstashConfig::from_lookup(lookup(&[
            ("UPSTASH_REDIS_REST_URL", "not a url"),
            ("UPSTASH_REDIS_REST_TOKEN", "t"),
        ]))
        .unwrap_err();
        assert_eq!(bad_url.variable, "UPSTASH_REDIS_REST_URL");

        let bad_scheme = UpstashConfig::from_lookup(lookup(&[
            ("UPSTASH_REDIS_URL", "redis://x:6379"),
            ("UPSTASH_REDIS_REST_TOKEN", "t"),
        ]))
        .unwrap_err();
        assert_eq!(bad_scheme.variable, "UPSTASH_REDIS_URL");

        let no_token =
            UpstashConfig::from_lookup(lookup(&[("UPSTASH_REDIS_REST_URL", "https://x.io")]))
                .unwrap_err();
        assert_eq!(no_token.variable, "UPSTASH_REDIS_REST_TOKEN");

        for bad in ["abc", "0", "-5", "1.5"] {
            let e = UpstashConfig::from_lookup(lookup(&[
                ("UPSTASH_REDIS_REST_URL", "https://x.io"),
                ("UPSTASH_REDIS_REST_TOKEN", "t"),
                ("CACHE_TIMEOUT_MS", bad),
            ]))
            .unwrap_err();
            assert_eq!(e.variable, "CACHE_TIMEOUT_MS", "{bad}");
            assert!(e.to_string().contains("CACHE_TIMEOUT_MS"));
        }
    }

    #[test]
    fn token_never_in_debug_or_errors() {
        let c = UpstashConfig::from_lookup(lookup(&[
            ("UPSTASH_REDIS_REST_URL", "https://x.io"),
            ("UPSTASH_REDIS_REST_TOKEN", "supersecret-token-value"),
        ]))
        .unwrap()
        .unwrap();
        assert!(!format!("{c:?}").contains("supersecret"));
        let e = UpstashConfig::from_lookup(lookup(&[
            ("UPSTASH_REDIS_REST_URL", "https://user:supersecret@x.io"),
            ("UPSTASH_REDIS_REST_TOKEN", "t"),
        ]))
        .unwrap_err();
        assert!(!format!("{e:?} {e}").contains("supersecret"));
    }
}
