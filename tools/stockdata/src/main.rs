//! `stockdata`: imports daily OHLCV CSV into the storage layout, or
//! generates deterministic synthetic data. Run `stockdata help` (or
//! `stockdata help import`) for usage.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, Parser};
use shared::cache::Invalidation;
use shared::storage::{StockStore, StorageLocation, StoreOptions};
use stockdata::args::{Cli, Command, ImportArgs, SynthArgs};
use stockdata::cache_sync::{self, CacheSync};
use stockdata::csv_import::{self, MergeSummary, Metadata};
use stockdata::output::open_location;
use stockdata::synth::{self, SynthPlan};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    // Bad usage: clap prints the error and exits with status 2.
    let result = match Cli::parse().command {
        None => Cli::command()
            .print_help()
            .map(|()| ExitCode::SUCCESS)
            .map_err(|e| e.to_string()),
        Some(Command::Completions { shell }) => {
            let mut cli = Cli::command();
            clap_complete::generate(shell, &mut cli, "stockdata", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Import(import)) => run_import(import).await,
        Some(Command::Synth(synth)) => run_synth(synth).await.map(|()| ExitCode::SUCCESS),
    };
    result.unwrap_or_else(|error| {
        eprintln!("error: {error}");
        ExitCode::FAILURE
    })
}

/// Exit status when the data was written but the cache could not be told.
const EXIT_CACHE_STALE: u8 = 3;

async fn run_import(args: ImportArgs) -> Result<ExitCode, String> {
    let started = Instant::now();
    let metadata = match &args.meta {
        Some(path) => Metadata::load(path).map_err(|e| e.to_string())?,
        None => Metadata::default(),
    };
    let location = open_location(&args.to)?;
    let reader = csv_import::open_input(&args.input).map_err(|e| e.to_string())?;
    let parsed = tokio::task::spawn_blocking(move || csv_import::parse_csv(reader))
        .await
        .map_err(|e| format!("CSV parser failed: {e}"))?
        .map_err(|e| e.to_string())?;
    for rejection in &parsed.rejections {
        eprintln!("rejected line {}: {}", rejection.line, rejection.reason);
    }
    if parsed.rejected > parsed.rejections.len() as u64 {
        eprintln!(
            "... and {} more rejected rows",
            parsed.rejected - parsed.rejections.len() as u64
        );
    }
    if args.replace {
        let before = listed_symbols(&location).await;
        let summary = csv_import::import_parsed(
            parsed,
            location.clone(),
            &metadata,
            args.concurrency,
            started,
        )
        .await
        .map_err(|e| e.to_string())?;
        warn_unused_metadata(&summary.unused_metadata);
        println!("{summary}");
        println!("  mode:       replace (the data set now holds only this input)");
        println!("  input:      {}", args.input.display());
        println!("  target:     {}", args.to);
        println!("  symbols:    {}", summary.symbols);
        println!("  rows:       {}", summary.rows);
        println!("  rejected:   {}", summary.rejected);
        println!("  duplicates: {}", summary.duplicates);
        println!("  partitions: {}", summary.partitions);
        println!("  elapsed:    {:.2?}", summary.elapsed);
        let after = listed_symbols(&location).await;
        let what = Invalidation {
            symbols: before.union(&after).cloned().collect(),
            symbol_list: true,
            all_symbol_info: true,
        };
        return Ok(tell_cache(&args.to, &what).await);
    }
    let summary = csv_import::merge_parsed(parsed, &location, &metadata, args.concurrency, started)
        .await
        .map_err(|e| e.to_string())?;
    warn_unused_metadata(&summary.unused_metadata);
    print_merge_summary(&args, &summary);
    let what = Invalidation {
        symbols: summary.report.touched.iter().cloned().collect(),
        symbol_list: summary.report.symbol_set_changed,
        all_symbol_info: false,
    };
    Ok(tell_cache(&args.to, &what).await)
}

/// The symbols the manifest at `location` lists (none when there is no manifest yet).
async fn listed_symbols(location: &StorageLocation) -> BTreeSet<shared::symbol::Symbol> {
    let store = StockStore::new(location.clone(), StoreOptions::default());
    match store.manifest().await {
        Ok(manifest) => manifest
            .symbols
            .iter()
            .filter_map(|info| shared::symbol::Symbol::parse(&info.symbol).ok())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// Invalidates what the import changed; prints what happened and picks the exit status.
async fn tell_cache(storage_url: &str, what: &Invalidation) -> ExitCode {
    let outcome = cache_sync::after_write(|name| std::env::var(name).ok(), storage_url, what).await;
    match outcome {
        Ok(CacheSync::NotConfigured) => {
            println!(
                "  cache:       not configured (UPSTASH_REDIS_REST_URL unset or CACHE_ENABLED=false)"
            );
            ExitCode::SUCCESS
        }
        Ok(CacheSync::NothingChanged) => {
            println!("  cache:       nothing changed, nothing invalidated");
            ExitCode::SUCCESS
        }
        Ok(CacheSync::Invalidated(done)) => {
            println!(
                "  cache:       invalidated {} symbols{} ({} keys deleted); refreshed {} cached values with the new data ({} not cached, {} failed); {} REST requests",
                what.symbols.len(),
                if what.symbol_list {
                    " and the symbol list"
                } else {
                    ""
                },
                done.invalidated.keys_deleted,
                done.refreshed,
                done.not_cached,
                done.failed,
                done.requests
            );
            ExitCode::SUCCESS
        }
        Ok(CacheSync::Failed { error, stale_for }) => {
            let names: Vec<&str> = what.symbols.iter().map(|s| s.as_str()).collect();
            eprintln!(
                "warning: the data is written, but the cache could not be invalidated ({error}). \
                 Readers may see the data from before this import for up to {} s: {}{}. \
                 Once the cache answers, send these symbols to POST /v1/cache/invalidate \
                 (a second import of the same file changes nothing and invalidates nothing).",
                stale_for.as_secs(),
                names.join(", "),
                if what.symbol_list {
                    " and the symbol list"
                } else {
                    ""
                }
            );
            ExitCode::from(EXIT_CACHE_STALE)
        }
        Err(error) => {
            eprintln!("warning: the data is written, but the cache was not told: {error}");
            ExitCode::from(EXIT_CACHE_STALE)
        }
    }
}

fn warn_unused_metadata(unused: &[String]) {
    if !unused.is_empty() {
        eprintln!(
            "warning: metadata lists symbols without rows: {}",
            unused.join(", ")
        );
    }
}

fn print_merge_summary(args: &ImportArgs, summary: &MergeSummary) {
    let report = &summary.report;
    // Symbol lists are cut after 20 names; partition paths are all listed.
    let list = |symbols: &[shared::symbol::Symbol]| {
        if symbols.is_empty() {
            return "none".to_string();
        }
        let mut names: Vec<&str> = symbols.iter().take(20).map(|s| s.as_str()).collect();
        let more = format!("… and {} more", symbols.len().saturating_sub(20));
        if symbols.len() > 20 {
            names.push(&more);
        }
        names.join(", ")
    };
    println!("{summary}");
    println!("  mode:        merge");
    println!("  input:       {}", args.input.display());
    println!("  target:      {}", args.to);
    println!(
        "  rows:        {} accepted, {} rejected, {} duplicate dates",
        summary.rows, summary.rejected, summary.duplicates
    );
    println!("  inserted:    {}", report.rows_inserted);
    println!("  replaced:    {}", report.rows_replaced);
    println!("  unchanged:   {}", report.rows_unchanged);
    println!(
        "  touched:     {} ({})",
        report.touched.len(),
        list(&report.touched)
    );
    println!(
        "  symbol set:  {}",
        if report.symbol_set_changed {
            format!("changed, added {}", list(&report.symbols_added))
        } else {
            "unchanged".to_string()
        }
    );
    println!(
        "  manifest:    {}",
        match (report.manifest_written, report.manifest_attempts) {
            (false, _) => "unchanged, not written".to_string(),
            (true, 1) => "written".to_string(),
            (true, n) => format!("written after {n} attempts (concurrent imports)"),
        }
    );
    println!("  elapsed:     {:.2?}", summary.elapsed);
    println!("  partitions written: {}", report.partitions_written.len());
    for path in &report.partitions_written {
        println!("    {path}");
    }
}

async fn run_synth(args: SynthArgs) -> Result<(), String> {
    let location = open_location(&args.to)?;
    let plan = SynthPlan {
        symbols: args.symbols,
        years: args.years,
        seed: args.seed,
        end_date: args.end_date,
        concurrency: args.concurrency,
    };
    let summary = synth::synthesize(&plan, location)
        .await
        .map_err(|e| e.to_string())?;
    println!("{summary}");
    println!("  target:     {}", args.to);
    println!("  seed:       {}", args.seed);
    println!("  end date:   {}", args.end_date);
    println!("  symbols:    {}", summary.symbols);
    println!("  rows:       {}", summary.rows);
    println!("  partitions: {}", summary.partitions);
    println!("  elapsed:    {:.2?}", summary.elapsed);
    Ok(())
}
