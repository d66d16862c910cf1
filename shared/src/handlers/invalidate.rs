//! `cache-invalidate`: tells the cache that data changed outside the import
//! tool. Serves S3 change events (EventBridge or S3 notifications, sent as
//! direct invocations) and `POST /v1/cache/invalidate` (admin token) with
//! `{"symbols":[…]}` and/or `{"objects":[…]}` for pipelines elsewhere.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::CACHE_INVALIDATE;
use super::manage::{Caller, answer, body_json, cache_failed, enabled};
use super::match_route;
use crate::admin::AdminConfig;
use crate::cache::Invalidation;
use crate::http::ApiError;
use crate::object_events;
use crate::service::StockDataService;
use crate::storage::StorageLocation;
use crate::storage::layout::{StoredObject, classify};
use crate::symbol::Symbol;

/// Most symbols plus objects one request may name.
const MAX_ITEMS: usize = 10_000;
/// Most ignored keys listed in an answer (and logged one by one).
const MAX_IGNORED_LISTED: usize = 20;

/// Handles S3 change events and `POST /v1/cache/invalidate`.
///
/// An event reaches the function as a pass-through invocation (only
/// principals allowed to invoke it, by IAM, can send one) and needs no
/// token; keys outside `STORAGE_URL`'s bucket and prefix are ignored and
/// logged, never a failure.
pub async fn cache_invalidate(
    service: &StockDataService,
    admin: &AdminConfig,
    request: Request,
) -> Response<Body> {
    let caller = Caller::of(&request);
    answer(async {
        if !caller.is_http()? {
            return from_event(service, &body_json(request.body())).await;
        }
        match_route(&[CACHE_INVALIDATE], &request)?;
        admin.authorize(&request)?;
        let asked = Asked::parse(request.body())?;
        let location = service.store().location();
        let (mut what, ignored) = plan(location, asked.objects.iter().map(|k| (None, k.as_str())));
        what.symbols.extend(asked.symbols);
        if what.is_empty() {
            return Ok(nothing_to_do(&ignored));
        }
        run(service, &what, &ignored).await
    })
    .await
}

/// The body of `POST /v1/cache/invalidate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AskedRaw {
    #[serde(default)]
    symbols: Vec<String>,
    #[serde(default)]
    objects: Vec<String>,
}

/// A validated request body.
#[derive(Debug)]
struct Asked {
    symbols: Vec<Symbol>,
    objects: Vec<String>,
}

impl Asked {
    fn parse(body: &Body) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::invalid_parameter(
                "body must be {\"symbols\":[…]} and/or {\"objects\":[…]}: arrays of strings",
            )
        };
        let raw: AskedRaw = serde_json::from_value(body_json(body)).map_err(|_| bad())?;
        let count = raw.symbols.len() + raw.objects.len();
        if count == 0 {
            return Err(bad());
        }
        if count > MAX_ITEMS {
            return Err(ApiError::invalid_parameter(format!(
                "at most {MAX_ITEMS} symbols and objects per request"
            )));
        }
        let symbols = raw
            .symbols
            .iter()
            .map(|s| Symbol::parse(s).map_err(|_| ApiError::invalid_symbol()))
            .collect::<Result<_, _>>()?;
        Ok(Asked {
            symbols,
            objects: raw.objects,
        })
    }
}

/// An S3 change event: invalidates what its keys name.
async fn from_event(service: &StockDataService, event: &Value) -> Result<Value, ApiError> {
    let Some(changes) = object_events::parse(event) else {
        tracing::warn!("cache-invalidate ignored an event that is not an S3 object change");
        return Ok(json!({"status": "ignored", "reason": "not an S3 object change event"}));
    };
    let location = service.store().location();
    let keys = changes
        .iter()
        .map(|c| (Some(c.bucket.as_str()), c.key.as_str()));
    let (what, ignored) = plan(location, keys);
    if what.is_empty() {
        return Ok(nothing_to_do(&ignored));
    }
    if service.cache().is_none() {
        return Ok(json!({"status": "ignored", "reason": "the cache is disabled"}));
    }
    run(service, &what, &ignored).await
}

/// What the (bucket, key) pairs name under `location`, and the keys ignored.
fn plan<'a>(
    location: &StorageLocation,
    keys: impl Iterator<Item = (Option<&'a str>, &'a str)>,
) -> (Invalidation, Vec<String>) {
    let mut what = Invalidation::default();
    let mut ignored = Vec::new();
    for (bucket, key) in keys {
        let other_bucket = matches!((bucket, &location.bucket), (Some(b), Some(ours)) if b != ours);
        let object = (!other_bucket)
            .then(|| classify(&location.prefix, key))
            .flatten();
        match object {
            Some(StoredObject::Partition { symbol, .. }) => {
                what.symbols.insert(symbol);
            }
            Some(StoredObject::Manifest) => {
                what.symbol_list = true;
                what.all_symbol_info = true;
            }
            None => {
                if ignored.len() < MAX_IGNORED_LISTED {
                    tracing::info!(
                        key,
                        bucket,
                        "not an object of the data set under STORAGE_URL; ignored"
                    );
                }
                ignored.push(key.to_string());
            }
        }
    }
    (what, ignored)
}

async fn run(
    service: &StockDataService,
    what: &Invalidation,
    ignored: &[String],
) -> Result<Value, ApiError> {
    enabled(service)?;
    let done = service.apply_update(what).await.map_err(|error| {
        tracing::error!(
            symbols = what.symbols.len(),
            symbol_list = what.symbol_list,
            "invalidation failed; values stay cached until they expire"
        );
        cache_failed(error)
    })?;
    let done = done.unwrap_or_default();
    let symbols: Vec<&str> = what.symbols.iter().map(Symbol::as_str).collect();
    tracing::info!(
        symbols = symbols.len(),
        symbol_list = what.symbol_list,
        all_symbol_info = what.all_symbol_info,
        keys_deleted = done.invalidated.keys_deleted,
        refreshed = done.refreshed,
        requests = done.requests,
        "cache invalidated"
    );
    Ok(json!({
        "status": "invalidated",
        "symbols": symbols,
        "symbol_list": what.symbol_list,
        "all_symbol_info": what.all_symbol_info,
        "keys_deleted": done.invalidated.keys_deleted,
        "values_refreshed": done.refreshed,
        "ignored": listed(ignored),
    }))
}

fn nothing_to_do(ignored: &[String]) -> Value {
    json!({"status": "nothing_to_invalidate", "ignored": listed(ignored)})
}

fn listed(ignored: &[String]) -> &[String] {
    &ignored[..ignored.len().min(MAX_IGNORED_LISTED)]
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use object_store::memory::InMemory;

    use super::*;

    #[test]
    fn plans_from_keys_of_our_bucket_and_prefix_only() {
        let mut location = StorageLocation::from_store(Arc::new(InMemory::new()), "data").unwrap();
        location.bucket = Some("ours".into());
        let keys = [
            (Some("ours"), "data/daily/AAPL/2013.json"),
            (Some("ours"), "data/daily/IBM/2012.json"),
            (Some("theirs"), "data/daily/MSFT/2013.json"),
            (None, "data/daily/FB/2013.json"),
            (Some("ours"), "elsewhere/daily/GOOG/2013.json"),
            (Some("ours"), "data/daily/bad*/2013.json"),
        ];
        let (what, ignored) = plan(&location, keys.into_iter());
        let symbols: Vec<&str> = what.symbols.iter().map(Symbol::as_str).collect();
        assert_eq!(symbols, ["AAPL", "FB", "IBM"]);
        assert!(!what.symbol_list && !what.all_symbol_info);
        assert_eq!(
            ignored,
            [
                "data/daily/MSFT/2013.json",
                "elsewhere/daily/GOOG/2013.json",
                "data/daily/bad*/2013.json"
            ]
        );
        let (what, ignored) = plan(&location, [(Some("ours"), "data/symbols.json")].into_iter());
        assert!(what.symbol_list && what.all_symbol_info && ignored.is_empty());
    }
}
