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

// A benchmark run aborts on a broken setup (no cache, no client): each
// expect() names the invariant it relies on.
#![allow(clippy::expect_used)]

mod bill;
mod chart;
mod harness;
mod proxy;
mod report;
mod scenarios;
mod stats;
mod zipf;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::builder::PossibleValuesParser;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use serde_json::{Map, Value, json};

use crate::harness::Env;
use crate::report::{Section, Series};

/// Command-line options.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "bench",
    about = "bench: cache benchmarks over the real handlers, upstash-local + Redis, simulated storage latency.",
    override_usage = "cargo run --release -p bench -- [OPTIONS]",
    args_override_self = true
)]
pub struct Options {
    /// Run only NAME (repeatable) [default: all]
    #[arg(long = "scenario", value_name = "NAME", value_parser = PossibleValuesParser::new(scenarios::ALL))]
    scenarios: Vec<String>,
    /// Write every number as JSON
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
    /// Draw latency CDFs (cache on / off / HIT / L1 / bare GET)
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Also write the Markdown report to FILE
    #[arg(long, value_name = "FILE")]
    markdown: Option<PathBuf>,
    /// Simulated object-storage latency per GET, in ms
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub storage_latency_ms: u64,
    /// Containers for seed-load, zipf, on-vs-off, stampede
    #[arg(long, value_name = "K", default_value_t = 50, value_parser = at_least_one)]
    pub containers: usize,
    /// seed-load rounds
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub seed_rounds: usize,
    /// seed-load popular symbols
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub seed_symbols: usize,
    /// zipf requests per pass
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub zipf_requests: usize,
    /// Symbols in the data set / Zipf ranks (at least --seed-symbols)
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub zipf_symbols: usize,
    /// Zipf exponent
    #[arg(long, value_name = "S", default_value_t = 1.0)]
    pub zipf_s: f64,
    /// on-vs-off requests per pass
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub onoff_requests: usize,
    /// hit-overhead iterations
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub hit_iterations: usize,
    /// cache-down containers
    #[arg(long, value_name = "K", default_value_t = 10, value_parser = at_least_one)]
    pub down_containers: usize,
    /// cache-down seconds per fault mode
    #[arg(long, value_name = "S", default_value_t = 3.0)]
    pub down_seconds: f64,
    /// cold-start spawns per function
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub cold_runs: usize,
    /// cold-start: use the existing target/release binaries
    #[arg(long)]
    pub skip_build: bool,
    /// Redis behind upstash-local [default: $REDIS_URL or redis://127.0.0.1:6379]
    #[arg(long = "redis-url", value_name = "URL")]
    redis_url_flag: Option<String>,
    /// The Redis URL in effect (flag, else environment, else default).
    #[arg(skip)]
    redis_url: String,
    /// Workload seed
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,
    /// traffic: simulated request rates R (requests/s)
    #[arg(long, value_name = "R,..", value_delimiter = ',', default_values_t = [1.0, 20.0, 200.0, 2000.0])]
    pub traffic_rates: Vec<f64>,
    /// traffic: time factor k of each rate (the last one repeats)
    #[arg(long, value_name = "K,..", value_delimiter = ',', default_values_t = [120.0, 12.0, 1.0, 0.1])]
    pub traffic_k: Vec<f64>,
    /// traffic: simulated window of each rate, minutes (the last one repeats)
    #[arg(long, value_name = "MIN,..", value_delimiter = ',', default_values_t = [120.0, 15.0, 1.0, 0.1])]
    pub traffic_minutes: Vec<f64>,
    /// traffic: cache-off runs replay this fraction of the window
    #[arg(long, value_name = "F", default_value_t = 0.25)]
    pub traffic_off_fraction: f64,
    /// traffic: symbols with Zipf popularity (the data set holds at least this many)
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub traffic_symbols: usize,
    /// traffic: Zipf exponent
    #[arg(long, value_name = "S", default_value_t = 1.1)]
    pub traffic_s: f64,
    /// traffic: share of requests for the symbol list
    #[arg(long, value_name = "F", default_value_t = 0.01)]
    pub traffic_list_share: f64,
    /// traffic: a container idle this long (simulated s) is retired
    #[arg(long, value_name = "S", default_value_t = 600.0)]
    pub traffic_idle_timeout_s: f64,
    /// traffic: the warmer runs every S simulated seconds
    #[arg(long, value_name = "S", default_value_t = 300.0)]
    pub traffic_warm_every_s: f64,
    /// traffic: the rate whose results are re-measured at other k
    #[arg(long, value_name = "R", default_value_t = 1.0)]
    pub traffic_k_check_rate: f64,
    /// traffic: the k values of that check
    #[arg(long, value_name = "K,..", value_delimiter = ',', default_values_t = [60.0, 120.0])]
    pub traffic_k_check: Vec<f64>,
    /// traffic: draw hit rate and bill against R (SVG)
    #[arg(long, value_name = "FILE")]
    pub traffic_svg: Option<PathBuf>,
    /// storm: simulated requests/s (the traffic scenario's model otherwise)
    #[arg(long, value_name = "R", default_value_t = 20.0)]
    pub storm_rate: f64,
    /// storm: time factor k
    #[arg(long, value_name = "K", default_value_t = 12.0)]
    pub storm_k: f64,
    /// storm: simulated minutes of traffic before the update (not counted)
    #[arg(long, value_name = "MIN", default_value_t = 60.0)]
    pub storm_warmup_minutes: f64,
    /// storm: simulated minutes shown before the update
    #[arg(long, value_name = "MIN", default_value_t = 10.0)]
    pub storm_before_minutes: f64,
    /// storm: simulated minutes after the update starts
    #[arg(long, value_name = "MIN", default_value_t = 20.0)]
    pub storm_after_minutes: f64,
}

impl Options {
    /// The traffic scenario's runs: each rate with its k and window.
    pub(crate) fn traffic_plans(&self) -> Vec<scenarios::traffic::Plan> {
        let pick = |v: &[f64], i: usize| v.get(i).or(v.last()).copied().unwrap_or(1.0);
        self.traffic_rates
            .iter()
            .enumerate()
            .map(|(i, &rate)| scenarios::traffic::Plan {
                rate,
                k: pick(&self.traffic_k, i),
                sim_secs: pick(&self.traffic_minutes, i) * 60.0,
            })
            .collect()
    }
}

/// Container counts: at least 1.
fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.parse() {
        Ok(0) => Err("container counts must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("not a valid number: {raw}")),
    }
}

/// Parses the arguments after the program name; `env` stands for the environment.
fn parse_args(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Options, clap::Error> {
    let argv = std::iter::once("bench").chain(args.iter().map(String::as_str));
    let mut o = Options::try_parse_from(argv)?;
    if o.zipf_symbols < o.seed_symbols.max(1) {
        return Err(Options::command().error(
            ErrorKind::ArgumentConflict,
            "--zipf-symbols must be at least --seed-symbols",
        ));
    }
    let positive = |v: &[f64]| v.iter().all(|x| x.is_finite() && *x > 0.0);
    if !positive(&o.traffic_rates)
        || !positive(&o.traffic_k)
        || !positive(&o.traffic_minutes)
        || !positive(&o.traffic_k_check)
        || !(0.0..1.0).contains(&o.traffic_list_share)
        || o.traffic_symbols == 0
    {
        return Err(Options::command().error(
            ErrorKind::ValueValidation,
            "--traffic-* rates, k and minutes must be positive, --traffic-list-share in [0, 1), --traffic-symbols at least 1",
        ));
    }
    if o.scenarios.is_empty() {
        o.scenarios = scenarios::ALL.iter().map(|s| s.to_string()).collect();
    }
    o.redis_url = o
        .redis_url_flag
        .clone()
        .or_else(|| env("REDIS_URL").filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "redis://127.0.0.1:6379".into());
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
    // Bad usage: clap prints the error and exits with status 2.
    let opts = parse_args(&args, |name| std::env::var(name).ok()).unwrap_or_else(|e| e.exit());
    if let Err(e) = run(opts, &args).await {
        eprintln!("bench: {e}");
        std::process::exit(1);
    }
}

/// What the report says about this run, besides the scenarios.
struct RunInfo {
    command: String,
    cores: usize,
    model: String,
    date: String,
}

impl RunInfo {
    fn new(args: &[String]) -> Self {
        let (cores, model) = machine();
        let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string();
        let command = format!("cargo run --release -p bench -- {}", args.join(" "));
        RunInfo {
            command: command.trim_end().to_string(),
            cores,
            model,
            date,
        }
    }

    /// The Markdown report's title and setup paragraph.
    fn header(&self, env: &Env, opts: &Options) -> String {
        let RunInfo {
            command,
            cores,
            model,
            date,
        } = self;
        format!(
            "# Cache benchmarks\n\n\
             - Command: `{command}`\n\
             - Machine: {cores} cores (`nproc`), {model}; {date}\n\
             - Storage: in-memory data set ({} symbols, 2 years of daily bars) behind `object_store::throttle::ThrottledStore`, **simulated** {} ms per GET. Redis, upstash-local (REST), the Upstash HTTP client and the handlers are real and in-process/loopback, so network round trips to a real Upstash region (typically 1–20 ms) are not included.\n\
             - Production cache settings (`CacheConfig::default()`, client timeout {} ms) unless a scenario says otherwise; keys under `{}`, deleted at the end.\n\n",
            env.symbols.len(),
            opts.storage_latency_ms,
            shared::upstash::DEFAULT_TIMEOUT_MS,
            env.prefix,
        )
    }
}

/// Everything the scenarios produced.
#[derive(Default)]
struct Results {
    markdown: String,
    series: Series,
    traffic: scenarios::traffic::TrafficSeries,
    sections: Vec<Section>,
}

async fn run(opts: Options, args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let progress = std::io::stdout().is_terminal();
    let mut symbols = opts.zipf_symbols.max(opts.seed_symbols);
    if opts
        .scenarios
        .iter()
        .any(|s| s == "traffic" || s == "storm")
    {
        symbols = symbols.max(opts.traffic_symbols);
    }
    let env = Env::start(
        &opts.redis_url,
        symbols,
        Duration::from_millis(opts.storage_latency_ms),
        progress,
    )
    .await?;
    let info = RunInfo::new(args);
    let header = info.header(&env, &opts);
    print!("{header}");
    let mut results = Results {
        markdown: header,
        ..Results::default()
    };
    for name in &opts.scenarios {
        run_scenario(name, &env, &opts, progress, &mut results).await;
    }
    let footer = cleanup(&env, started).await;
    print!("{footer}");
    results.markdown.push_str(&footer);
    write_outputs(&opts, &info, &env, &results, started)
}

/// Runs one scenario, prints its section and adds it to `results`.
async fn run_scenario(
    name: &str,
    env: &Env,
    opts: &Options,
    progress: bool,
    results: &mut Results,
) {
    let t = Instant::now();
    if progress {
        eprintln!("running {name}…");
    }
    let series = &mut results.series;
    let section = match name {
        "seed-load" => scenarios::load::seed_load(env, opts).await,
        "zipf" => scenarios::load::zipf(env, opts, series).await,
        "on-vs-off" => scenarios::load::on_vs_off(env, opts, series).await,
        "hit-overhead" => scenarios::hit::hit_overhead(env, opts, series).await,
        "stampede" => scenarios::stampede::stampede(env, opts).await,
        "cache-down" => scenarios::down::cache_down(env, opts).await,
        "cold-start" => scenarios::cold_start::cold_start(env, opts).await,
        "freshness" => scenarios::freshness::freshness(env, opts).await,
        "traffic" => scenarios::traffic::traffic(env, opts, &mut results.traffic).await,
        "steady" => scenarios::steady::steady(opts),
        "storm" => scenarios::storm::storm(env, opts).await,
        _ => unreachable!("validated"),
    };
    let text = format!(
        "{}\n_{name}: {:.1} s_\n\n",
        section.markdown,
        t.elapsed().as_secs_f64()
    );
    print!("{text}");
    results.markdown.push_str(&text);
    results.sections.push(section);
}

/// Deletes the run's keys; returns the report's last line.
async fn cleanup(env: &Env, started: Instant) -> String {
    let deleted = env.cleanup().await;
    format!(
        "Total run time {:.1} s. Cleanup: {}.\n",
        started.elapsed().as_secs_f64(),
        match &deleted {
            Ok(n) => format!("{n} keys under `{}` unlinked", env.prefix),
            Err(e) => format!("failed ({e})"),
        }
    )
}

/// Writes the files asked for with --svg, --markdown and --json.
fn write_outputs(
    opts: &Options,
    info: &RunInfo,
    env: &Env,
    results: &Results,
    started: Instant,
) -> Result<(), String> {
    if let Some(path) = &opts.svg {
        let subtitle = format!("storage {} ms simulated per GET", opts.storage_latency_ms);
        chart::draw(path, &results.series, &subtitle)
            .map_err(|e| format!("--svg {}: {e}", path.display()))?;
    }
    if let Some(path) = &opts.traffic_svg
        && !results.traffic.points.is_empty()
    {
        chart::draw_traffic(path, &results.traffic.points)
            .map_err(|e| format!("--traffic-svg {}: {e}", path.display()))?;
    }
    if let Some(path) = &opts.markdown {
        std::fs::write(path, &results.markdown)
            .map_err(|e| format!("--markdown {}: {e}", path.display()))?;
    }
    if let Some(path) = &opts.json {
        let doc = json_report(opts, info, env, &results.sections, started);
        let text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, text).map_err(|e| format!("--json {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The --json document: the run's setup and every scenario's numbers.
fn json_report(
    opts: &Options,
    info: &RunInfo,
    env: &Env,
    sections: &[Section],
    started: Instant,
) -> Value {
    let mut scenarios = Map::new();
    for s in sections {
        scenarios.insert(s.name.to_string(), s.json.clone());
    }
    json!({
        "command": info.command,
        "machine": {"cores": info.cores, "cpu": info.model},
        "date": info.date,
        "storage_latency_ms": opts.storage_latency_ms,
        "key_prefix": env.prefix,
        "total_s": started.elapsed().as_secs_f64(),
        "scenarios": Value::Object(scenarios),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn parse(s: &str) -> Result<Options, clap::Error> {
        parse_args(&args(s), |_| None)
    }

    fn fails(s: &str) -> clap::Error {
        let e = parse(s).expect_err(s);
        assert_eq!(e.exit_code(), 2, "{s}: {e}");
        e
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Options::command().debug_assert();
    }

    #[test]
    fn defaults_and_flags() {
        let o = parse("").unwrap();
        assert_eq!(o.scenarios, scenarios::ALL);
        assert_eq!(o.storage_latency_ms, 50);
        assert_eq!(o.containers, 50);
        assert_eq!(o.seed_rounds, 100);
        assert_eq!(o.seed_symbols, 5);
        assert_eq!(o.zipf_requests, 10_000);
        assert_eq!(o.zipf_symbols, 500);
        assert_eq!(o.zipf_s, 1.0);
        assert_eq!(o.onoff_requests, 10_000);
        assert_eq!(o.hit_iterations, 2000);
        assert_eq!(o.down_containers, 10);
        assert_eq!(o.down_seconds, 3.0);
        assert_eq!(o.cold_runs, 5);
        assert!(!o.skip_build);
        assert_eq!(o.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(o.seed, 42);
        assert_eq!((o.json, o.svg, o.markdown), (None, None, None));
        let o = parse(
            "--scenario zipf --scenario stampede --storage-latency-ms 5 --json x.json \
             --svg c.svg --markdown r.md --zipf-s 0.8 --down-seconds 0.5 --skip-build \
             --containers 3 --containers 4 --redis-url=redis://h:1",
        )
        .unwrap();
        assert_eq!(o.scenarios, vec!["zipf", "stampede"]);
        assert_eq!(o.storage_latency_ms, 5);
        assert_eq!(o.json, Some(PathBuf::from("x.json")));
        assert_eq!(o.svg, Some(PathBuf::from("c.svg")));
        assert_eq!(o.markdown, Some(PathBuf::from("r.md")));
        assert_eq!(o.zipf_s, 0.8);
        assert_eq!(o.down_seconds, 0.5);
        assert!(o.skip_build);
        // A repeated option keeps its last value, as before clap.
        assert_eq!(o.containers, 4);
        assert_eq!(o.redis_url, "redis://h:1");
    }

    #[test]
    fn redis_url_falls_back_to_a_non_empty_environment_variable() {
        let env =
            |value: &'static str| move |name: &str| (name == "REDIS_URL").then(|| value.into());
        let o = parse_args(&[], env("redis://env:2")).unwrap();
        assert_eq!(o.redis_url, "redis://env:2");
        let o = parse_args(&[], env("")).unwrap();
        assert_eq!(o.redis_url, "redis://127.0.0.1:6379");
        let o = parse_args(&args("--redis-url redis://flag:3"), env("redis://env:2")).unwrap();
        assert_eq!(o.redis_url, "redis://flag:3");
    }

    #[test]
    fn bad_usage() {
        let e = fails("--scenario nope");
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        assert!(e.to_string().contains("seed-load"), "{e}");
        assert_eq!(fails("--containers").kind(), ErrorKind::InvalidValue);
        assert_eq!(fails("--containers 0").kind(), ErrorKind::ValueValidation);
        assert_eq!(
            fails("--down-containers 0").kind(),
            ErrorKind::ValueValidation
        );
        assert_eq!(fails("--seed-rounds x").kind(), ErrorKind::ValueValidation);
        assert_eq!(fails("--bogus").kind(), ErrorKind::UnknownArgument);
        let e = fails("--zipf-symbols 4");
        assert!(
            e.to_string()
                .contains("--zipf-symbols must be at least --seed-symbols"),
            "{e}"
        );
        assert!(parse("--zipf-symbols 5").is_ok());
        assert!(parse("--zipf-symbols 0 --seed-symbols 0").is_err());
        assert!(parse("--zipf-symbols 1 --seed-symbols 0").is_ok());
        let help = parse("--help").expect_err("help");
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        assert_eq!(help.exit_code(), 0);
    }
}
