//! The HTTP layer: auth, routing, size limit, JSON responses.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value as Json, json};

use crate::backend::ExecError;
use crate::encode;
use crate::request::{self, Args};
use crate::server::State;

const SYNC_TOKEN: &str = "upstash-sync-token";
const ENCODING: &str = "upstash-encoding";

fn respond(status: StatusCode, body: &Json, sync_token: u64) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::try_from(sync_token.to_string()) {
        headers.insert(SYNC_TOKEN, v);
    }
    resp
}

fn error(status: StatusCode, msg: &str, sync_token: u64) -> Response<Full<Bytes>> {
    respond(status, &encode::error_entry(msg), sync_token)
}

/// Reads the body, stopping to store bytes past `limit` but counting them.
async fn read_body(body: Incoming, limit: usize) -> Result<Bytes, String> {
    let declared = body.size_hint().exact();
    if let Some(len) = declared
        && len > limit as u64
    {
        return Err(size_error(limit, len));
    }
    let mut body = body;
    let mut buf = Vec::new();
    let mut total: u64 = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("ERR failed to read request body: {e}"))?;
        if let Ok(data) = frame.into_data() {
            total += data.len() as u64;
            if total <= limit as u64 {
                buf.extend_from_slice(&data);
            }
        }
    }
    if total > limit as u64 {
        return Err(size_error(limit, total));
    }
    Ok(Bytes::from(buf))
}

fn size_error(limit: usize, actual: u64) -> String {
    format!("ERR max request size exceeded. Limit: {limit} bytes, Actual: {actual} bytes")
}

/// Bearer header or `_token` query parameter.
fn authorized(req: &Request<Incoming>, query_token: Option<&[u8]>, state: &State) -> bool {
    let header_token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match header_token.or(query_token) {
        Some(token) => constant_time_eq(token, state.token.as_bytes()),
        None => false,
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..len {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0);
    }
    diff == 0
}

/// Handles one HTTP request.
pub(crate) async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    let token = state.stats.next_sync_token();
    if let Some(v) = req.headers().get(SYNC_TOKEN) {
        state
            .stats
            .sync_tokens_received
            .fetch_add(1, Ordering::Relaxed);
        state
            .stats
            .set_last_sync_token(String::from_utf8_lossy(v.as_bytes()).into_owned());
    }
    if !matches!(
        *req.method(),
        Method::HEAD | Method::GET | Method::POST | Method::PUT
    ) {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            "ERR method not allowed",
            token,
        );
    }
    let query = request::query_pairs(req.uri().query());
    if !authorized(&req, request::query_token(&query), &state) {
        return error(
            StatusCode::UNAUTHORIZED,
            "WRONGPASS invalid or missing auth token",
            token,
        );
    }
    let base64 = req
        .headers()
        .get(ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"base64"));
    let path = req.uri().path().to_owned();
    if req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > state.max_request_bytes as u64)
    {
        // Checked before reading: do not buffer an oversized body.
        let len = req.headers()[CONTENT_LENGTH].to_str().unwrap_or("0");
        let actual = len.parse().unwrap_or(0);
        return error(
            StatusCode::BAD_REQUEST,
            &size_error(state.max_request_bytes, actual),
            token,
        );
    }
    let body = match read_body(req.into_body(), state.max_request_bytes).await {
        Ok(b) => b,
        Err(msg) => return error(StatusCode::BAD_REQUEST, &msg, token),
    };
    let result = match path.as_str() {
        "/pipeline" | "/pipeline/" => batch(&state, &body, base64, false).await,
        "/multi-exec" | "/multi-exec/" => batch(&state, &body, base64, true).await,
        "/" | "" if body.is_empty() => single(&state, vec![b"PING".to_vec()], base64).await,
        "/" | "" => match request::body_command(&body) {
            Ok(args) => single(&state, args, base64).await,
            Err(msg) => Err((StatusCode::BAD_REQUEST, msg)),
        },
        _ => match request::path_command(&path, &body, &query) {
            Ok(args) => single(&state, args, base64).await,
            Err(msg) => Err((StatusCode::BAD_REQUEST, msg)),
        },
    };
    match result {
        Ok(json) => respond(StatusCode::OK, &json, token),
        Err((status, msg)) => error(status, &msg, token),
    }
}

type Outcome = Result<Json, (StatusCode, String)>;

fn exec_error(e: ExecError) -> (StatusCode, String) {
    match e {
        ExecError::Discarded(msg) => (StatusCode::BAD_REQUEST, msg),
        ExecError::Connection(msg) => (StatusCode::INTERNAL_SERVER_ERROR, msg),
    }
}

async fn single(state: &State, args: Args, base64: bool) -> Outcome {
    request::check_allowed(&args).map_err(|m| (StatusCode::BAD_REQUEST, m))?;
    let value = state.backend.exec(&args).await.map_err(exec_error)?;
    match value {
        redis::Value::ServerError(e) => {
            Err((StatusCode::BAD_REQUEST, encode::server_error_message(&e)))
        }
        v => Ok(json!({ "result": encode::to_json(&v, base64) })),
    }
}

async fn batch(state: &State, body: &[u8], base64: bool, atomic: bool) -> Outcome {
    let parsed = request::body_commands(body).map_err(|m| (StatusCode::BAD_REQUEST, m))?;
    let checked: Vec<Result<Args, String>> = parsed
        .into_iter()
        .map(|c| c.and_then(|args| request::check_allowed(&args).map(|()| args)))
        .collect();
    if atomic {
        // Any invalid command discards the whole transaction.
        if let Some(Err(msg)) = checked.iter().find(|c| c.is_err()) {
            return Err((StatusCode::BAD_REQUEST, msg.clone()));
        }
        let cmds: Vec<&Args> = checked.iter().filter_map(|c| c.as_ref().ok()).collect();
        let values = state.backend.transaction(&cmds).await.map_err(exec_error)?;
        return Ok(Json::Array(
            values.iter().map(|v| encode::entry(v, base64)).collect(),
        ));
    }
    let cmds: Vec<&Args> = checked.iter().filter_map(|c| c.as_ref().ok()).collect();
    let mut values = state
        .backend
        .pipeline(&cmds)
        .await
        .map_err(exec_error)?
        .into_iter();
    let entries = checked
        .iter()
        .map(|c| match c {
            Ok(_) => values.next().map_or_else(
                || encode::error_entry("ERR missing reply"),
                |v| encode::entry(&v, base64),
            ),
            Err(msg) => encode::error_entry(msg),
        })
        .collect();
    Ok(Json::Array(entries))
}
