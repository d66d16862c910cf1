//! Executing commands on Redis: a small pool of self-reconnecting
//! multiplexed connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, Value};

use crate::request::Args;

/// What went wrong talking to Redis.
#[derive(Debug)]
pub(crate) enum ExecError {
    /// The transaction was discarded as a whole (HTTP 400).
    Discarded(String),
    /// Redis is unreachable or the connection broke (HTTP 500).
    Connection(String),
}

/// A pool of Redis connections; every command is counted.
pub(crate) struct Backend {
    conns: Vec<ConnectionManager>,
    next: AtomicUsize,
    commands: Arc<AtomicU64>,
}

fn cmd(args: &Args) -> Cmd {
    let mut cmd = Cmd::new();
    for arg in args {
        cmd.arg(arg.as_slice());
    }
    cmd
}

fn conn_error(e: &redis::RedisError) -> ExecError {
    ExecError::Connection(format!("ERR connection to Redis failed: {e}"))
}

impl Backend {
    /// Connects `size` (≥ 1) connections to `redis_url`.
    pub(crate) async fn connect(
        redis_url: &str,
        size: usize,
        commands: Arc<AtomicU64>,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(redis_url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let mut conns = Vec::with_capacity(size.max(1));
        for _ in 0..size.max(1) {
            conns.push(ConnectionManager::new_with_config(client.clone(), config.clone()).await?);
        }
        Ok(Self {
            conns,
            next: AtomicUsize::new(0),
            commands,
        })
    }

    fn conn(&self) -> ConnectionManager {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].clone()
    }

    /// Runs one command; server errors come back as `Value::ServerError`.
    pub(crate) async fn exec(&self, args: &Args) -> Result<Value, ExecError> {
        self.commands.fetch_add(1, Ordering::Relaxed);
        self.conn()
            .req_packed_command(&cmd(args))
            .await
            .map_err(|e| conn_error(&e))
    }

    /// Runs commands as one non-atomic pipeline, replies in order.
    pub(crate) async fn pipeline(&self, cmds: &[&Args]) -> Result<Vec<Value>, ExecError> {
        if cmds.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = Pipeline::with_capacity(cmds.len());
        for args in cmds {
            pipe.add_command(cmd(args));
        }
        self.commands
            .fetch_add(cmds.len() as u64, Ordering::Relaxed);
        self.conn()
            .req_packed_commands(&pipe, 0, cmds.len())
            .await
            .map_err(|e| conn_error(&e))
    }

    /// Runs commands inside MULTI/EXEC, written contiguously on one
    /// connection. A queueing error discards the whole transaction.
    pub(crate) async fn transaction(&self, cmds: &[&Args]) -> Result<Vec<Value>, ExecError> {
        let mut pipe = Pipeline::with_capacity(cmds.len() + 2);
        pipe.add_command(redis::cmd("MULTI"));
        for args in cmds {
            pipe.add_command(cmd(args));
        }
        pipe.add_command(redis::cmd("EXEC"));
        self.commands
            .fetch_add(cmds.len() as u64, Ordering::Relaxed);
        let mut replies = self
            .conn()
            .req_packed_commands(&pipe, 0, cmds.len() + 2)
            .await
            .map_err(|e| conn_error(&e))?;
        let exec = replies.pop().unwrap_or(Value::Nil);
        // The first queueing error is the most useful message.
        if let Some(Value::ServerError(e)) =
            replies.iter().find(|v| matches!(v, Value::ServerError(_)))
        {
            return Err(ExecError::Discarded(crate::encode::server_error_message(e)));
        }
        match exec {
            Value::Array(items) => Ok(items),
            Value::ServerError(e) => Err(ExecError::Discarded(
                crate::encode::server_error_message(&e),
            )),
            _ => Err(ExecError::Discarded(
                "EXECABORT Transaction discarded".into(),
            )),
        }
    }
}
