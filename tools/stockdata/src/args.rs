//! Command-line parsing: a small hand-written parser, no argument crate.
//!
//! Flags take their value either as the next argument (`--to DIR`) or
//! inline (`--to=DIR`). Unknown flags, missing values and missing required
//! flags are reported as [`ArgsError`]s with a message fit for the user.

use std::path::PathBuf;

use chrono::NaiveDate;

/// Default number of symbols written at the same time.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Default seed of `synth`.
pub const DEFAULT_SEED: u64 = 42;

/// Default last date of `synth` (fixed so that output is reproducible).
pub const DEFAULT_END_DATE: &str = "2025-12-31";

/// Usage text printed by `help` and on argument errors.
pub const USAGE: &str = "\
stockdata: build the stock-data storage layout (symbols.json + daily/{SYMBOL}/{YYYY}.json)

USAGE:
  stockdata import --input FILE.csv[.gz] --to STORAGE_URL [--meta FILE.csv|FILE.json] [--replace] [--concurrency N]
  stockdata synth --symbols N --years Y --to STORAGE_URL [--seed S] [--end-date YYYY-MM-DD] [--concurrency N]
  stockdata help

STORAGE_URL: a local path, file:///abs/path, memory://, gs://bucket/prefix or s3://bucket/prefix.
Local folders are created when missing.

import: CSV with a header holding Ticker (or Symbol), Date, Open, High, Low, Close, Volume
        (any case, any order, extra columns ignored); gzip is detected automatically.
        --meta (alias --names): CSV with header symbol,name,exchange,currency, or a JSON
        array of {\"symbol\",\"name\",\"exchange\",\"currency\"} objects. New symbols without
        metadata get name = symbol, exchange = UNKNOWN, currency = USD.
        Default: MERGE into the existing data set, by (symbol, date): a row for a stored date
        replaces that bar, a new date is inserted; only partitions that change are rewritten
        (plus the next year's, when its previous_close changes), then symbols.json. Symbols
        not in the input keep their entries; existing symbols keep their metadata unless
        --meta lists them. Re-importing the same file writes nothing.
        --replace: rewrite the data set from the input alone (the manifest lists only the
        input's symbols; partitions of other symbols or years are left behind, unlisted).
        Concurrent imports: conditional writes with retries on memory://, s3:// and gs://;
        an exclusive file lock ({folder}/.stockdata-import.lock) on a local folder (one
        machine; not NFS).
synth:  deterministic random-walk data for SYN0001..SYNnnnn, weekdays only.
        Defaults: --seed 42, --end-date 2025-12-31, --concurrency 16.
";

/// A parsed command line.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Convert a CSV file into the layout.
    Import(ImportArgs),
    /// Generate synthetic data.
    Synth(SynthArgs),
    /// Print usage.
    Help,
}

/// Arguments of `import`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportArgs {
    /// CSV file, optionally gzip-compressed.
    pub input: PathBuf,
    /// Target `STORAGE_URL`.
    pub to: String,
    /// Optional symbol metadata file (CSV or JSON).
    pub meta: Option<PathBuf>,
    /// Symbols written at the same time.
    pub concurrency: usize,
    /// Rewrite the whole data set instead of merging into it.
    pub replace: bool,
}

/// Arguments of `synth`.
#[derive(Clone, Debug, PartialEq)]
pub struct SynthArgs {
    /// Number of symbols.
    pub symbols: usize,
    /// Years of history per symbol.
    pub years: u32,
    /// Target `STORAGE_URL`.
    pub to: String,
    /// PRNG seed.
    pub seed: u64,
    /// Date of the last bar (moved back to a weekday if it falls on a weekend).
    pub end_date: NaiveDate,
    /// Symbols written at the same time.
    pub concurrency: usize,
}

/// The command line could not be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgsError(pub String);

impl std::fmt::Display for ArgsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ArgsError {}

fn err<T>(message: impl Into<String>) -> Result<T, ArgsError> {
    Err(ArgsError(message.into()))
}

/// Flag/value pairs of one subcommand, consumed as they are looked up.
struct Flags {
    pairs: Vec<(String, String)>,
}

impl Flags {
    /// `known` flags take a value; `switches` take none (their value is "true").
    fn parse(args: &[String], known: &[&str], switches: &[&str]) -> Result<Self, ArgsError> {
        let mut pairs = Vec::new();
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            let Some(flag) = arg.strip_prefix("--") else {
                return err(format!("unexpected argument {arg:?}"));
            };
            let (name, value) = match flag.split_once('=') {
                Some((name, _)) if switches.contains(&name) => {
                    return err(format!("--{name} takes no value"));
                }
                Some((name, value)) => (name.to_string(), value.to_string()),
                None if switches.contains(&flag) => (flag.to_string(), "true".to_string()),
                None => {
                    let Some(value) = iter.next() else {
                        return err(format!("--{flag} needs a value"));
                    };
                    (flag.to_string(), value.clone())
                }
            };
            if !known.contains(&name.as_str()) && !switches.contains(&name.as_str()) {
                return err(format!("unknown flag --{name}"));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return err(format!("--{name} given twice"));
            }
            pairs.push((name, value));
        }
        Ok(Flags { pairs })
    }

    fn take(&mut self, names: &[&str]) -> Option<String> {
        let index = self
            .pairs
            .iter()
            .position(|(n, _)| names.contains(&n.as_str()))?;
        Some(self.pairs.remove(index).1)
    }

    fn required(&mut self, name: &str) -> Result<String, ArgsError> {
        match self.take(&[name]) {
            Some(value) => Ok(value),
            None => err(format!("--{name} is required")),
        }
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        name: &str,
        default: Option<T>,
    ) -> Result<T, ArgsError> {
        match (self.take(&[name]), default) {
            (Some(raw), _) => raw
                .trim()
                .parse()
                .map_err(|_| ArgsError(format!("--{name}: {raw:?} is not a valid number"))),
            (None, Some(default)) => Ok(default),
            (None, None) => err(format!("--{name} is required")),
        }
    }

    fn finish(self) -> Result<(), ArgsError> {
        match self.pairs.first() {
            Some((name, _)) => err(format!("--{name} conflicts with another flag")),
            None => Ok(()),
        }
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Command, ArgsError> {
    let Some((command, rest)) = args.split_first() else {
        return Ok(Command::Help);
    };
    if wants_help(rest) {
        return Ok(Command::Help);
    }
    match command.as_str() {
        "help" | "--help" | "-h" => Ok(Command::Help),
        "import" => parse_import(rest).map(Command::Import),
        "synth" => parse_synth(rest).map(Command::Synth),
        other => err(format!("unknown command {other:?}")),
    }
}

fn wants_help(args: &[String]) -> bool {
    args.iter().any(|a| a == "--help" || a == "-h")
}

fn parse_import(args: &[String]) -> Result<ImportArgs, ArgsError> {
    let mut flags = Flags::parse(
        args,
        &["input", "to", "meta", "names", "concurrency"],
        &["replace"],
    )?;
    let input = PathBuf::from(flags.required("input")?);
    let to = flags.required("to")?;
    let meta = flags.take(&["meta", "names"]).map(PathBuf::from);
    let replace = flags.take(&["replace"]).is_some();
    let concurrency = positive(
        flags.number("concurrency", Some(DEFAULT_CONCURRENCY))?,
        "concurrency",
    )?;
    flags.finish()?;
    Ok(ImportArgs {
        input,
        to,
        meta,
        concurrency,
        replace,
    })
}

fn parse_synth(args: &[String]) -> Result<SynthArgs, ArgsError> {
    let mut flags = Flags::parse(
        args,
        &["symbols", "years", "to", "seed", "end-date", "concurrency"],
        &[],
    )?;
    let symbols = positive(flags.number("symbols", None)?, "symbols")?;
    let years: u32 = flags.number("years", None)?;
    if years == 0 || years > 200 {
        return err("--years must be between 1 and 200");
    }
    let to = flags.required("to")?;
    let seed = flags.number("seed", Some(DEFAULT_SEED))?;
    let end_raw = flags
        .take(&["end-date"])
        .unwrap_or_else(|| DEFAULT_END_DATE.to_string());
    let end_date = NaiveDate::parse_from_str(end_raw.trim(), "%Y-%m-%d")
        .map_err(|_| ArgsError(format!("--end-date: {end_raw:?} is not a YYYY-MM-DD date")))?;
    let concurrency = positive(
        flags.number("concurrency", Some(DEFAULT_CONCURRENCY))?,
        "concurrency",
    )?;
    flags.finish()?;
    Ok(SynthArgs {
        symbols,
        years,
        to,
        seed,
        end_date,
        concurrency,
    })
}

fn positive(value: usize, name: &str) -> Result<usize, ArgsError> {
    if value == 0 {
        return err(format!("--{name} must be at least 1"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        line.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_import_with_both_flag_styles() {
        let cmd = parse(&args("import --input a.csv.gz --to=out --names n.csv")).unwrap();
        assert_eq!(
            cmd,
            Command::Import(ImportArgs {
                input: "a.csv.gz".into(),
                to: "out".into(),
                meta: Some("n.csv".into()),
                concurrency: DEFAULT_CONCURRENCY,
                replace: false,
            })
        );
    }

    #[test]
    fn replace_is_a_switch_without_value() {
        let Command::Import(import) =
            parse(&args("import --replace --input a.csv --to out")).unwrap()
        else {
            panic!("not import");
        };
        assert!(import.replace);
        assert_eq!(import.input, PathBuf::from("a.csv"));
        let error = parse(&args("import --input a --to b --replace=yes"))
            .unwrap_err()
            .0;
        assert!(error.contains("takes no value"), "{error}");
        let error = parse(&args("import --input a --to b --replace --replace"))
            .unwrap_err()
            .0;
        assert!(error.contains("twice"), "{error}");
    }

    #[test]
    fn parses_synth_with_defaults() {
        let Command::Synth(synth) =
            parse(&args("synth --symbols 5 --years 2 --to memory://")).unwrap()
        else {
            panic!("not synth");
        };
        assert_eq!(synth.symbols, 5);
        assert_eq!(synth.years, 2);
        assert_eq!(synth.seed, DEFAULT_SEED);
        assert_eq!(synth.end_date.to_string(), DEFAULT_END_DATE);
        assert_eq!(synth.concurrency, DEFAULT_CONCURRENCY);
    }

    #[test]
    fn reports_bad_command_lines() {
        for (line, needle) in [
            ("frobnicate", "unknown command"),
            ("import --to x", "--input is required"),
            ("import --input a.csv", "--to is required"),
            ("import --input a --to b --bogus 1", "unknown flag --bogus"),
            ("import --input a --to", "needs a value"),
            ("import --input a --to b --meta m --names n", "conflicts"),
            ("synth --symbols x --years 1 --to m", "not a valid number"),
            ("synth --symbols 0 --years 1 --to m", "at least 1"),
            ("synth --symbols 1 --years 0 --to m", "between 1 and 200"),
            (
                "synth --symbols 1 --years 1 --to m --end-date 2025-13-01",
                "YYYY-MM-DD",
            ),
            ("synth --symbols 1 --symbols 2 --years 1 --to m", "twice"),
            ("synth stray", "unexpected argument"),
        ] {
            let error = parse(&args(line)).unwrap_err().0;
            assert!(error.contains(needle), "{line}: {error}");
        }
    }

    #[test]
    fn no_arguments_means_help() {
        assert_eq!(parse(&[]).unwrap(), Command::Help);
        assert_eq!(parse(&args("--help")).unwrap(), Command::Help);
        assert_eq!(parse(&args("synth --help")).unwrap(), Command::Help);
    }
}
