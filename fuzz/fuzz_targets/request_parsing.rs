//! Arbitrary method, path, path parameters, query and headers → every route's
//! matching and parameter validation: a validated request or an API error,
//! never a panic, and whatever is accepted satisfies the documented rules.

#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use lambda_http::http::{HeaderName, HeaderValue, Method};
use lambda_http::{Body, Request, RequestExt};
use libfuzzer_sys::fuzz_target;
use shared::handlers::{ROUTES, match_route};
use shared::http::request::{MAX_DAYS, days_param, parse_days, symbol_param};

#[derive(Arbitrary, Debug)]
struct Input {
    method: String,
    path: String,
    symbol_param: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    days: String,
}

fuzz_target!(|input: Input| {
    let _ = parse_days(&input.days).map(|d| assert!((1..=MAX_DAYS).contains(&d)));
    let mut builder = lambda_http::http::Request::builder();
    if let Ok(method) = Method::from_bytes(input.method.as_bytes()) {
        builder = builder.method(method);
    }
    // The URI may be rejected by `http`; fall back to the raw path as an extension only.
    let uri_ok = input.path.parse::<lambda_http::http::Uri>().is_ok();
    if uri_ok {
        builder = builder.uri(input.path.as_str());
    }
    let Ok(mut request) = builder.body(Body::Empty) else {
        return;
    };
    for (name, value) in &input.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            request.headers_mut().append(name, value);
        }
    }
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in input.query {
        query.entry(k).or_default().push(v);
    }
    let mut request: Request = request.with_query_string_parameters(query);
    if let Some(symbol) = input.symbol_param {
        let mut params = HashMap::new();
        params.insert("symbol".to_string(), symbol);
        request = request.with_path_parameters(params);
    }
    if !uri_ok {
        request = request.with_raw_http_path(input.path.as_str());
    }
    for (_, route) in ROUTES {
        if let Ok(params) = route.matches(&request) {
            assert_eq!(request.method().as_str(), route.method);
            if route.template.contains("{symbol}") {
                if let Ok(symbol) = symbol_param(&params) {
                    let s = symbol.as_str();
                    assert!(!s.is_empty() && s.len() <= 15, "{s:?}");
                    assert!(s.as_bytes()[0].is_ascii_alphanumeric());
                    assert!(s.bytes().all(|b| b.is_ascii_uppercase()
                        || b.is_ascii_digit()
                        || b == b'.'
                        || b == b'-'));
                }
            }
        }
        if let Ok(days) = days_param(&request) {
            assert!((1..=MAX_DAYS).contains(&days));
        }
        match match_route(&[*route], &request) {
            Ok(_) => {}
            Err(e) => assert!(matches!(e.status.as_u16(), 400 | 404 | 405), "{e:?}"),
        }
    }
    let all: Vec<_> = ROUTES.iter().map(|(_, r)| *r).collect();
    let _ = match_route(&all, &request);
});
