//! The cache operations of the warmer, as methods of the cache: the most
//! requested symbols, how much fresh life keys have left with the tags
//! their values must carry, and tagged writes (see [`super::tag`]).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::ReadThrough;
use super::envelope::Envelope;
use super::tag::tag_of;
use crate::generation::Token;
use crate::symbol::Symbol;
use crate::upstash::{Command, Reply, UpstashError};

/// Most commands in one pipeline (and values in one write).
pub const PIPELINE_MAX: usize = 100;

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
    /// expiry), pipelined [`PIPELINE_MAX`] per request, and the tag a value
    /// of each key read from now on must carry. The tags and the data
    /// generation are read in the first request, and the generation is
    /// observed (so storage reads that follow use a current manifest).
    pub(crate) async fn time_left(
        &self,
        keys: &[String],
    ) -> Result<(Vec<Option<Duration>>, Vec<String>), UpstashError> {
        let scopes: BTreeSet<String> = keys.iter().flat_map(|k| self.keys().scopes_of(k)).collect();
        let mut left = Vec::with_capacity(keys.len());
        let mut tokens = BTreeMap::new();
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
                let mget = Command::new("MGET")
                    .args(scopes.iter().map(String::as_str))
                    .arg(self.keys().generation());
                commands.push(mget);
            }
            let mut replies = self.client().pipeline(&commands).await?;
            if n == 0 {
                let mut found = replies
                    .pop()
                    .transpose()?
                    .and_then(Reply::into_array)
                    .filter(|r| r.len() == scopes.len() + 1)
                    .ok_or_else(|| UpstashError::Decode("MGET of the scopes".into()))?;
                let generation = found.pop().map(|g| Token::from_reply(g.as_str()));
                self.observe(&generation.unwrap_or(Token::Unknown));
                tokens.extend(scopes.iter().zip(found));
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
        let tags = keys
            .iter()
            .map(|key| {
                let replies: Vec<Reply> = self
                    .keys()
                    .scopes_of(key)
                    .iter()
                    .map(|scope| tokens.get(scope).cloned().unwrap_or(Reply::Nil))
                    .collect();
                tag_of(&replies)
            })
            .collect();
        Ok((left, tags))
    }

    /// Writes `entries` (key, value; each value tagged) in one pipeline,
    /// over any value (`only_over` false) or only over a value that is
    /// there (`SET … XX`); returns the keys written, in order.
    pub(crate) async fn store_tagged(
        &self,
        entries: &[(String, &Envelope)],
        only_over: bool,
    ) -> Result<Vec<bool>, UpstashError> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let commands: Vec<Command> = entries
            .iter()
            .map(|(key, entry)| self.store_command(key, entry, only_over))
            .collect();
        let replies = self.client().pipeline(&commands).await?;
        Ok(replies
            .iter()
            .map(|reply| reply.as_ref().is_ok_and(Reply::is_ok_status))
            .collect())
    }
}
