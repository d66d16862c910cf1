//! The cache operations of the warmer, as methods of the cache: the most
//! requested symbols, how much fresh life keys have left, and writes that
//! only land while the data generation is unchanged.

use std::time::Duration;

use super::ReadThrough;
use super::envelope::Envelope;
use crate::generation::Token;
use crate::symbol::Symbol;
use crate::upstash::{Command, Reply, UpstashError};

/// Most commands in one pipeline (and values in one write).
pub const PIPELINE_MAX: usize = 100;

/// Writes many values only while the data generation is unchanged.
/// KEYS: generation, then the value keys. ARGV: the generation seen before
/// the storage reads ('' = none), then value and PX of each key. Returns
/// the number written (0 when an invalidation came in between).
const STORE_MANY_SCRIPT: &str = "\
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
for i = 2, #KEYS do redis.call('SET', KEYS[i], ARGV[2 * i - 2], 'PX', ARGV[2 * i - 1]) end
return #KEYS - 1";

impl ReadThrough {
    /// The `n` most requested symbols of the popularity ranking, most first.
    pub async fn top_symbols(&self, n: usize) -> Result<Vec<Symbol>, UpstashError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let top = Command::new("ZREVRANGE")
            .arg(self.keys().popularity())
            .arg(0)
            .arg(n as u64 - 1);
        let reply = self.client().command(&top).await?;
        Ok(reply
            .into_array()
            .unwrap_or_default()
            .iter()
            .filter_map(|member| member.as_str().and_then(|s| Symbol::parse(s).ok()))
            .collect())
    }

    /// The time each of `keys` has left in Redis (`None`: missing or no
    /// expiry), pipelined [`PIPELINE_MAX`] per request, and the data
    /// generation, read in the first request and observed (so storage reads
    /// that follow use a current manifest).
    pub async fn time_left(
        &self,
        keys: &[String],
    ) -> Result<(Vec<Option<Duration>>, Token), UpstashError> {
        let mut left = Vec::with_capacity(keys.len());
        let mut generation = Token::Unknown;
        let first = [String::new()];
        let chunks: Vec<&[String]> = if keys.is_empty() {
            vec![&first[..0]]
        } else {
            keys.chunks(PIPELINE_MAX).collect()
        };
        for (n, chunk) in chunks.into_iter().enumerate() {
            let mut commands: Vec<Command> = chunk
                .iter()
                .map(|key| Command::new("PTTL").arg(key))
                .collect();
            if n == 0 {
                commands.push(Command::new("GET").arg(self.keys().generation()));
            }
            let mut replies = self.client().pipeline(&commands).await?;
            if n == 0 {
                let reply = replies.pop().transpose()?;
                generation = Token::from_reply(reply.as_ref().and_then(Reply::as_str));
                self.observe(&generation);
            }
            left.extend(replies.into_iter().map(|reply| {
                reply
                    .ok()
                    .as_ref()
                    .and_then(Reply::as_int)
                    .filter(|ms| *ms > 0)
                    .map(|ms| Duration::from_millis(ms as u64))
            }));
        }
        Ok((left, generation))
    }

    /// Writes `entries` (key, value) in one script call, only if the data
    /// generation is still `generation` (read before the values were);
    /// returns how many were written: all, or none.
    pub async fn store_if_current(
        &self,
        entries: &[(String, &Envelope)],
        generation: &Token,
    ) -> Result<usize, UpstashError> {
        let Some(seen) = generation.as_script_arg() else {
            return Ok(0);
        };
        if entries.is_empty() {
            return Ok(0);
        }
        let mut command = Command::new("EVAL")
            .arg(STORE_MANY_SCRIPT)
            .arg(entries.len() + 1)
            .arg(self.keys().generation())
            .args(entries.iter().map(|(key, _)| key.as_str()))
            .arg(seen);
        for (_, entry) in entries {
            let retention = self.config().retention(entry.fresh_ttl);
            command = command
                .arg(entry.encode())
                .arg(retention.as_millis().max(1) as u64);
        }
        let reply = self.client().command(&command).await?;
        Ok(reply.as_int().unwrap_or(0).max(0) as usize)
    }
}
