//! Redis commands as sent in Upstash REST request bodies.

use serde::ser::{Serialize, SerializeSeq, Serializer};

/// One argument of a [`Command`]: a JSON string or number.
///
/// Request bodies are JSON, so string arguments must be UTF-8.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// A string argument (sent as a JSON string).
    Str(String),
    /// A signed integer (sent as a JSON number).
    Int(i64),
    /// An unsigned integer (sent as a JSON number).
    UInt(u64),
    /// A float (sent as a JSON number; non-finite values as `+inf`, `-inf`, `nan` strings).
    Float(f64),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Self::Str(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Self::Str(v)
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Self::Str(v.clone())
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Self {
        Self::Int(v.into())
    }
}
impl From<u64> for Arg {
    fn from(v: u64) -> Self {
        Self::UInt(v)
    }
}
impl From<u32> for Arg {
    fn from(v: u32) -> Self {
        Self::UInt(v.into())
    }
}
impl From<usize> for Arg {
    fn from(v: usize) -> Self {
        Self::UInt(v as u64)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl Serialize for Arg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Str(v) => s.serialize_str(v),
            Self::Int(v) => s.serialize_i64(*v),
            Self::UInt(v) => s.serialize_u64(*v),
            Self::Float(v) if v.is_finite() => s.serialize_f64(*v),
            Self::Float(v) if v.is_nan() => s.serialize_str("nan"),
            Self::Float(v) if *v > 0.0 => s.serialize_str("+inf"),
            Self::Float(_) => s.serialize_str("-inf"),
        }
    }
}

/// Commands that only read, safe to retry once after a connection reset.
const READ_ONLY: &[&str] = &[
    "BITCOUNT",
    "BITPOS",
    "DBSIZE",
    "DUMP",
    "ECHO",
    "EXISTS",
    "GET",
    "GETBIT",
    "GETRANGE",
    "HEXISTS",
    "HGET",
    "HGETALL",
    "HKEYS",
    "HLEN",
    "HMGET",
    "HSCAN",
    "HSTRLEN",
    "HVALS",
    "INFO",
    "KEYS",
    "LINDEX",
    "LLEN",
    "LRANGE",
    "MGET",
    "PING",
    "PTTL",
    "SCAN",
    "SCARD",
    "SISMEMBER",
    "SMEMBERS",
    "SMISMEMBER",
    "SSCAN",
    "STRLEN",
    "TIME",
    "TTL",
    "TYPE",
    "ZCARD",
    "ZCOUNT",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZRANK",
    "ZREVRANGE",
    "ZREVRANGEBYSCORE",
    "ZREVRANK",
    "ZSCAN",
    "ZSCORE",
];

/// A Redis command: a name and its arguments.
///
/// ```
/// use shared::upstash::Command;
/// let cmd = Command::new("SET").arg("k").arg("v").arg("EX").arg(100);
/// assert_eq!(cmd.to_json(), r#"["SET","k","v","EX",100]"#);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    name: String,
    args: Vec<Arg>,
}

impl Command {
    /// Starts a command with the given name (e.g. `"GET"`).
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            args: Vec::new(),
        }
    }

    /// Appends one argument.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<Arg>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Appends several arguments.
    #[must_use]
    pub fn args<I, A>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: Into<Arg>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// The command name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments, in order.
    pub fn arguments(&self) -> &[Arg] {
        &self.args
    }

    /// `true` when the command only reads (so a retry cannot duplicate a write).
    pub fn is_read_only(&self) -> bool {
        READ_ONLY
            .iter()
            .any(|read| read.eq_ignore_ascii_case(&self.name))
    }

    /// The JSON array sent as a request body.
    pub fn to_json(&self) -> String {
        // Serializing strings and numbers into a Vec cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl Serialize for Command {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.args.len() + 1))?;
        seq.serialize_element(&self.name)?;
        for arg in &self.args {
            seq.serialize_element(arg)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_strings_and_numbers() {
        let cmd = Command::new("SET")
            .arg("k")
            .arg(String::from("v\"\u{e9}"))
            .arg("EX")
            .arg(100_i64)
            .arg(7_u64)
            .arg(1.5_f64);
        assert_eq!(cmd.to_json(), r#"["SET","k","v\"é","EX",100,7,1.5]"#);
    }

    #[test]
    fn non_finite_floats_become_strings() {
        let cmd = Command::new("ZADD")
            .arg(f64::INFINITY)
            .arg(f64::NEG_INFINITY)
            .arg(f64::NAN);
        assert_eq!(cmd.to_json(), r#"["ZADD","+inf","-inf","nan"]"#);
    }

    #[test]
    fn args_extends() {
        let cmd = Command::new("MGET").args(["a", "b"]);
        assert_eq!(cmd.arguments().len(), 2);
        assert_eq!(cmd.name(), "MGET");
        assert_eq!(cmd.to_json(), r#"["MGET","a","b"]"#);
    }

    #[test]
    fn read_only_classification() {
        assert!(Command::new("get").is_read_only());
        assert!(Command::new("MGET").is_read_only());
        assert!(Command::new("ZREVRANGE").is_read_only());
        assert!(!Command::new("SET").is_read_only());
        assert!(!Command::new("INCR").is_read_only());
        assert!(!Command::new("EVAL").is_read_only());
        assert!(!Command::new("GETDEL").is_read_only());
    }
}
