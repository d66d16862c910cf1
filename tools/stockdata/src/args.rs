//! Command-line parsing with `clap` (derive API).
//!
//! Flags take their value either as the next argument (`--to DIR`) or
//! inline (`--to=DIR`). Unknown flags, missing values, repeated flags and
//! missing required flags are clap errors: a message, the usage line, and
//! exit status 2.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

/// Default number of symbols written at the same time.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Default seed of `synth`.
pub const DEFAULT_SEED: u64 = 42;

/// Default last date of `synth` (fixed so that output is reproducible).
pub const DEFAULT_END_DATE: &str = "2025-12-31";

const STORAGE_URL_HELP: &str = "\
STORAGE_URL: a local path, file:///abs/path, memory://, gs://bucket/prefix or s3://bucket/prefix.
Local folders are created when missing.";

const IMPORT_HELP: &str = "\
CSV with a header holding Ticker (or Symbol), Date, Open, High, Low, Close, Volume
(any case, any order, extra columns ignored); gzip is detected automatically.

Default: MERGE into the existing data set, by (symbol, date): a row for a stored date
replaces that bar, a new date is inserted; only partitions that change are rewritten
(plus the next year's, when its previous_close changes), then symbols.json. Symbols
not in the input keep their entries; existing symbols keep their metadata unless
--meta lists them. Re-importing the same file writes nothing.

Concurrent imports: conditional writes with retries on memory://, s3:// and gs://;
an exclusive file lock ({folder}/.stockdata-import.lock) on a local folder (one
machine; not NFS).";

const META_HELP: &str = "\
Symbol metadata (alias --names): CSV with header symbol,name,exchange,currency, or a JSON
array of {\"symbol\",\"name\",\"exchange\",\"currency\"} objects. New symbols without
metadata get name = symbol, exchange = UNKNOWN, currency = USD.";

const REPLACE_HELP: &str = "\
Rewrite the data set from the input alone (the manifest lists only the input's symbols;
partitions of other symbols or years are left behind, unlisted)";

/// `stockdata`: the whole command line.
#[derive(Clone, Debug, PartialEq, Parser)]
#[command(
    name = "stockdata",
    version,
    about = "stockdata: build the stock-data storage layout (symbols.json + daily/{SYMBOL}/{YYYY}.json)",
    after_help = STORAGE_URL_HELP
)]
pub struct Cli {
    /// What to do; none prints the help.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A subcommand (`help` is clap's own).
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum Command {
    /// Import daily OHLCV CSV into the layout (merges by default).
    #[command(long_about = IMPORT_HELP, after_help = STORAGE_URL_HELP)]
    Import(ImportArgs),
    /// Deterministic random-walk data for SYN0001..SYNnnnn, weekdays only.
    #[command(after_help = STORAGE_URL_HELP)]
    Synth(SynthArgs),
    /// Print a shell completion script to stdout.
    #[command(hide = true)]
    Completions {
        /// bash, elvish, fish, powershell or zsh.
        shell: clap_complete::Shell,
    },
}

/// Arguments of `import`.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct ImportArgs {
    /// CSV file, optionally gzip-compressed.
    #[arg(long, value_name = "FILE.csv[.gz]")]
    pub input: PathBuf,
    /// Target storage (see STORAGE_URL below).
    #[arg(long, value_name = "STORAGE_URL")]
    pub to: String,
    /// Optional symbol metadata file (CSV or JSON).
    #[arg(long, visible_alias = "names", value_name = "FILE.csv|FILE.json", long_help = META_HELP)]
    pub meta: Option<PathBuf>,
    /// Rewrite the whole data set instead of merging into it.
    #[arg(long, long_help = REPLACE_HELP)]
    pub replace: bool,
    /// Symbols written at the same time.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY, value_parser = at_least_one)]
    pub concurrency: usize,
}

/// Arguments of `synth`.
#[derive(Args, Clone, Debug, PartialEq)]
pub struct SynthArgs {
    /// Number of symbols.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub symbols: usize,
    /// Years of history per symbol (1 to 200).
    #[arg(long, value_name = "Y", value_parser = years)]
    pub years: u32,
    /// Target storage (see STORAGE_URL below).
    #[arg(long, value_name = "STORAGE_URL")]
    pub to: String,
    /// PRNG seed.
    #[arg(long, value_name = "S", default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Date of the last bar (moved back to a weekday if it falls on a weekend).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = DEFAULT_END_DATE, value_parser = date)]
    pub end_date: NaiveDate,
    /// Symbols written at the same time.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CONCURRENCY, value_parser = at_least_one)]
    pub concurrency: usize,
}

fn number<T: std::str::FromStr>(raw: &str) -> Result<T, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{raw:?} is not a valid number"))
}

/// A count that must be at least 1.
fn at_least_one(raw: &str) -> Result<usize, String> {
    match number(raw)? {
        0 => Err("must be at least 1".into()),
        n => Ok(n),
    }
}

fn years(raw: &str) -> Result<u32, String> {
    match number(raw)? {
        n @ 1..=200 => Ok(n),
        _ => Err("must be between 1 and 200".into()),
    }
}

fn date(raw: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{raw:?} is not a YYYY-MM-DD date"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(line: &str) -> Result<Option<Command>, clap::Error> {
        let argv = std::iter::once("stockdata").chain(line.split_whitespace());
        Cli::try_parse_from(argv).map(|cli| cli.command)
    }

    fn error(line: &str) -> clap::Error {
        parse(line).expect_err(line)
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_import_with_both_flag_styles() {
        let cmd = parse("import --input a.csv.gz --to=out --names n.csv").unwrap();
        assert_eq!(
            cmd,
            Some(Command::Import(ImportArgs {
                input: "a.csv.gz".into(),
                to: "out".into(),
                meta: Some("n.csv".into()),
                concurrency: DEFAULT_CONCURRENCY,
                replace: false,
            }))
        );
        let Some(Command::Import(import)) =
            parse("import --input=a --to b --meta m.json --concurrency 3").unwrap()
        else {
            panic!("not import");
        };
        assert_eq!(import.meta, Some(PathBuf::from("m.json")));
        assert_eq!(import.concurrency, 3);
    }

    #[test]
    fn replace_is_a_switch_without_value() {
        let Some(Command::Import(import)) =
            parse("import --replace --input a.csv --to out").unwrap()
        else {
            panic!("not import");
        };
        assert!(import.replace);
        assert_eq!(import.input, PathBuf::from("a.csv"));
        let e = error("import --input a --to b --replace=yes");
        assert_eq!(e.kind(), ErrorKind::TooManyValues, "{e}");
        let e = error("import --input a --to b --replace --replace");
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict, "{e}");
        assert!(
            e.to_string().contains("cannot be used multiple times"),
            "{e}"
        );
    }

    #[test]
    fn parses_synth_with_defaults() {
        let Some(Command::Synth(synth)) =
            parse("synth --symbols 5 --years 2 --to memory://").unwrap()
        else {
            panic!("not synth");
        };
        assert_eq!(synth.symbols, 5);
        assert_eq!(synth.years, 2);
        assert_eq!(synth.to, "memory://");
        assert_eq!(synth.seed, DEFAULT_SEED);
        assert_eq!(synth.end_date.to_string(), DEFAULT_END_DATE);
        assert_eq!(synth.concurrency, DEFAULT_CONCURRENCY);
        let Some(Command::Synth(synth)) = parse(
            "synth --symbols 1 --years 200 --to m --seed 7 --end-date 2020-02-29 --concurrency 1",
        )
        .unwrap() else {
            panic!("not synth");
        };
        assert_eq!(synth.years, 200);
        assert_eq!(synth.seed, 7);
        assert_eq!(synth.end_date.to_string(), "2020-02-29");
        assert_eq!(synth.concurrency, 1);
    }

    #[test]
    fn reports_bad_command_lines() {
        use ErrorKind::*;
        for (line, kind, needle) in [
            ("frobnicate", InvalidSubcommand, "frobnicate"),
            ("import --to x", MissingRequiredArgument, "--input"),
            ("import --input a.csv", MissingRequiredArgument, "--to"),
            (
                "import --input a --to b --bogus 1",
                UnknownArgument,
                "--bogus",
            ),
            ("import --input a --to", InvalidValue, "--to"),
            (
                "import --input a --to b --meta m --names n",
                ArgumentConflict,
                "multiple times",
            ),
            (
                "import --input a --to b --concurrency 0",
                ValueValidation,
                "at least 1",
            ),
            (
                "synth --symbols x --years 1 --to m",
                ValueValidation,
                "not a valid number",
            ),
            (
                "synth --symbols 0 --years 1 --to m",
                ValueValidation,
                "at least 1",
            ),
            (
                "synth --symbols 1 --years 0 --to m",
                ValueValidation,
                "between 1 and 200",
            ),
            (
                "synth --symbols 1 --years 201 --to m",
                ValueValidation,
                "between 1 and 200",
            ),
            (
                "synth --symbols 1 --years 1 --to m --end-date 2025-13-01",
                ValueValidation,
                "YYYY-MM-DD",
            ),
            (
                "synth --symbols 1 --years 1 --to m --concurrency 0",
                ValueValidation,
                "at least 1",
            ),
            (
                "synth --symbols 1 --symbols 2 --years 1 --to m",
                ArgumentConflict,
                "multiple times",
            ),
            ("synth stray", UnknownArgument, "stray"),
        ] {
            let e = error(line);
            assert_eq!(e.kind(), kind, "{line}: {e}");
            assert!(e.to_string().contains(needle), "{line}: {e}");
            assert_eq!(e.exit_code(), 2, "{line}");
        }
    }

    #[test]
    fn help_and_no_arguments() {
        assert_eq!(parse("").unwrap(), None);
        for line in ["--help", "help", "synth --help", "help import", "import -h"] {
            let e = error(line);
            assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{line}");
            assert_eq!(e.exit_code(), 0, "{line}");
        }
        let help = error("import --help").to_string();
        assert!(help.contains("--names"), "{help}");
        assert!(help.contains("STORAGE_URL"), "{help}");
    }

    #[test]
    fn completions_are_a_hidden_subcommand() {
        assert!(matches!(
            parse("completions bash").unwrap(),
            Some(Command::Completions { .. })
        ));
        let help = error("--help").to_string();
        assert!(!help.contains("completions"), "{help}");
    }
}
