//! The OpenAPI contract: real responses of every handler (200s, 304, every
//! error kind) validated against `openapi.yaml` with a JSON-schema validator.
//!
//! For each response the schema of (path, method, status) is resolved from
//! the spec (following `$ref`s to components); required headers must be
//! present and match their schemas; a documented JSON body must validate,
//! an undocumented one must be absent. Finally every (path, method, status)
//! the spec documents must have been produced at least once, so code and
//! spec drifting apart in either direction fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use integration_tests::admin::{admin, admin_call, admin_post};
use integration_tests::backends::{BackendKind, TestStore, empty, memory, no_memo};
use integration_tests::containers::{container, container_with, test_cache_config};
use integration_tests::dispatch::{Functions, fill, function_of, management_routes};
use integration_tests::events::{ALL_SOURCES, Req, Source};
use integration_tests::upstash::{self, refused_addr, unique_prefix};
use lambda_http::{Body, Response};
use object_store::ObjectStoreExt;
use serde_json::{Value, json};
use shared::admin::AdminConfig;
use shared::cache::CacheConfig;
use shared::handlers::{
    CACHE_CLEAR_SYMBOL, CACHE_INVALIDATE, CACHE_STATS, LATEST_PRICE, RECENT_DATA, ROUTES,
    SYMBOL_INFO, SYMBOLS,
};
use shared::service::StockDataService;
use shared::storage::layout;
use shared::symbol::Symbol;

/// `openapi.yaml`, as JSON, with compiled validators per schema location.
struct Spec {
    doc: Value,
    validators: Mutex<BTreeMap<String, Arc<jsonschema::Validator>>>,
    covered: Mutex<BTreeSet<(String, String, String)>>,
    checked: Mutex<usize>,
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

impl Spec {
    fn load() -> Self {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../openapi.yaml");
        let text = std::fs::read_to_string(&path).expect("read openapi.yaml");
        let doc: Value = serde_yaml_ng::from_str(&text).expect("openapi.yaml is YAML");
        assert_eq!(
            doc["openapi"].as_str().map(|v| &v[..3]),
            Some("3.1"),
            "OpenAPI 3.1"
        );
        Spec {
            doc,
            validators: Mutex::new(BTreeMap::new()),
            covered: Mutex::new(BTreeSet::new()),
            checked: Mutex::new(0),
        }
    }

    /// The object at JSON pointer `ptr`, following a `$ref` there; returns it and its real pointer.
    fn resolve(&self, ptr: &str) -> Result<(&Value, String), String> {
        let mut ptr = ptr.to_string();
        for _ in 0..8 {
            let value = self
                .doc
                .pointer(&ptr)
                .ok_or_else(|| format!("spec has nothing at {ptr}"))?;
            match value.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    ptr = reference
                        .strip_prefix('#')
                        .ok_or_else(|| format!("external $ref {reference}"))?
                        .to_string();
                }
                None => return Ok((value, ptr)),
            }
        }
        Err(format!("$ref loop at {ptr}"))
    }

    /// A validator for the schema at `ptr`, `$ref`s resolved against the whole document.
    fn validator(&self, ptr: &str) -> Arc<jsonschema::Validator> {
        let mut cache = self.validators.lock().unwrap();
        if let Some(v) = cache.get(ptr) {
            return v.clone();
        }
        let mut root = self.doc.clone();
        let obj = root.as_object_mut().unwrap();
        obj.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        // A URI fragment: `{`/`}` of path templates must be percent-encoded.
        let fragment = ptr.replace('{', "%7B").replace('}', "%7D");
        obj.insert("$ref".into(), json!(format!("#{fragment}")));
        let validator = Arc::new(
            jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .should_validate_formats(true)
                .build(&root)
                .unwrap_or_else(|e| panic!("schema at {ptr} does not compile: {e}")),
        );
        cache.insert(ptr.to_string(), validator.clone());
        validator
    }

    fn validate(&self, ptr: &str, instance: &Value) -> Result<(), String> {
        let validator = self.validator(ptr);
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{instance} violates {ptr}: {}", errors.join("; ")))
        }
    }

    /// Checks `response` of `method template` against the spec.
    fn check(&self, template: &str, method: &str, response: &Response<Body>) -> Result<(), String> {
        let status = response.status().as_u16().to_string();
        let op = format!(
            "/paths/{}/{}",
            escape(template),
            method.to_ascii_lowercase()
        );
        let response_ptr = if status == "405" {
            "/components/responses/MethodNotAllowed".to_string()
        } else {
            if self.doc.pointer(&op).is_none() {
                return Err(format!("{method} {template} is not in the spec"));
            }
            format!("{op}/responses/{status}")
        };
        let (spec_response, response_ptr) = self
            .resolve(&response_ptr)
            .map_err(|e| format!("{method} {template} answered undocumented {status}: {e}"))?;
        if let Some(headers) = spec_response.get("headers").and_then(Value::as_object) {
            for name in headers.keys() {
                let (header, header_ptr) =
                    self.resolve(&format!("{response_ptr}/headers/{}", escape(name)))?;
                let actual = response.headers().get(name.as_str());
                match actual {
                    None if header["required"] == json!(true) => {
                        return Err(format!(
                            "{method} {template} {status}: header {name} missing"
                        ));
                    }
                    None => {}
                    Some(value) => {
                        let value = value.to_str().map_err(|e| e.to_string())?;
                        self.validate(&format!("{header_ptr}/schema"), &json!(value))
                            .map_err(|e| {
                                format!("{method} {template} {status}: header {name}: {e}")
                            })?;
                    }
                }
            }
        }
        let text = match response.body() {
            Body::Empty => String::new(),
            Body::Text(t) => t.clone(),
            Body::Binary(b) => String::from_utf8_lossy(b).into_owned(),
            _ => String::new(),
        };
        match spec_response.pointer("/content/application~1json") {
            Some(_) => {
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok());
                if content_type != Some("application/json") {
                    return Err(format!(
                        "{method} {template} {status}: content-type {content_type:?}"
                    ));
                }
                let body: Value = serde_json::from_str(&text).map_err(|e| {
                    format!("{method} {template} {status}: body is not JSON ({e}): {text}")
                })?;
                self.validate(
                    &format!("{response_ptr}/content/application~1json/schema"),
                    &body,
                )
                .map_err(|e| format!("{method} {template} {status}: {e}"))?;
            }
            None if spec_response.get("content").is_some() => {
                return Err(format!("{response_ptr}: only application/json is used"));
            }
            None => {
                if !text.is_empty() {
                    return Err(format!(
                        "{method} {template} {status}: the spec has no body, got {text}"
                    ));
                }
            }
        }
        self.covered.lock().unwrap().insert((
            template.to_string(),
            method.to_ascii_uppercase(),
            status,
        ));
        *self.checked.lock().unwrap() += 1;
        Ok(())
    }

    /// Every (path, method, status) the spec documents.
    fn documented(&self) -> BTreeSet<(String, String, String)> {
        let mut out = BTreeSet::new();
        for (path, item) in self.doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if let Some(responses) = op.get("responses").and_then(Value::as_object) {
                    for status in responses.keys() {
                        out.insert((path.clone(), method.to_ascii_uppercase(), status.clone()));
                    }
                }
            }
        }
        out
    }
}

/// One function container plus the spec, to call routes and check answers.
struct Harness<'a> {
    spec: &'a Spec,
    service: StockDataService,
    functions: Functions,
}

impl Harness<'_> {
    async fn call(&self, req: Req, source: Source) -> Response<Body> {
        let template = req.route.expect("route");
        let method = req.method.clone();
        let response = self
            .functions
            .route(&self.service, template, req.request(source))
            .await;
        if let Err(e) = self.spec.check(template, &method, &response) {
            panic!("{source:?}: {e}");
        }
        response
    }

    async fn expect(&self, req: Req, status: u16) -> Response<Body> {
        let what = format!("{} {}?{}", req.method, req.path, req.query);
        let response = self.call(req, Source::HttpApi).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        response
    }
}

fn etag(response: &Response<Body>) -> String {
    response.headers()["etag"].to_str().unwrap().to_string()
}

impl<'a> Harness<'a> {
    /// A harness over `service` whose management routes use `admin`.
    fn new(spec: &'a Spec, service: StockDataService, admin: AdminConfig) -> Self {
        Harness {
            spec,
            service,
            functions: Functions::with_admin(admin),
        }
    }

    /// A harness over a service with no cache, reading `data`.
    fn uncached(spec: &'a Spec, data: &TestStore) -> Self {
        let service = StockDataService::wire(data.store(no_memo()), None, CacheConfig::default());
        Harness::new(spec, service, admin())
    }
}

fn latest(symbol: &str) -> Req {
    Req::get(LATEST_PRICE.template, &fill(LATEST_PRICE.template, symbol))
}

fn recent(symbol: &str) -> Req {
    Req::get(RECENT_DATA.template, &fill(RECENT_DATA.template, symbol))
}

fn info(symbol: &str) -> Req {
    Req::get(SYMBOL_INFO.template, &fill(SYMBOL_INFO.template, symbol))
}

fn list() -> Req {
    Req::get(SYMBOLS.template, SYMBOLS.template)
}

/// One read of AAPL per read endpoint.
fn reads_of_aapl() -> [Req; 4] {
    [latest("AAPL"), recent("AAPL"), info("AAPL"), list()]
}

/// One call per management route of `ROUTES`, with the admin token; the
/// invalidation names a symbol, an object of the data set and one outside it.
fn admin_calls() -> Vec<Req> {
    management_routes()
        .map(|(_, route)| {
            let req = admin_call(&route);
            if route.template == CACHE_INVALIDATE.template {
                req.body(
                    r#"{"symbols":["aapl"],"objects":["data/v1/daily/FB/2012.json","elsewhere/x.json"]}"#,
                )
            } else {
                req
            }
        })
        .collect()
}

/// What a management call answers when the cache is missing or dead: stats
/// still report (200), everything else is 503.
fn status_without_a_cache(req: &Req) -> u16 {
    if req.route == Some(CACHE_STATS.template) {
        200
    } else {
        503
    }
}

#[tokio::test]
async fn every_response_matches_openapi_yaml() {
    let spec = Spec::load();
    let server = upstash::start().await;
    let data = memory("contract").await;
    let prefix = unique_prefix("contract");
    let cached = container(
        &server.url(),
        data.store(no_memo()),
        test_cache_config(&prefix),
    );
    let h = Harness::new(&spec, cached.service.clone(), admin());

    reads_answer_200_from_every_source(&h).await;
    reads_answer_304(&h).await;
    bad_reads_answer_400_404_or_502(&h).await;
    management_answers_200_400_and_401(&h).await;
    let disabled = Harness::new(&spec, cached.service.clone(), AdminConfig::default());
    for req in admin_calls() {
        disabled.expect(req, 403).await;
    }
    without_a_cache_reads_bypass_and_management_is_503(&Harness::uncached(&spec, &data)).await;
    dead_cache_stats_report_and_management_is_503(&spec, &data, &prefix).await;
    storage_without_a_manifest_is_502(&spec).await;
    x_cache_l1_then_stale(&spec, &server).await;
    every_route_answers_405_to_a_method_it_does_not_serve(&h).await;

    let covered = spec.covered.lock().unwrap().clone();
    let missing: Vec<_> = spec.documented().difference(&covered).cloned().collect();
    assert!(
        missing.is_empty(),
        "documented but never produced by the code: {missing:?}"
    );
    println!(
        "contract: {} responses checked against openapi.yaml, {} (path, method, status) documented",
        spec.checked.lock().unwrap(),
        spec.documented().len()
    );
}

/// Read endpoints: 200 (MISS then HIT) from every event source.
async fn reads_answer_200_from_every_source(h: &Harness<'_>) {
    for source in ALL_SOURCES {
        for req in [
            latest("AAPL"),
            latest("fb"),
            latest("brk.b"),
            recent("AAPL"),
            recent("aapl").query("days=7"),
            recent("AAPL").query("days=3650"),
            recent("FB").query("days=1"),
            info("BRK.B"),
            list(),
        ] {
            let response = h.call(req.clone(), source).await;
            assert_eq!(response.status(), 200, "{source:?} {req:?}");
        }
    }
}

/// 304 on every read endpoint, for its ETag and for `*`.
async fn reads_answer_304(h: &Harness<'_>) {
    for req in reads_of_aapl() {
        let first = h.expect(req.clone(), 200).await;
        h.expect(req.clone().header("If-None-Match", &etag(&first)), 304)
            .await;
        h.expect(req.header("If-None-Match", "*"), 304).await;
    }
}

/// 400 (bad symbol, bad `days`), 404 (unknown symbol), 502 (a partition that
/// is not JSON, a partition that is missing).
async fn bad_reads_answer_400_404_or_502(h: &Harness<'_>) {
    for bad in ["A*", "-AAPL", "AAAAAAAAAAAAAAAA", "a%2Fb", "%E2%82%AC"] {
        h.expect(latest(bad), 400).await;
        h.expect(recent(bad), 400).await;
        h.expect(info(bad), 400).await;
    }
    for days in ["0", "3651", "-1", "1.5", "abc", "7&days=8"] {
        h.expect(recent("AAPL").query(&format!("days={days}")), 400)
            .await;
    }
    for missing in ["ZZZZ", "NOPE.X"] {
        h.expect(latest(missing), 404).await;
        h.expect(recent(missing), 404).await;
        h.expect(info(missing), 404).await;
    }
    h.expect(latest("BROKEN"), 502).await;
    h.expect(recent("GHOST"), 502).await;
}

/// Management: 200 from every source, 401 without or with a wrong token,
/// 400 for a bad symbol or a bad invalidation body.
async fn management_answers_200_400_and_401(h: &Harness<'_>) {
    // Traffic first, so stats report counters, popularity and `since`.
    h.expect(latest("AAPL"), 200).await;
    for req in admin_calls() {
        for source in ALL_SOURCES {
            let response = h.call(req.clone(), source).await;
            assert_eq!(response.status(), 200, "{source:?} {req:?}");
        }
        let mut anonymous = req.clone();
        anonymous.headers.clear();
        h.expect(anonymous, 401).await;
        h.expect(
            req.header("Authorization", "Bearer wrong-token-000000000"),
            401,
        )
        .await;
    }
    h.expect(
        admin_post(CACHE_CLEAR_SYMBOL.template, "/v1/cache/clear/A*"),
        400,
    )
    .await;
    for body in [
        r#"{"symbols":["A*"]}"#,
        r#"{"symbols":[]}"#,
        r#"{"symbols":"AAPL"}"#,
        r#"{"everything":true}"#,
        "not json",
        "",
    ] {
        h.expect(
            admin_post(CACHE_INVALIDATE.template, "/v1/cache/invalidate").body(body),
            400,
        )
        .await;
    }
}

/// No cache: BYPASS reads, 503 management, stats still 200 (`enabled: false`).
async fn without_a_cache_reads_bypass_and_management_is_503(uncached: &Harness<'_>) {
    for req in reads_of_aapl() {
        let response = uncached.expect(req, 200).await;
        assert_eq!(response.headers()["x-cache"], "BYPASS");
    }
    for req in admin_calls() {
        let status = status_without_a_cache(&req);
        uncached.expect(req, status).await;
    }
}

/// A dead cache: stats answer `connected: false`, management 503, reads 200.
async fn dead_cache_stats_report_and_management_is_503(
    spec: &Spec,
    data: &TestStore,
    prefix: &str,
) {
    let refused = refused_addr().await;
    let dead = container_with(
        &format!("http://{refused}"),
        upstash::TEST_TOKEN,
        Duration::from_millis(200),
        data.store(no_memo()),
        test_cache_config(prefix),
    );
    let dead = Harness::new(spec, dead.service.clone(), admin());
    for req in admin_calls() {
        let status = status_without_a_cache(&req);
        dead.expect(req, status).await;
    }
    dead.expect(latest("AAPL"), 200).await;
}

/// Storage without a manifest: 502 from every read endpoint (no cache, so nothing masks it).
async fn storage_without_a_manifest_is_502(spec: &Spec) {
    let bare = empty(BackendKind::Memory, "contract-empty").await.unwrap();
    let bare = Harness::uncached(spec, &bare);
    for req in reads_of_aapl() {
        bare.expect(req, 502).await;
    }
}

/// `X-Cache: L1` from a container's memory, then `STALE` once the value
/// expired and storage lost its partition.
async fn x_cache_l1_then_stale(spec: &Spec, server: &upstash::ServerHandle) {
    let mut config = test_cache_config(&unique_prefix("contract-l1"));
    config.l1_ttl = Duration::from_secs(30);
    config.ttl_latest_price = Duration::from_secs(1);
    config.stale_grace = Some(Duration::from_secs(60));
    let stale_data = memory("contract-stale").await;
    let service = container(&server.url(), stale_data.store(no_memo()), config.clone()).service;
    let l1 = Harness::new(spec, service, admin());
    l1.expect(latest("AAPL"), 200).await;
    let from_l1 = l1.expect(latest("AAPL"), 200).await;
    assert_eq!(from_l1.headers()["x-cache"], "L1");
    config.l1_ttl = Duration::ZERO;
    let service = container(&server.url(), stale_data.store(no_memo()), config).service;
    let other = Harness::new(spec, service, admin());
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let partition = layout::partition_path(
        &stale_data.location.prefix,
        &Symbol::parse("AAPL").unwrap(),
        2013,
    );
    stale_data.location.store.delete(&partition).await.unwrap();
    let stale = other.expect(latest("AAPL"), 200).await;
    assert_eq!(stale.headers()["x-cache"], "STALE");
    assert_eq!(stale.headers()["cache-control"], "public, max-age=0");
}

/// 405, with `Allow`, for every route of `ROUTES` called with a method it does not serve.
async fn every_route_answers_405_to_a_method_it_does_not_serve(h: &Harness<'_>) {
    for (_, route) in ROUTES {
        let wrong = if route.method == "GET" { "POST" } else { "GET" };
        for source in ALL_SOURCES {
            let req = admin_call(route).method(wrong);
            let response = h.call(req, source).await;
            assert_eq!(
                response.status(),
                405,
                "{wrong} {} via {source:?}",
                route.template
            );
            assert_eq!(response.headers()["allow"], route.method);
        }
        let _ = function_of(route.template);
    }
}

/// The spec's route set is the code's, path parameters included.
#[test]
fn spec_parameters_match_the_validation_rules() {
    let spec = Spec::load();
    let symbol = spec.resolve("/components/schemas/SymbolInput").unwrap().0;
    let pattern = symbol["pattern"].as_str().unwrap();
    assert_eq!(pattern, r"^[A-Za-z0-9][A-Za-z0-9.\-]{0,14}$");
    let ptr = "/components/schemas/SymbolInput";
    for (input, ok) in [
        ("AAPL", true),
        ("brk.b", true),
        ("A-1", true),
        ("ABCDEFGHIJKLMNO", true),
        ("ABCDEFGHIJKLMNOP", false),
        ("", false),
        (".A", false),
        ("A*", false),
        ("A/B", false),
        ("Ä", false),
    ] {
        assert_eq!(
            spec.validate(ptr, &json!(input)).is_ok(),
            ok,
            "spec pattern on {input:?}"
        );
        assert_eq!(Symbol::parse(input).is_ok(), ok, "code on {input:?}");
    }
    let days = &spec.doc["paths"]["/v1/stocks/{symbol}/recent"]["get"]["parameters"][1];
    assert_eq!(days["name"], "days");
    assert_eq!(
        (
            &days["schema"]["minimum"],
            &days["schema"]["maximum"],
            &days["schema"]["default"]
        ),
        (
            &json!(1),
            &json!(shared::http::request::MAX_DAYS),
            &json!(shared::http::request::DEFAULT_DAYS)
        )
    );
}
