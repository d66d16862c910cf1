//! Reading and validating requests from every event source.
//!
//! API Gateway REST (1.0) and HTTP (2.0) APIs fill path parameters; Lambda
//! Function URLs and plain `cargo lambda watch` invocations may only give
//! the raw path. Each route therefore matches its template against the raw
//! path's trailing segments when no path parameter is present.

use lambda_http::{Request, RequestExt};
use percent_encoding::percent_decode_str;

use super::ApiError;
use crate::symbol::Symbol;

/// Default of the `days` query parameter.
pub const DEFAULT_DAYS: u32 = 30;
/// Largest accepted `days`.
pub const MAX_DAYS: u32 = 3650;

/// A route template such as `/v1/stocks/{symbol}/latest`.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    /// The template, with `{name}` placeholders.
    pub template: &'static str,
    /// The one method it serves.
    pub method: &'static str,
}

impl Route {
    /// Checks method and path; returns the path's parameters by name.
    ///
    /// Path parameters set by API Gateway win; otherwise the raw path's last
    /// segments are matched against the template (this tolerates a stage
    /// prefix such as `/prod`).
    pub fn matches(&self, request: &Request) -> Result<Vec<(&'static str, String)>, ApiError> {
        let params = self.match_path(request)?;
        if request.method().as_str() != self.method {
            return Err(ApiError::method_not_allowed(self.method));
        }
        Ok(params)
    }

    fn match_path(&self, request: &Request) -> Result<Vec<(&'static str, String)>, ApiError> {
        let template: Vec<&'static str> = self.template.trim_matches('/').split('/').collect();
        let names: Vec<&'static str> = template
            .iter()
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        let from_gateway = request.path_parameters_ref();
        if let Some(params) = from_gateway
            && !names.is_empty()
            && names.iter().all(|n| params.first(n).is_some())
        {
            return Ok(names
                .iter()
                .map(|n| (*n, params.first(n).unwrap_or_default().to_string()))
                .collect());
        }
        let raw = raw_path(request);
        let segments: Vec<&str> = raw.trim_end_matches('/').split('/').collect();
        if segments.len() < template.len() + 1 {
            return Err(ApiError::not_found());
        }
        let tail = &segments[segments.len() - template.len()..];
        let head = &segments[..segments.len() - template.len()];
        // Allow an empty leading segment and at most one stage segment before the route.
        if head.len() > 2 || head.first().is_some_and(|s| !s.is_empty()) {
            return Err(ApiError::not_found());
        }
        let mut params = Vec::new();
        for (pattern, actual) in template.iter().zip(tail) {
            match pattern.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => {
                    let decoded = percent_decode_str(actual)
                        .decode_utf8()
                        .map_err(|_| ApiError::invalid_symbol())?;
                    params.push((name, decoded.into_owned()));
                }
                None if pattern == actual => {}
                None => return Err(ApiError::not_found()),
            }
        }
        Ok(params)
    }
}

fn raw_path(request: &Request) -> String {
    let raw = request.raw_http_path();
    if raw.is_empty() {
        request.uri().path().to_string()
    } else {
        raw.to_string()
    }
}

/// Validates the `symbol` parameter.
pub fn symbol_param(params: &[(&'static str, String)]) -> Result<Symbol, ApiError> {
    let value = params
        .iter()
        .find(|(name, _)| *name == "symbol")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    Symbol::parse(value).map_err(|_| ApiError::invalid_symbol())
}

/// Reads `days` from the query: absent → 30; else a plain decimal integer in 1..=3650.
pub fn days_param(request: &Request) -> Result<u32, ApiError> {
    let query = request.query_string_parameters_ref();
    let values: Vec<&str> = query.and_then(|q| q.all("days")).unwrap_or_default();
    match values.as_slice() {
        [] => Ok(DEFAULT_DAYS),
        [one] => parse_days(one),
        _ => Err(ApiError::invalid_parameter(
            "days must be given at most once",
        )),
    }
}

/// Parses a `days` value.
pub fn parse_days(value: &str) -> Result<u32, ApiError> {
    let message =
        || ApiError::invalid_parameter(format!("days must be an integer from 1 to {MAX_DAYS}"));
    if value.is_empty() || value.len() > 5 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(message());
    }
    match value.parse::<u32>() {
        Ok(days) if (1..=MAX_DAYS).contains(&days) => Ok(days),
        _ => Err(message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_accepts_only_plain_integers_in_range() {
        for ok in ["1", "30", "3650", "0007"] {
            assert!(parse_days(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "0",
            "-1",
            "3651",
            "+5",
            "1.5",
            "1e3",
            "abc",
            " 5",
            "99999999999",
        ] {
            assert_eq!(
                parse_days(bad).unwrap_err().code,
                "invalid_parameter",
                "{bad}"
            );
        }
    }
}
