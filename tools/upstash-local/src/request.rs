//! Turning HTTP requests into Redis command argument lists.

/// One Redis command as raw argument bytes (name first).
pub(crate) type Args = Vec<Vec<u8>>;

/// Decodes `%XX` escapes; invalid escapes are kept literally.
pub(crate) fn percent_decode(input: &str) -> Vec<u8> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Query parameters as decoded `(name, value)` pairs, `_token` included.
pub(crate) fn query_pairs(query: Option<&str>) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), Some(percent_decode(v))),
            None => (percent_decode(pair), None),
        })
        .collect()
}

/// The `_token` query parameter, if present.
pub(crate) fn query_token(pairs: &[(Vec<u8>, Option<Vec<u8>>)]) -> Option<&[u8]> {
    pairs
        .iter()
        .find(|(k, _)| k == b"_token")
        .and_then(|(_, v)| v.as_deref())
}

/// A path-style command: `/set/k/v` + body (last path-ish argument) +
/// query parameters (`?EX=100` → `EX 100`), `_token` excluded.
pub(crate) fn path_command(
    path: &str,
    body: &[u8],
    query: &[(Vec<u8>, Option<Vec<u8>>)],
) -> Result<Args, String> {
    let mut args: Args = path
        .trim_start_matches('/')
        .split('/')
        .map(percent_decode)
        .collect();
    // A trailing slash (`/get/k/`) is not an empty argument.
    if args.len() > 1 && args.last().is_some_and(Vec::is_empty) {
        args.pop();
    }
    if args.first().is_none_or(Vec::is_empty) {
        return Err("ERR empty command".into());
    }
    if !body.is_empty() {
        args.push(body.to_vec());
    }
    for (k, v) in query {
        if k == b"_token" {
            continue;
        }
        args.push(k.clone());
        if let Some(v) = v {
            args.push(v.clone());
        }
    }
    Ok(args)
}

/// Converts one JSON command (`["SET","k","v","EX",100]`) to arguments.
pub(crate) fn json_command(value: &serde_json::Value) -> Result<Args, String> {
    let serde_json::Value::Array(items) = value else {
        return Err("ERR failed to parse command: expected a JSON array".into());
    };
    if items.is_empty() {
        return Err("ERR empty command".into());
    }
    items
        .iter()
        .map(|item| match item {
            serde_json::Value::String(s) => Ok(s.as_bytes().to_vec()),
            serde_json::Value::Number(n) => Ok(n.to_string().into_bytes()),
            serde_json::Value::Bool(b) => Ok(b.to_string().into_bytes()),
            _ => Err("ERR failed to parse command: arguments must be strings or numbers".into()),
        })
        .collect()
}

/// Parses a `POST /` body: one JSON command.
pub(crate) fn body_command(body: &[u8]) -> Result<Args, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("ERR failed to parse command: {e}"))?;
    json_command(&value)
}

/// Parses a `/pipeline` or `/multi-exec` body: a JSON array of commands.
/// Each command parses independently so one bad entry fails alone.
pub(crate) fn body_commands(body: &[u8]) -> Result<Vec<Result<Args, String>>, String> {
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("ERR failed to parse pipeline request: {e}"))?;
    let serde_json::Value::Array(cmds) = value else {
        return Err("ERR failed to parse pipeline request: expected an array of commands".into());
    };
    if cmds.is_empty() {
        return Err("ERR empty pipeline".into());
    }
    Ok(cmds.iter().map(json_command).collect())
}

/// Commands that make no sense over a stateless REST connection or would
/// break the shared multiplexed Redis connection.
const FORBIDDEN: &[&str] = &[
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
    "MONITOR",
    "SYNC",
    "PSYNC",
    "QUIT",
    "RESET",
    "SELECT",
    "HELLO",
    "AUTH",
    "MULTI",
    "EXEC",
    "DISCARD",
    "WATCH",
    "UNWATCH",
    "CLIENT",
    "SHUTDOWN",
    "BLPOP",
    "BRPOP",
    "BLMOVE",
    "BRPOPLPUSH",
    "BZPOPMIN",
    "BZPOPMAX",
    "BLMPOP",
    "BZMPOP",
    "WAIT",
    "WAITAOF",
];

/// Rejects commands upstash-local does not allow.
pub(crate) fn check_allowed(args: &Args) -> Result<(), String> {
    let name = args.first().map(Vec::as_slice).unwrap_or_default();
    if FORBIDDEN
        .iter()
        .any(|f| f.as_bytes().eq_ignore_ascii_case(name))
    {
        return Err(format!(
            "ERR Command is not allowed: {}",
            String::from_utf8_lossy(name).to_ascii_lowercase()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(args: &Args) -> Vec<String> {
        args.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b"), b"a b");
        assert_eq!(percent_decode("%ff%00"), vec![0xff, 0]);
        assert_eq!(percent_decode("100%"), b"100%");
        assert_eq!(percent_decode("%zz%4"), b"%zz%4");
        assert_eq!(percent_decode("%41"), b"A");
    }

    #[test]
    fn path_style() {
        let q = query_pairs(Some("EX=100&_token=t&NX"));
        assert_eq!(query_token(&q), Some(&b"t"[..]));
        let args = path_command("/set/k/", b"value", &q).unwrap();
        assert_eq!(strs(&args), ["set", "k", "value", "EX", "100", "NX"]);
        assert!(path_command("/", b"", &[]).is_err());
    }

    #[test]
    fn json_commands() {
        let args = body_command(br#"["SET","k","v","EX",100,1.5]"#).unwrap();
        assert_eq!(strs(&args), ["SET", "k", "v", "EX", "100", "1.5"]);
        assert!(body_command(b"[]").is_err());
        assert!(body_command(b"{}").is_err());
        assert!(body_command(br#"["GET",["x"]]"#).is_err());
        assert!(body_command(b"not json").is_err());
        let many = body_commands(br#"[["GET","a"],"bad",["PING"]]"#).unwrap();
        assert!(many[0].is_ok() && many[1].is_err() && many[2].is_ok());
        assert!(body_commands(b"[]").is_err());
    }

    #[test]
    fn forbidden() {
        assert!(check_allowed(&vec![b"subscribe".to_vec()]).is_err());
        assert!(check_allowed(&vec![b"GET".to_vec()]).is_ok());
    }
}
