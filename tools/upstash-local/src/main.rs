//! `upstash-local`: run an Upstash-compatible REST server over a real Redis.
//!
//! ```text
//! upstash-local --listen 127.0.0.1:8079 --redis redis://127.0.0.1:6379 --token TOKEN
//! ```
//! Each flag falls back to `UPSTASH_LOCAL_LISTEN`, `REDIS_URL`,
//! `UPSTASH_REDIS_REST_TOKEN` (an empty variable counts as unset).
//! `--max-request-bytes N` sets the body limit. `--help` lists the flags.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser};
use upstash_local::{ServeOptions, serve};

const DEFAULT_LISTEN: &str = "127.0.0.1:8079";
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379";

/// The command line, before the environment fallbacks.
#[derive(Debug, Parser)]
#[command(
    name = "upstash-local",
    version,
    about = "An Upstash-compatible REST server in front of a real Redis."
)]
struct Cli {
    /// Address to listen on [default: $UPSTASH_LOCAL_LISTEN or 127.0.0.1:8079]
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Redis behind the server [default: $REDIS_URL or redis://127.0.0.1:6379]
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Bearer token clients must send [default: $UPSTASH_REDIS_REST_TOKEN; required]
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Largest request body accepted [default: 10485760]
    #[arg(long, value_name = "N")]
    max_request_bytes: Option<usize>,
}

impl Cli {
    /// Fills what the command line left out from `env` (empty values count as unset).
    fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<ServeOptions, clap::Error> {
        let env = |name: &str| env(name).filter(|v| !v.is_empty());
        let listen = match self.listen {
            Some(listen) => listen,
            None => {
                let raw = env("UPSTASH_LOCAL_LISTEN").unwrap_or_else(|| DEFAULT_LISTEN.into());
                raw.parse().map_err(|_| {
                    usage_error(
                        ErrorKind::ValueValidation,
                        format!("invalid listen address {raw:?} (UPSTASH_LOCAL_LISTEN)"),
                    )
                })?
            }
        };
        let redis = self
            .redis
            .or_else(|| env("REDIS_URL"))
            .unwrap_or_else(|| DEFAULT_REDIS.into());
        let token = self.token.or_else(|| env("UPSTASH_REDIS_REST_TOKEN"));
        let token = token.ok_or_else(|| {
            usage_error(
                ErrorKind::MissingRequiredArgument,
                "a token is required: --token or UPSTASH_REDIS_REST_TOKEN",
            )
        })?;
        let mut options = ServeOptions::new(listen, redis, token);
        if let Some(n) = self.max_request_bytes {
            options.max_request_bytes = n;
        }
        Ok(options)
    }
}

/// A usage error in clap's format (exit status 2).
fn usage_error(kind: ErrorKind, message: impl std::fmt::Display) -> clap::Error {
    Cli::command().error(kind, message)
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match Cli::parse().resolve(|name| std::env::var(name).ok()) {
        Ok(o) => o,
        Err(e) => e.exit(),
    };
    let redis = options.redis_url.clone();
    let handle = match serve(options).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("upstash-local: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "upstash-local listening on {} (redis {redis})",
        handle.url()
    );
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str, env: &[(&str, &str)]) -> Result<ServeOptions, clap::Error> {
        let argv = std::iter::once("upstash-local").chain(line.split_whitespace());
        let env = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        };
        Cli::try_parse_from(argv)?.resolve(env)
    }

    fn fails(line: &str, env: &[(&str, &str)]) -> clap::Error {
        match parse(line, env) {
            Ok(_) => panic!("{line:?} parsed"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_win_over_environment_and_defaults_fill_the_rest() {
        let o = parse("--token t", &[]).unwrap();
        assert_eq!(o.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(o.redis_url, DEFAULT_REDIS);
        assert_eq!(o.token, "t");
        assert_eq!(o.max_request_bytes, 10_485_760);
        let env = [
            ("UPSTASH_LOCAL_LISTEN", "127.0.0.1:9000"),
            ("REDIS_URL", "redis://r:1"),
            ("UPSTASH_REDIS_REST_TOKEN", "from-env"),
        ];
        let o = parse("", &env).unwrap();
        assert_eq!(o.listen.to_string(), "127.0.0.1:9000");
        assert_eq!(o.redis_url, "redis://r:1");
        assert_eq!(o.token, "from-env");
        assert_eq!(o.max_request_bytes, 10_485_760);
        let o = parse(
            "--listen=127.0.0.1:1 --redis redis://x --token=flag --max-request-bytes 5",
            &env,
        )
        .unwrap();
        assert_eq!(o.listen.to_string(), "127.0.0.1:1");
        assert_eq!(o.redis_url, "redis://x");
        assert_eq!(o.token, "flag");
        assert_eq!(o.max_request_bytes, 5);
    }

    #[test]
    fn empty_environment_values_count_as_unset() {
        let env = [
            ("UPSTASH_LOCAL_LISTEN", ""),
            ("REDIS_URL", ""),
            ("UPSTASH_REDIS_REST_TOKEN", ""),
        ];
        let e = fails("", &env);
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        let o = parse("--token t", &env).unwrap();
        assert_eq!(o.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(o.redis_url, DEFAULT_REDIS);
    }

    #[test]
    fn bad_usage_is_exit_status_2() {
        for (line, env, kind) in [
            ("", &[][..], ErrorKind::MissingRequiredArgument),
            ("--token t --bogus", &[], ErrorKind::UnknownArgument),
            ("--token", &[], ErrorKind::InvalidValue),
            (
                "--token t --listen nowhere",
                &[],
                ErrorKind::ValueValidation,
            ),
            (
                "--token t",
                &[("UPSTASH_LOCAL_LISTEN", "nowhere")],
                ErrorKind::ValueValidation,
            ),
            (
                "--token t --max-request-bytes ten",
                &[],
                ErrorKind::ValueValidation,
            ),
        ] {
            let e = fails(line, env);
            assert_eq!(e.kind(), kind, "{line}: {e}");
            assert_eq!(e.exit_code(), 2, "{line}");
        }
    }
}
