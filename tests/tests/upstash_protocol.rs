//! Upstash REST protocol rules, checked with raw HTTP against an
//! in-process upstash-local over the real Redis.

use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use integration_tests::upstash::{
    RedisProxy, TEST_TOKEN, options, redis_conn, start, start_with, unique_prefix,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A raw HTTP client for one server.
struct Raw {
    http: reqwest::Client,
    base: String,
}

/// One response: status, sync-token header, JSON body.
#[derive(Debug)]
struct Resp {
    status: StatusCode,
    sync_token: Option<String>,
    body: Value,
}

impl Raw {
    fn new(base: String) -> Self {
        shared::tls::install_crypto_provider();
        Self {
            http: reqwest::Client::new(),
            base,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let sync_token = resp
            .headers()
            .get("upstash-sync-token")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&bytes)))
        };
        Resp {
            status,
            sync_token,
            body,
        }
    }

    /// `POST /` (or another path) with a JSON body and the bearer token.
    async fn post(&self, path: &str, body: Value) -> Resp {
        self.send(
            Method::POST,
            path,
            Some(body.to_string().into_bytes()),
            &[("authorization", &bearer())],
        )
        .await
    }

    async fn post_b64(&self, path: &str, body: Value) -> Resp {
        self.send(
            Method::POST,
            path,
            Some(body.to_string().into_bytes()),
            &[("authorization", &bearer()), ("upstash-encoding", "base64")],
        )
        .await
    }

    async fn cmd(&self, cmd: Value) -> Resp {
        self.post("/", cmd).await
    }

    async fn get(&self, path: &str) -> Resp {
        self.send(Method::GET, path, None, &[("authorization", &bearer())])
            .await
    }
}

fn bearer() -> String {
    format!("Bearer {TEST_TOKEN}")
}

fn ok(resp: &Resp) -> &Value {
    assert_eq!(resp.status, StatusCode::OK, "{resp:?}");
    &resp.body["result"]
}

fn err(resp: &Resp) -> &str {
    assert_eq!(resp.status, StatusCode::BAD_REQUEST, "{resp:?}");
    resp.body["error"].as_str().expect("error string")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_body_commands_with_numbers() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let k = format!("{}k", unique_prefix("json_body"));
    assert_eq!(ok(&raw.cmd(json!(["SET", k, "v", "EX", 100])).await), "OK");
    assert_eq!(ok(&raw.cmd(json!(["GET", k])).await), "v");
    let ttl = ok(&raw.cmd(json!(["TTL", k])).await).as_i64().unwrap();
    assert!((1..=100).contains(&ttl), "{ttl}");
    // Floats are passed on as their JSON text.
    let f = format!("{}f", unique_prefix("json_body"));
    assert_eq!(ok(&raw.cmd(json!(["INCRBYFLOAT", f, 1.5])).await), "1.5");
    raw.cmd(json!(["DEL", k, f])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_style_with_body_and_query_args() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let p = unique_prefix("path_style");
    assert_eq!(ok(&raw.get(&format!("/set/{p}a/hello")).await), "OK");
    assert_eq!(ok(&raw.get(&format!("/get/{p}a")).await), "hello");
    // Percent-encoded path segments decode to the raw argument.
    assert_eq!(ok(&raw.get(&format!("/set/{p}b/a%20b%2Fc")).await), "OK");
    assert_eq!(ok(&raw.get(&format!("/get/{p}b")).await), "a b/c");
    // POST body is the value; query parameters are further arguments.
    let resp = raw
        .send(
            Method::POST,
            &format!("/set/{p}c?EX=100"),
            Some(b"body value / with slash".to_vec()),
            &[("authorization", &bearer())],
        )
        .await;
    assert_eq!(ok(&resp), "OK");
    assert_eq!(
        ok(&raw.get(&format!("/get/{p}c")).await),
        "body value / with slash"
    );
    let ttl = ok(&raw.get(&format!("/ttl/{p}c")).await).as_i64().unwrap();
    assert!((1..=100).contains(&ttl), "{ttl}");
    // PUT works like POST.
    let resp = raw
        .send(
            Method::PUT,
            &format!("/set/{p}d"),
            Some(b"put".to_vec()),
            &[("authorization", &bearer())],
        )
        .await;
    assert_eq!(ok(&resp), "OK");
    assert_eq!(ok(&raw.get(&format!("/get/{p}d")).await), "put");
    raw.cmd(json!([
        "DEL",
        format!("{p}a"),
        format!("{p}b"),
        format!("{p}c"),
        format!("{p}d")
    ]))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_are_405() {
    let server = start().await;
    let raw = Raw::new(server.url());
    for method in [Method::DELETE, Method::PATCH, Method::OPTIONS] {
        let resp = raw
            .send(
                method.clone(),
                "/get/x",
                None,
                &[("authorization", &bearer())],
            )
            .await;
        assert_eq!(resp.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert!(resp.body["error"].is_string());
    }
    let head = raw
        .send(Method::HEAD, "/", None, &[("authorization", &bearer())])
        .await;
    assert_eq!(head.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_header_or_query_token() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let k = format!("{}k", unique_prefix("auth"));
    let unauthorized = json!({"error": "WRONGPASS invalid or missing auth token"});

    let missing = raw.send(Method::GET, &format!("/get/{k}"), None, &[]).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing.body, unauthorized);

    let wrong = raw
        .send(
            Method::GET,
            &format!("/get/{k}"),
            None,
            &[("authorization", "Bearer nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body, unauthorized);

    let prefix_only = raw
        .send(
            Method::GET,
            &format!("/get/{k}"),
            None,
            &[("authorization", &format!("Bearer {}", &TEST_TOKEN[..5]))],
        )
        .await;
    assert_eq!(prefix_only.status, StatusCode::UNAUTHORIZED);

    let wrong_query = raw
        .send(Method::GET, &format!("/get/{k}?_token=nope"), None, &[])
        .await;
    assert_eq!(wrong_query.status, StatusCode::UNAUTHORIZED);

    let query = raw
        .send(
            Method::GET,
            &format!("/set/{k}/v?_token={TEST_TOKEN}"),
            None,
            &[],
        )
        .await;
    assert_eq!(ok(&query), "OK");
    // `_token` is not passed on as an argument.
    let got = raw
        .send(
            Method::GET,
            &format!("/get/{k}?_token={TEST_TOKEN}"),
            None,
            &[],
        )
        .await;
    assert_eq!(ok(&got), "v");
    // The pipeline endpoint is protected too.
    let pipe = raw
        .send(
            Method::POST,
            "/pipeline",
            Some(br#"[["GET","x"]]"#.to_vec()),
            &[],
        )
        .await;
    assert_eq!(pipe.status, StatusCode::UNAUTHORIZED);
    raw.cmd(json!(["DEL", k])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn result_shapes() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let p = unique_prefix("shapes");
    let (a, missing, n) = (format!("{p}a"), format!("{p}missing"), format!("{p}n"));
    raw.cmd(json!(["SET", a, "x"])).await;
    assert_eq!(ok(&raw.cmd(json!(["GET", a])).await), &json!("x"));
    assert_eq!(ok(&raw.cmd(json!(["INCR", n])).await), &json!(1));
    assert_eq!(ok(&raw.cmd(json!(["GET", missing])).await), &Value::Null);
    assert_eq!(
        ok(&raw.cmd(json!(["MGET", a, missing])).await),
        &json!(["x", null])
    );
    // Nested arrays holding nulls (Lua false → nil).
    let script = "return {ARGV[1], {1, false, 'deep'}, false, {}}";
    assert_eq!(
        ok(&raw.cmd(json!(["EVAL", script, 0, "s"])).await),
        &json!(["s", [1, null, "deep"], null, []])
    );
    raw.cmd(json!(["DEL", a, n])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_400() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let k = format!("{}list", unique_prefix("errors"));
    assert!(err(&raw.cmd(json!(["NOSUCHCOMMAND", "x"])).await).starts_with("ERR unknown command"));
    assert!(err(&raw.cmd(json!(["GET"])).await).starts_with("ERR wrong number of arguments"));
    raw.cmd(json!(["LPUSH", k, "x"])).await;
    assert!(err(&raw.cmd(json!(["GET", k])).await).starts_with("WRONGTYPE"));
    assert!(err(&raw.cmd(json!([])).await).starts_with("ERR"));
    assert!(err(&raw.cmd(json!({"not": "an array"})).await).starts_with("ERR"));
    let bad_json = raw
        .send(
            Method::POST,
            "/",
            Some(b"[\"GET\"".to_vec()),
            &[("authorization", &bearer())],
        )
        .await;
    assert!(err(&bad_json).starts_with("ERR"));
    assert!(err(&raw.cmd(json!(["SUBSCRIBE", "ch"])).await).starts_with("ERR"));
    raw.cmd(json!(["DEL", k])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_keeps_going_after_a_failure() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let k = format!("{}k", unique_prefix("pipeline"));
    let resp = raw
        .post(
            "/pipeline",
            json!([
                ["SET", k, "1"],
                ["LPUSH", k, "x"],
                ["INCR", k],
                ["BOGUS"],
                ["GET", k]
            ]),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{resp:?}");
    let entries = resp.body.as_array().unwrap();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0], json!({"result": "OK"}));
    assert!(
        entries[1]["error"]
            .as_str()
            .unwrap()
            .starts_with("WRONGTYPE")
    );
    assert_eq!(entries[2], json!({"result": 2}));
    assert!(entries[3]["error"].as_str().unwrap().starts_with("ERR"));
    assert_eq!(entries[4], json!({"result": "2"}));
    raw.cmd(json!(["DEL", k])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_exec_transactions() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let p = unique_prefix("multi_exec");
    let (k, untouched) = (format!("{p}k"), format!("{p}untouched"));

    let resp = raw
        .post(
            "/multi-exec",
            json!([["SET", k, "1"], ["INCR", k], ["GET", k]]),
        )
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{resp:?}");
    assert_eq!(
        resp.body,
        json!([{"result": "OK"}, {"result": 2}, {"result": "2"}])
    );

    // A runtime error fails only its own command.
    let resp = raw
        .post("/multi-exec", json!([["LPUSH", k, "x"], ["INCR", k]]))
        .await;
    assert_eq!(resp.status, StatusCode::OK, "{resp:?}");
    let entries = resp.body.as_array().unwrap();
    assert!(
        entries[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("WRONGTYPE")
    );
    assert_eq!(entries[1], json!({"result": 3}));

    // A syntax error discards the whole transaction: nothing runs.
    let resp = raw
        .post("/multi-exec", json!([["SET", untouched, "1"], ["INCR"]]))
        .await;
    assert!(err(&resp).contains("wrong number of arguments"), "{resp:?}");
    assert_eq!(ok(&raw.cmd(json!(["EXISTS", untouched])).await), &json!(0));

    // So does an unknown command.
    let resp = raw
        .post("/multi-exec", json!([["SET", untouched, "1"], ["NOPE"]]))
        .await;
    assert!(err(&resp).starts_with("ERR"), "{resp:?}");
    assert_eq!(ok(&raw.cmd(json!(["EXISTS", untouched])).await), &json!(0));
    raw.cmd(json!(["DEL", k])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_encoding_header() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let p = unique_prefix("base64");
    let (k, n, l, missing) = (
        format!("{p}k"),
        format!("{p}n"),
        format!("{p}l"),
        format!("{p}missing"),
    );
    let b64 = |s: &str| json!(STANDARD.encode(s));
    assert_eq!(
        ok(&raw.post_b64("/", json!(["SET", k, "héllo"])).await),
        "OK"
    );
    assert_eq!(
        ok(&raw.post_b64("/", json!(["GET", k])).await),
        &b64("héllo")
    );
    assert_eq!(ok(&raw.post_b64("/", json!(["INCR", n])).await), &json!(1));
    assert_eq!(
        ok(&raw.post_b64("/", json!(["GET", missing])).await),
        &Value::Null
    );
    assert_eq!(ok(&raw.post_b64("/", json!(["PING"])).await), &b64("PONG"));
    // A stored value "OK" is a bulk string, so it is encoded.
    raw.cmd(json!(["SET", l, "OK"])).await;
    assert_eq!(ok(&raw.post_b64("/", json!(["GET", l])).await), &b64("OK"));
    assert_eq!(
        ok(&raw.post_b64("/", json!(["MGET", k, missing, n])).await),
        &json!([b64("héllo"), null, b64("1")])
    );
    // Errors are never encoded.
    let e = raw.post_b64("/", json!(["LPUSH", k, "x"])).await;
    assert!(err(&e).starts_with("WRONGTYPE"));
    let pipe = raw
        .post_b64(
            "/pipeline",
            json!([["SET", l, "v"], ["GET", l], ["LPUSH", k, "x"]]),
        )
        .await;
    assert_eq!(pipe.body[0], json!({"result": "OK"}));
    assert_eq!(pipe.body[1], json!({"result": b64("v")}));
    assert!(
        pipe.body[2]["error"]
            .as_str()
            .unwrap()
            .starts_with("WRONGTYPE")
    );
    let tx = raw
        .post_b64("/multi-exec", json!([["SET", l, "w"], ["GET", l]]))
        .await;
    assert_eq!(tx.body, json!([{"result": "OK"}, {"result": b64("w")}]));
    raw.cmd(json!(["DEL", k, n, l])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_is_replaced_without_encoding() {
    use redis::AsyncCommands;
    let server = start().await;
    let raw = Raw::new(server.url());
    let k = format!("{}bin", unique_prefix("utf8"));
    let mut conn = redis_conn().await;
    let bytes: &[u8] = &[b'f', 0xff, b'o', 0xc3];
    let () = conn.set(&k, bytes).await.unwrap();
    assert_eq!(ok(&raw.cmd(json!(["GET", k])).await), "f\u{fffd}o\u{fffd}");
    assert_eq!(
        ok(&raw.post_b64("/", json!(["GET", k])).await),
        &json!(STANDARD.encode(bytes))
    );
    let () = conn.del(&k).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_token_header_on_every_response() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let k = format!("{}k", unique_prefix("sync"));
    let first = raw.cmd(json!(["SET", k, "v"])).await;
    let token = first.sync_token.clone().expect("sync token on success");
    assert!(!token.is_empty());
    let error = raw.cmd(json!(["BOGUS"])).await;
    assert!(error.sync_token.is_some(), "sync token on error");
    let pipe = raw.post("/pipeline", json!([["GET", k]])).await;
    assert!(pipe.sync_token.is_some(), "sync token on pipeline");
    assert_eq!(server.stats().sync_tokens_received, 0);
    let echoed = raw
        .send(
            Method::GET,
            &format!("/get/{k}"),
            None,
            &[("authorization", &bearer()), ("upstash-sync-token", &token)],
        )
        .await;
    assert_eq!(ok(&echoed), "v");
    assert_eq!(server.stats().sync_tokens_received, 1);
    assert_eq!(server.last_sync_token_received(), Some(token));
    raw.cmd(json!(["DEL", k])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_size_limit() {
    let mut opts = options();
    opts.max_request_bytes = 1024;
    let server = start_with(opts).await;
    let raw = Raw::new(server.url());
    let k = format!("{}k", unique_prefix("size"));
    let small = json!(["SET", k, "x".repeat(500)]);
    assert_eq!(ok(&raw.cmd(small).await), "OK");
    let big = json!(["SET", k, "x".repeat(2000)]).to_string().into_bytes();
    let len = big.len();
    let resp = raw
        .send(
            Method::POST,
            "/",
            Some(big),
            &[("authorization", &bearer())],
        )
        .await;
    assert_eq!(
        err(&resp),
        format!("ERR max request size exceeded. Limit: 1024 bytes, Actual: {len} bytes")
    );
    // The value was not overwritten.
    assert_eq!(ok(&raw.cmd(json!(["STRLEN", k])).await), &json!(500));
    raw.cmd(json!(["DEL", k])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_root_is_health() {
    let server = start().await;
    let raw = Raw::new(server.url());
    assert_eq!(ok(&raw.get("/").await), "PONG");
    let unauth = raw.send(Method::GET, "/", None, &[]).await;
    assert_eq!(unauth.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_requests_and_commands() {
    let server = start().await;
    let raw = Raw::new(server.url());
    let k = format!("{}k", unique_prefix("stats"));
    server.reset_stats();
    raw.cmd(json!(["GET", k])).await;
    assert_eq!(server.stats().requests, 1);
    assert_eq!(server.stats().redis_commands, 1);
    raw.post(
        "/pipeline",
        json!([["SET", k, "1"], ["INCR", k], ["GET", k]]),
    )
    .await;
    raw.post("/multi-exec", json!([["INCR", k], ["GET", k]]))
        .await;
    let stats = server.stats();
    assert_eq!(stats.requests, 3);
    assert_eq!(stats.redis_commands, 6);
    // Unauthorized requests are served but run nothing.
    raw.send(Method::GET, "/get/x", None, &[]).await;
    assert_eq!(server.stats().requests, 4);
    assert_eq!(server.stats().redis_commands, 6);
    server.reset_stats();
    assert_eq!(server.stats(), Default::default());
    raw.cmd(json!(["DEL", k])).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients() {
    let server = start().await;
    let p = unique_prefix("concurrent");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let raw = Raw::new(server.url());
        let k = format!("{p}{i}");
        tasks.push(tokio::spawn(async move {
            for j in 0..20 {
                assert_eq!(ok(&raw.cmd(json!(["SET", k, j])).await), "OK");
                assert_eq!(ok(&raw.cmd(json!(["GET", k])).await), &json!(j.to_string()));
            }
            raw.cmd(json!(["DEL", k])).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(server.stats().requests, 50 * 41);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_redis_gives_500_and_recovers() {
    let proxy = RedisProxy::start().await;
    let mut opts = options();
    opts.redis_url = proxy.url();
    opts.redis_connections = 1;
    let server = start_with(opts).await;
    let raw = Raw::new(server.url());
    let k = format!("{}k", unique_prefix("lost"));
    assert_eq!(ok(&raw.cmd(json!(["SET", k, "v"])).await), "OK");

    proxy.cut();
    // The first request after the cut may race the disconnect; within a
    // few attempts every request must fail with a JSON 500.
    let deadline = Instant::now() + Duration::from_secs(10);
    let resp = loop {
        let resp = raw.cmd(json!(["GET", k])).await;
        if resp.status != StatusCode::OK || Instant::now() > deadline {
            break resp;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(resp.status, StatusCode::INTERNAL_SERVER_ERROR, "{resp:?}");
    assert!(resp.body["error"].as_str().unwrap().starts_with("ERR"));

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let resp = raw.cmd(json!(["GET", k])).await;
        if resp.status == StatusCode::OK {
            assert_eq!(resp.body["result"], "v");
            break;
        }
        assert!(Instant::now() < deadline, "did not reconnect: {resp:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    raw.cmd(json!(["DEL", k])).await;
}
