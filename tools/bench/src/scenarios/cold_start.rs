//! cold-start: each function binary (release) spawned against a minimal
//! Lambda Runtime API served here; time to the first `next` poll and to
//! the first response, peak RSS, binary size.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use integration_tests::events::{Req, Source};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::Options;
use crate::harness::{Env, TOKEN};
use crate::report::{Section, table, verdict};
use crate::stats::{fmt_us, median};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const FIRST_POLL_TARGET: Duration = Duration::from_millis(10);
const RSS_TARGET_KB: u64 = 20 * 1024;
const SIZE_TARGET: u64 = 5 * 1024 * 1024;

/// What the runtime API saw during one spawn.
struct RuntimeApi {
    event: String,
    function: String,
    t0: Mutex<Instant>,
    polls: AtomicU32,
    first_poll: Mutex<Option<Duration>>,
    response: Mutex<Option<(Duration, String)>>,
    error: Mutex<Option<String>>,
    done: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

async fn route(api: Arc<RuntimeApi>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let elapsed = lock(&api.t0).elapsed();
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    if method == Method::GET && path == NEXT {
        if api.polls.fetch_add(1, Ordering::SeqCst) > 0 {
            // The second poll stays pending until the process is killed.
            std::future::pending::<()>().await;
        }
        *lock(&api.first_poll) = Some(elapsed);
        return invocation(&api);
    }
    if method == Method::POST && path.starts_with("/2018-06-01/runtime/") {
        let body = req
            .into_body()
            .collect()
            .await
            .map(|b| String::from_utf8_lossy(&b.to_bytes()).into_owned())
            .unwrap_or_default();
        if path.ends_with("/response") {
            *lock(&api.response) = Some((elapsed, body));
        } else {
            *lock(&api.error) = Some(body);
        }
        api.done.notify_one();
        return reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#);
    }
    reply(StatusCode::NOT_FOUND, "not found")
}

/// The answer to the first `next` poll: the event and Lambda's headers.
fn invocation(api: &RuntimeApi) -> Response<Full<Bytes>> {
    let deadline = shared::cache::now_ms() + 30_000;
    let mut r = reply(StatusCode::OK, api.event.clone());
    let h = r.headers_mut();
    let set = |h: &mut hyper::HeaderMap, k: &'static str, v: String| {
        if let Ok(v) = v.parse() {
            h.insert(k, v);
        }
    };
    set(h, "content-type", "application/json".into());
    set(h, "lambda-runtime-aws-request-id", "bench-request-1".into());
    set(h, "lambda-runtime-deadline-ms", deadline.to_string());
    set(
        h,
        "lambda-runtime-invoked-function-arn",
        format!(
            "arn:aws:lambda:us-east-1:123456789012:function:{}",
            api.function
        ),
    );
    set(
        h,
        "lambda-runtime-trace-id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=0".into(),
    );
    r
}

async fn serve(api: Arc<RuntimeApi>) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((stream, _)) = listener.accept().await {
            let api = api.clone();
            conns.spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let api = api.clone();
                    async move { Ok::<_, Infallible>(route(api, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, task))
}

/// One spawn's measurements.
#[derive(Default, Debug)]
struct Run {
    first_poll: Option<Duration>,
    response: Option<Duration>,
    status_code: Option<u64>,
    rss_kb: Option<u64>,
    exited: Option<(Duration, String)>,
    error: Option<String>,
    stderr: String,
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

struct Target<'a> {
    binary: &'a Path,
    function: &'a str,
    event: &'a str,
    storage_url: &'a str,
    upstash_url: &'a str,
    prefix: &'a str,
}

impl RuntimeApi {
    fn new(t: &Target<'_>) -> Self {
        RuntimeApi {
            event: t.event.to_string(),
            function: t.function.to_string(),
            t0: Mutex::new(Instant::now()),
            polls: AtomicU32::new(0),
            first_poll: Mutex::new(None),
            response: Mutex::new(None),
            error: Mutex::new(None),
            done: Notify::new(),
        }
    }
}

/// The function's process, with the environment Lambda would give it.
fn lambda_command(t: &Target<'_>, runtime_api: SocketAddr) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(t.binary);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", t.function)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/01/01/[$LATEST]bench")
        .env(
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", t.function),
        )
        .env("AWS_REGION", "us-east-1")
        .env("STORAGE_URL", t.storage_url)
        .env("UPSTASH_REDIS_REST_URL", t.upstash_url)
        .env("UPSTASH_REDIS_REST_TOKEN", TOKEN)
        .env("CACHE_KEY_PREFIX", t.prefix)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

async fn spawn_once(t: &Target<'_>) -> Result<Run, String> {
    let api = Arc::new(RuntimeApi::new(t));
    let (addr, server) = serve(api.clone()).await.map_err(|e| e.to_string())?;
    let mut cmd = lambda_command(t, addr);
    *lock(&api.t0) = Instant::now();
    let t0 = *lock(&api.t0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("spawn {}: {e}", t.binary.display()))?;
    let stderr_task = child.stderr.take().map(|mut err| {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let _ = (&mut err).take(8192).read_to_end(&mut buf).await;
            String::from_utf8_lossy(&buf).into_owned()
        })
    });
    let mut run = watch(&mut child, &api, t0).await;
    server.abort();
    if let Some(task) = stderr_task {
        run.stderr = tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
    }
    run.first_poll = *lock(&api.first_poll);
    if let Some((at, body)) = lock(&api.response).take() {
        run.response = Some(at);
        run.status_code = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["statusCode"].as_u64());
    }
    run.error = lock(&api.error).take();
    Ok(run)
}

/// Waits for the first result, the process's exit or 10 s, whichever
/// comes first; then kills the process. Notes peak RSS or the exit.
async fn watch(child: &mut tokio::process::Child, api: &RuntimeApi, t0: Instant) -> Run {
    let pid = child.id();
    let mut run = Run::default();
    tokio::select! {
        _ = api.done.notified() => {
            run.rss_kb = pid.and_then(vm_hwm_kb);
        }
        status = child.wait() => {
            let code = status.map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
            run.exited = Some((t0.elapsed(), code));
        }
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            run.rss_kb = pid.and_then(vm_hwm_kb);
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
    run
}

/// The package names under `functions/`.
fn function_packages(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("functions"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let manifest = std::fs::read_to_string(e.path().join("Cargo.toml")).ok()?;
            manifest.lines().find_map(|l| {
                let rest = l.trim().strip_prefix("name")?.trim().strip_prefix('=')?;
                Some(rest.trim().trim_matches('"').to_string())
            })
        })
        .collect();
    names.sort();
    names
}

/// The API Gateway v2 event for the first route of `function`.
fn event_for(function: &str, symbol: &str) -> String {
    let route = shared::handlers::ROUTES
        .iter()
        .find(|(f, _)| *f == function)
        .map(|(_, r)| *r);
    let Some(route) = route else {
        return Req::get("/", "/").event(Source::HttpApi).to_string();
    };
    let path = route.template.replace("{symbol}", symbol);
    let mut req = Req::get(route.template, &path).method(route.method);
    if route.template.ends_with("/recent") {
        req = req.query("days=30");
    }
    let mut event = req.event(Source::HttpApi);
    event["routeKey"] = json!(format!("{} {}", route.method, route.template));
    event["requestContext"]["routeKey"] = event["routeKey"].clone();
    event.to_string()
}

async fn build(cargo: &str, root: &Path, package: &str) -> Result<(), String> {
    let output = tokio::process::Command::new(cargo)
        .args(["build", "--release", "-p", package])
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last: Vec<&str> = stderr
            .lines()
            .filter(|l| l.contains("error"))
            .take(2)
            .collect();
        Err(last.join(" ").chars().take(200).collect())
    }
}

/// Where the storage for spawned functions is: `sample-data/` when present,
/// else a small data set written under the target dir.
async fn storage_dir(root: &Path, target: &Path) -> Result<(PathBuf, String), String> {
    let sample = root.join("sample-data");
    if let Ok(text) = std::fs::read_to_string(sample.join("symbols.json")) {
        let symbol = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v["symbols"][0]["symbol"].as_str().map(str::to_string))
            .unwrap_or_else(|| "AAPL".into());
        return Ok((sample, symbol));
    }
    let dir = target.join("bench-data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let location = shared::storage::StorageLocation::parse(&dir.display().to_string())
        .map_err(|e| e.to_string())?;
    crate::harness::write_dataset(&location, &["AAPL".to_string()]).await?;
    Ok((dir, "AAPL".into()))
}

/// Where the functions come from and what they are given.
struct Setup {
    root: PathBuf,
    target: PathBuf,
    cargo: String,
    storage: PathBuf,
    storage_url: String,
    symbol: String,
    prefix: String,
    upstash_url: String,
}

/// One function: whether it built, its size, its spawns.
struct Function {
    package: String,
    built: Result<(), String>,
    size: Option<u64>,
    runs: Vec<Run>,
    spawn_error: Option<String>,
}

/// 7. cold-start.
pub(crate) async fn cold_start(env: &Env, opts: &Options) -> Section {
    let root = crate::workspace_root();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let packages = function_packages(&root);
    let (storage, symbol) = match storage_dir(&root, &target).await {
        Ok(s) => s,
        Err(e) => {
            return Section {
                name: "cold-start",
                markdown: format!(
                    "## cold-start\n\nNot run: no storage for the functions ({e}).\n"
                ),
                json: json!({"error": e}),
            };
        }
    };
    let setup = Setup {
        storage_url: storage.display().to_string(),
        prefix: env.fresh_prefix("cold"),
        upstash_url: env.server.url(),
        root,
        target,
        cargo,
        storage,
        symbol,
    };
    let mut functions = Vec::new();
    let bar = env.bar(packages.len() as u64, "cold-start");
    for package in packages {
        functions.push(measure(&setup, opts, package).await);
        bar.inc(1);
    }
    bar.finish_and_clear();
    report(&setup, opts, &functions)
}

/// Builds `package` (unless --skip-build) and spawns it `--cold-runs` times.
async fn measure(setup: &Setup, opts: &Options, package: String) -> Function {
    let binary = setup.target.join("release").join(&package);
    let built = if opts.skip_build {
        Ok(())
    } else {
        build(&setup.cargo, &setup.root, &package).await
    };
    let size = std::fs::metadata(&binary).map(|m| m.len()).ok();
    let mut runs = Vec::new();
    let mut spawn_error = None;
    if built.is_ok() && size.is_some() {
        let event = event_for(&package, &setup.symbol);
        let t = Target {
            binary: &binary,
            function: &package,
            event: &event,
            storage_url: &setup.storage_url,
            upstash_url: &setup.upstash_url,
            prefix: &setup.prefix,
        };
        for _ in 0..opts.cold_runs {
            match spawn_once(&t).await {
                Ok(run) => runs.push(run),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
    }
    Function {
        package,
        built,
        size,
        runs,
        spawn_error,
    }
}

impl Function {
    fn polls(&self) -> Vec<Duration> {
        self.runs.iter().filter_map(|r| r.first_poll).collect()
    }

    fn responses(&self) -> Vec<Duration> {
        self.runs.iter().filter_map(|r| r.response).collect()
    }

    fn rss(&self) -> Vec<u64> {
        self.runs.iter().filter_map(|r| r.rss_kb).collect()
    }

    fn codes(&self) -> Vec<u64> {
        self.runs.iter().filter_map(|r| r.status_code).collect()
    }

    /// `ok`, or what went wrong.
    fn status(&self) -> String {
        let runs = &self.runs;
        let exited: Vec<&(Duration, String)> =
            runs.iter().filter_map(|r| r.exited.as_ref()).collect();
        let answered = self.responses().len();
        if let Err(e) = &self.built {
            format!("build failed: {e}")
        } else if self.size.is_none() {
            "no binary".into()
        } else if let Some(e) = &self.spawn_error {
            format!("spawn failed: {e}")
        } else if self.polls().is_empty() && !exited.is_empty() {
            exited_early(exited[0], &runs[0].stderr)
        } else if answered == runs.len() {
            "ok".into()
        } else if let Some(e) = runs.iter().find_map(|r| r.error.clone()) {
            format!(
                "reported an error: {}",
                e.chars().take(120).collect::<String>()
            )
        } else {
            format!("{} of {} runs answered", answered, runs.len())
        }
    }

    fn row(&self) -> Vec<String> {
        let (m_poll, m_resp, m_rss) = (
            median(&self.polls()),
            median(&self.responses()),
            median(&self.rss()),
        );
        let fmt_d = |d: Option<Duration>| d.map_or("–".into(), |d| fmt_us(d.as_secs_f64() * 1e6));
        let mb = |b: u64| format!("{:.2} MB", b as f64 / (1024.0 * 1024.0));
        let v = |ok: Option<bool>| ok.map_or("–", verdict);
        vec![
            self.package.clone(),
            self.status(),
            self.size.map_or("–".into(), mb),
            v(self.size.map(|s| s <= SIZE_TARGET)).into(),
            fmt_d(m_poll),
            v(m_poll.map(|p| p <= FIRST_POLL_TARGET)).into(),
            fmt_d(m_resp),
            m_rss.map_or("–".into(), |kb| mb(kb * 1024)),
            v(m_rss.map(|kb| kb <= RSS_TARGET_KB)).into(),
            self.codes().first().map_or("–".into(), |c| c.to_string()),
        ]
    }

    fn json(&self) -> Value {
        let (polls, responses, rss) = (self.polls(), self.responses(), self.rss());
        let us = |d: &Duration| d.as_secs_f64() * 1e6;
        json!({
            "function": self.package,
            "status": self.status(),
            "binary_bytes": self.size,
            "runs": self.runs.len(),
            "first_poll_us": polls.iter().map(us).collect::<Vec<_>>(),
            "first_response_us": responses.iter().map(us).collect::<Vec<_>>(),
            "peak_rss_kb": rss,
            "response_status": self.codes(),
            "median_first_poll_us": median(&polls).as_ref().map(us),
            "median_first_response_us": median(&responses).as_ref().map(us),
            "median_peak_rss_kb": median(&rss),
        })
    }
}

/// The status of a function that exited before its first poll.
fn exited_early((at, code): &(Duration, String), stderr: &str) -> String {
    let stderr = stderr
        .lines()
        .last()
        .unwrap_or("")
        .chars()
        .take(120)
        .collect::<String>();
    if stderr.is_empty() {
        format!(
            "stub: exits before polling ({code}, after {})",
            fmt_us(at.as_secs_f64() * 1e6)
        )
    } else {
        format!("exits before polling ({code}): {stderr}")
    }
}

fn report(setup: &Setup, opts: &Options, functions: &[Function]) -> Section {
    let storage = &setup.storage;
    let mut md = format!(
        "## cold-start\n\nEach function under `functions/` built with `cargo build --release -p NAME` (the workspace's release profile: opt-level z, LTO, one codegen unit, strip, panic = abort; `binary` is the stripped size in MiB) and spawned {} times against a minimal Lambda Runtime API served by the bench (HTTP on 127.0.0.1), `STORAGE_URL={}`, Upstash variables pointing at the in-process upstash-local. Medians. The event is `tests/data/apigw_http_v2.json` adjusted to the function's first route. RSS is `VmHWM` read right after the first response.\n\n",
        opts.cold_runs,
        storage
            .strip_prefix(&setup.root)
            .unwrap_or(storage)
            .display()
    );
    let headers = [
        "function",
        "status",
        "binary",
        "≤ 5 MB",
        "first poll",
        "≤ 10 ms",
        "first response",
        "peak RSS",
        "≤ 20 MB",
        "HTTP",
    ];
    let rows: Vec<Vec<String>> = functions.iter().map(Function::row).collect();
    md.push_str(&table(&headers, &rows));
    Section {
        name: "cold-start",
        markdown: md,
        json: json!({
            "runs_per_function": opts.cold_runs,
            "storage_url": setup.storage_url,
            "functions": functions.iter().map(Function::json).collect::<Vec<_>>(),
        }),
    }
}
