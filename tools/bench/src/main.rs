//! `bench`: numbers that show what the cache buys.
//!
//! Drives the real handlers (`shared::handlers::*`, the code lambda_http
//! runs) in-process against an in-process upstash-local over the real Redis.
//! Object storage is an in-memory store behind `object_store::throttle::ThrottledStore`
//! (simulated latency per GET). Each "container" has its own Upstash client,
//! L1, breaker and storage reader, and serves one request at a time.
//!
//! ```text
//! cargo run --release -p bench -- --json target/bench.json --svg docs/bench.svg
//! ```

mod bill;
mod chart;
mod harness;
mod report;
mod scenarios;
mod stats;
mod zipf;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::harness::Env;
use crate::report::{Section, Series};

const USAGE: &str = "\
bench: cache benchmarks over the real handlers, upstash-local + Redis, simulated storage latency.

USAGE: cargo run --release -p bench -- [OPTIONS]

OPTIONS:
  --scenario NAME          run only NAME (repeatable): seed-load, zipf, on-vs-off,
                           hit-overhead, stampede, cache-down, cold-start, freshness
                           (default: all)
  --json FILE              write every number as JSON
  --svg FILE               draw latency CDFs (cache on / off / HIT / L1 / bare GET)
  --markdown FILE          also write the Markdown report to FILE
  --storage-latency-ms N   simulated object-storage latency per GET (default 50)
  --containers K           containers for seed-load, zipf, on-vs-off, stampede (default 50)
  --seed-rounds N          seed-load rounds (default 100)
  --seed-symbols N         seed-load popular symbols (default 5)
  --zipf-requests N        zipf requests per pass (default 10000)
  --zipf-symbols N         symbols in the data set / Zipf ranks (default 500)
  --zipf-s S               Zipf exponent (default 1.0)
  --onoff-requests N       on-vs-off requests per pass (default 10000)
  --hit-iterations N       hit-overhead iterations (default 2000)
  --down-containers K      cache-down containers (default 10)
  --down-seconds S         cache-down seconds per fault mode (default 3)
  --cold-runs N            cold-start spawns per function (default 5)
  --skip-build             cold-start: use the existing target/release binaries
  --redis-url URL          Redis behind upstash-local (default $REDIS_URL or redis://127.0.0.1:6379)
  --seed N                 workload seed (default 42)
  -h, --help               this text
";

/// Command-line options.
#[derive(Clone, Debug)]
pub struct Options {
    scenarios: Vec<String>,
    json: Option<PathBuf>,
    svg: Option<PathBuf>,
    markdown: Option<PathBuf>,
    /// Simulated storage latency per GET.
    pub storage_latency_ms: u64,
    /// K for the load scenarios.
    pub containers: usize,
    /// seed-load rounds.
    pub seed_rounds: usize,
    /// seed-load symbols.
    pub seed_symbols: usize,
    /// zipf requests per pass.
    pub zipf_requests: usize,
    /// Symbols in the data set.
    pub zipf_symbols: usize,
    /// Zipf exponent.
    pub zipf_s: f64,
    /// on-vs-off requests per pass.
    pub onoff_requests: usize,
    /// hit-overhead iterations.
    pub hit_iterations: usize,
    /// cache-down containers.
    pub down_containers: usize,
    /// cache-down seconds per mode.
    pub down_seconds: f64,
    /// cold-start spawns per function.
    pub cold_runs: usize,
    /// cold-start: do not build.
    pub skip_build: bool,
    redis_url: String,
    /// Workload seed.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scenarios: Vec::new(),
            json: None,
            svg: None,
            markdown: None,
            storage_latency_ms: 50,
            containers: 50,
            seed_rounds: 100,
            seed_symbols: 5,
            zipf_requests: 10_000,
            zipf_symbols: 500,
            zipf_s: 1.0,
            onoff_requests: 10_000,
            hit_iterations: 2000,
            down_containers: 10,
            down_seconds: 3.0,
            cold_runs: 5,
            skip_build: false,
            redis_url: std::env::var("REDIS_URL")
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            seed: 42,
        }
    }
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |name: &str| -> Result<String, String> {
            it.next().cloned().ok_or(format!("{name} needs a value"))
        };
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("{name}: not a valid number: {v}"))
        }
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--scenario" => {
                let name = value(flag)?;
                if !scenarios::ALL.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown scenario {name}; one of {}",
                        scenarios::ALL.join(", ")
                    ));
                }
                o.scenarios.push(name);
            }
            "--json" => o.json = Some(value(flag)?.into()),
            "--svg" => o.svg = Some(value(flag)?.into()),
            "--markdown" => o.markdown = Some(value(flag)?.into()),
            "--storage-latency-ms" => o.storage_latency_ms = num(flag, value(flag)?)?,
            "--containers" => o.containers = num(flag, value(flag)?)?,
            "--seed-rounds" => o.seed_rounds = num(flag, value(flag)?)?,
            "--seed-symbols" => o.seed_symbols = num(flag, value(flag)?)?,
            "--zipf-requests" => o.zipf_requests = num(flag, value(flag)?)?,
            "--zipf-symbols" => o.zipf_symbols = num(flag, value(flag)?)?,
            "--zipf-s" => o.zipf_s = num(flag, value(flag)?)?,
            "--onoff-requests" => o.onoff_requests = num(flag, value(flag)?)?,
            "--hit-iterations" => o.hit_iterations = num(flag, value(flag)?)?,
            "--down-containers" => o.down_containers = num(flag, value(flag)?)?,
            "--down-seconds" => o.down_seconds = num(flag, value(flag)?)?,
            "--cold-runs" => o.cold_runs = num(flag, value(flag)?)?,
            "--skip-build" => o.skip_build = true,
            "--redis-url" => o.redis_url = value(flag)?,
            "--seed" => o.seed = num(flag, value(flag)?)?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.containers == 0 || o.down_containers == 0 {
        return Err("container counts must be at least 1".into());
    }
    if o.zipf_symbols < o.seed_symbols.max(1) {
        return Err("--zipf-symbols must be at least --seed-symbols".into());
    }
    if o.scenarios.is_empty() {
        o.scenarios = scenarios::ALL.iter().map(|s| s.to_string()).collect();
    }
    Ok(o)
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    dir.canonicalize().unwrap_or(dir)
}

fn machine() -> (usize, String) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    (cores, model)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("bench: {e}\n\n{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(opts, &args).await {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

async fn run(opts: Options, args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let progress = std::io::stdout().is_terminal();
    let env = Env::start(
        &opts.redis_url,
        opts.zipf_symbols.max(opts.seed_symbols),
        Duration::from_millis(opts.storage_latency_ms),
        progress,
    )
    .await?;
    let (cores, model) = machine();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
    let command = format!("cargo run --release -p bench -- {}", args.join(" "));
    let mut header = format!(
        "# Cache benchmarks\n\n\
         - Command: `{}`\n\
         - Machine: {cores} cores (`nproc`), {model}; {date}\n\
         - Storage: in-memory data set ({} symbols, 2 years of daily bars) behind `object_store::throttle::ThrottledStore`, **simulated** {} ms per GET. Redis, upstash-local (REST), the Upstash HTTP client and the handlers are real and in-process/loopback, so network round trips to a real Upstash region (typically 1–20 ms) are not included.\n\
         - Production cache settings (`CacheConfig::default()`, client timeout {} ms) unless a scenario says otherwise; keys under `{}`, deleted at the end.\n",
        command.trim_end(),
        env.symbols.len(),
        opts.storage_latency_ms,
        shared::upstash::DEFAULT_TIMEOUT_MS,
        env.prefix,
    );
    header.push('\n');
    print!("{header}");
    let mut markdown = header;
    let mut series = Series::default();
    let mut sections: Vec<Section> = Vec::new();
    for name in &opts.scenarios {
        let t = Instant::now();
        if progress {
            eprintln!("running {name}…");
        }
        let section = match name.as_str() {
            "seed-load" => scenarios::load::seed_load(&env, &opts).await,
            "zipf" => scenarios::load::zipf(&env, &opts, &mut series).await,
            "on-vs-off" => scenarios::load::on_vs_off(&env, &opts, &mut series).await,
            "hit-overhead" => scenarios::hit::hit_overhead(&env, &opts, &mut series).await,
            "stampede" => scenarios::stampede::stampede(&env, &opts).await,
            "cache-down" => scenarios::down::cache_down(&env, &opts).await,
            "cold-start" => scenarios::cold_start::cold_start(&env, &opts).await,
            "freshness" => scenarios::freshness::freshness(&env, &opts).await,
            _ => unreachable!("validated"),
        };
        let text = format!(
            "{}\n_{name}: {:.1} s_\n\n",
            section.markdown,
            t.elapsed().as_secs_f64()
        );
        print!("{text}");
        markdown.push_str(&text);
        sections.push(section);
    }
    let deleted = env.cleanup().await;
    let footer = format!(
        "Total run time {:.1} s. Cleanup: {}.\n",
        started.elapsed().as_secs_f64(),
        match &deleted {
            Ok(n) => format!("{n} keys under `{}` unlinked", env.prefix),
            Err(e) => format!("failed ({e})"),
        }
    );
    print!("{footer}");
    markdown.push_str(&footer);

    if let Some(path) = &opts.svg {
        let subtitle = format!("storage {} ms simulated per GET", opts.storage_latency_ms);
        chart::draw(path, &series, &subtitle)
            .map_err(|e| format!("--svg {}: {e}", path.display()))?;
    }
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &markdown)
            .map_err(|e| format!("--markdown {}: {e}", path.display()))?;
    }
    if let Some(path) = &opts.json {
        let mut scenarios = Map::new();
        for s in &sections {
            scenarios.insert(s.name.to_string(), s.json.clone());
        }
        let doc = json!({
            "command": command.trim_end(),
            "machine": {"cores": cores, "cpu": model},
            "date": date,
            "storage_latency_ms": opts.storage_latency_ms,
            "key_prefix": env.prefix,
            "total_s": started.elapsed().as_secs_f64(),
            "scenarios": Value::Object(scenarios),
        });
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, text).map_err(|e| format!("--json {}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse_args(&[]).unwrap();
        assert_eq!(o.scenarios.len(), 8);
        assert_eq!(o.storage_latency_ms, 50);
        assert_eq!(o.containers, 50);
        assert_eq!(o.zipf_requests, 10_000);
        let o = parse_args(&args(
            "--scenario zipf --scenario stampede --storage-latency-ms 5 --json x.json",
        ))
        .unwrap();
        assert_eq!(o.scenarios, vec!["zipf", "stampede"]);
        assert_eq!(o.storage_latency_ms, 5);
        assert_eq!(o.json, Some(PathBuf::from("x.json")));
        assert!(parse_args(&args("--scenario nope")).is_err());
        assert!(parse_args(&args("--containers")).is_err());
        assert!(parse_args(&args("--containers 0")).is_err());
    }
}
