//! The `shared` Upstash client against an in-process upstash-local over the
//! real Redis.

use std::time::{Duration, Instant};

use bytes::Bytes;
use integration_tests::upstash::{
    SilentListener, TEST_TOKEN, client_config, redis_conn, refused_addr, start, unique_prefix,
};
use redis::AsyncCommands;
use shared::secret::Secret;
use shared::upstash::{Command, Reply, UpstashClient, UpstashConfig, UpstashError};

const TIMEOUT: Duration = Duration::from_secs(5);

fn get(key: &str) -> Command {
    Command::new("GET").arg(key)
}

fn bytes(reply: Reply) -> Vec<u8> {
    reply
        .into_bytes()
        .unwrap_or_else(|| panic!("not a string reply"))
        .to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_text_round_trips() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let k = format!("{}k", unique_prefix("client_utf8"));
    // Every code point below U+0800 (1- and 2-byte UTF-8, controls and NUL
    // included) plus 3- and 4-byte sequences.
    let mut text: String = (0u32..0x800).filter_map(char::from_u32).collect();
    text.push_str("€ 漢字 \u{FFFD} \u{10FFFF} 🦀 \"quotes\" \\ / OK");
    let set = client
        .command(&Command::new("SET").arg(&k).arg(&text))
        .await
        .unwrap();
    assert_eq!(set, Reply::Status("OK".into()));
    let got = client.command(&get(&k)).await.unwrap();
    assert_eq!(got.as_str(), Some(text.as_str()));
    client.command(&Command::new("DEL").arg(&k)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_values_round_trip() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let p = unique_prefix("client_binary");
    let all_bytes: Vec<u8> = (0..=255u8).collect();

    // Written raw by Redis itself (redis crate, RESP), read through REST.
    let mut conn = redis_conn().await;
    let raw_key = format!("{p}raw");
    let () = conn.set(&raw_key, all_bytes.as_slice()).await.unwrap();
    let n: i64 = conn
        .append(&raw_key, &[0xff_u8, 0xfe, 0x00][..])
        .await
        .unwrap();
    assert_eq!(n, 259);
    let mut expected = all_bytes.clone();
    expected.extend_from_slice(&[0xff, 0xfe, 0x00]);
    assert_eq!(
        bytes(client.command(&get(&raw_key)).await.unwrap()),
        expected
    );

    // SETRANGE with a non-UTF-8 byte, through redis directly.
    let range_key = format!("{p}r");
    let () = conn.set(&range_key, "abc").await.unwrap();
    let _: i64 = conn.setrange(&range_key, 1, &[0x80_u8][..]).await.unwrap();
    let got = bytes(client.command(&get(&range_key)).await.unwrap());
    assert_eq!(got, vec![b'a', 0x80, b'c']);

    // Produced by a Lua script through the client.
    let script = "local t = {} for i = 0, 255 do t[#t + 1] = string.char(i) end \
                  redis.call('SET', KEYS[1], table.concat(t)) return redis.call('GET', KEYS[1])";
    let lua_key = format!("{p}lua");
    let reply = client
        .command(&Command::new("EVAL").arg(script).arg(1).arg(&lua_key))
        .await
        .unwrap();
    assert_eq!(bytes(reply), all_bytes);
    let stored: Vec<u8> = conn.get(&lua_key).await.unwrap();
    assert_eq!(stored, all_bytes);

    // Inside arrays too.
    let mget = client
        .command(&Command::new("MGET").arg(&lua_key).arg(format!("{p}none")))
        .await
        .unwrap();
    assert_eq!(
        mget,
        Reply::Array(vec![Reply::Bytes(Bytes::from(all_bytes)), Reply::Nil])
    );
    let _: i64 = conn.del(&[&raw_key, &lua_key, &range_key]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_values() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, Duration::from_secs(20))).unwrap();
    let k = format!("{}big", unique_prefix("client_large"));
    let value: String = (0..1_500_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    client
        .command(&Command::new("SET").arg(&k).arg(&value))
        .await
        .unwrap();
    let got = client.command(&get(&k)).await.unwrap();
    assert_eq!(got.as_bytes().map(<[u8]>::len), Some(value.len()));
    assert_eq!(got.as_str(), Some(value.as_str()));
    let len = client.command(&Command::new("STRLEN").arg(&k)).await;
    assert_eq!(len, Ok(Reply::Int(1_500_000)));
    client.command(&Command::new("DEL").arg(&k)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let k = format!("{}ttl", unique_prefix("client_ttl"));
    client
        .command(&Command::new("SET").arg(&k).arg("v").arg("EX").arg(1))
        .await
        .unwrap();
    let ttl = client.command(&Command::new("PTTL").arg(&k)).await.unwrap();
    let ttl = ttl.as_int().unwrap();
    assert!((1..=1000).contains(&ttl), "{ttl}");
    // Generous upper bound: the key must be gone within 5 s.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if client.command(&get(&k)).await.unwrap().is_nil() {
            break;
        }
        assert!(Instant::now() < deadline, "key did not expire");
    }
    assert_eq!(
        client.command(&Command::new("EXISTS").arg(&k)).await,
        Ok(Reply::Int(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_shapes_and_numeric_args() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let p = unique_prefix("client_shapes");
    let (n, z, f) = (format!("{p}n"), format!("{p}z"), format!("{p}f"));
    assert_eq!(
        client
            .command(&Command::new("INCRBY").arg(&n).arg(41_i64))
            .await,
        Ok(Reply::Int(41))
    );
    assert_eq!(
        client.command(&Command::new("INCR").arg(&n)).await,
        Ok(Reply::Int(42))
    );
    let fl = client
        .command(&Command::new("INCRBYFLOAT").arg(&f).arg(2.5_f64))
        .await
        .unwrap();
    assert_eq!(fl.as_str(), Some("2.5"));
    client
        .command(
            &Command::new("ZADD")
                .arg(&z)
                .arg(1.5_f64)
                .arg("a")
                .arg(3_u64)
                .arg("b"),
        )
        .await
        .unwrap();
    let range = client
        .command(
            &Command::new("ZREVRANGE")
                .arg(&z)
                .arg(0)
                .arg(-1)
                .arg("WITHSCORES"),
        )
        .await
        .unwrap()
        .into_array()
        .unwrap();
    let strs: Vec<&str> = range.iter().map(|r| r.as_str().unwrap()).collect();
    assert_eq!(strs, ["b", "3", "a", "1.5"]);
    // PING's status is not "OK", so it arrives base64-encoded → Bytes.
    assert_eq!(
        client.command(&Command::new("PING")).await,
        Ok(Reply::Bytes(Bytes::from_static(b"PONG")))
    );
    assert_eq!(
        client
            .command(&Command::new("DEL").arg(&n).arg(&z).arg(&f))
            .await,
        Ok(Reply::Int(3))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_errors() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let k = format!("{}list", unique_prefix("client_errors"));
    client
        .command(&Command::new("LPUSH").arg(&k).arg("x"))
        .await
        .unwrap();
    match client.command(&get(&k)).await {
        Err(UpstashError::Command(msg)) => assert!(msg.starts_with("WRONGTYPE"), "{msg}"),
        other => panic!("expected a command error, got {other:?}"),
    }
    match client.command(&Command::new("NOSUCH")).await {
        Err(UpstashError::Command(msg)) => assert!(msg.starts_with("ERR unknown command"), "{msg}"),
        other => panic!("expected a command error, got {other:?}"),
    }
    client.command(&Command::new("DEL").arg(&k)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_with_a_failing_command() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let k = format!("{}k", unique_prefix("client_pipeline"));
    let before = client.requests_sent();
    let results = client
        .pipeline(&[
            Command::new("SET").arg(&k).arg("1"),
            Command::new("LPUSH").arg(&k).arg("x"),
            Command::new("INCR").arg(&k),
            get(&k),
        ])
        .await
        .unwrap();
    assert_eq!(client.requests_sent(), before + 1);
    assert_eq!(results.len(), 4);
    assert_eq!(results[0], Ok(Reply::Status("OK".into())));
    assert!(matches!(&results[1], Err(UpstashError::Command(m)) if m.starts_with("WRONGTYPE")));
    assert_eq!(results[2], Ok(Reply::Int(2)));
    assert_eq!(results[3], Ok(Reply::Bytes(Bytes::from_static(b"2"))));
    client.command(&Command::new("DEL").arg(&k)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let p = unique_prefix("client_tx");
    let (k, untouched) = (format!("{p}k"), format!("{p}untouched"));
    let results = client
        .transaction(&[
            Command::new("SET").arg(&k).arg("10"),
            Command::new("INCRBY").arg(&k).arg(5),
            get(&k),
        ])
        .await
        .unwrap();
    assert_eq!(
        results,
        vec![
            Ok(Reply::Status("OK".into())),
            Ok(Reply::Int(15)),
            Ok(Reply::Bytes(Bytes::from_static(b"15")))
        ]
    );
    // Discarded as a whole: outer error, nothing applied.
    let discarded = client
        .transaction(&[
            Command::new("SET").arg(&untouched).arg("1"),
            Command::new("INCR"),
        ])
        .await;
    assert!(
        matches!(&discarded, Err(UpstashError::Command(m)) if m.contains("wrong number of arguments")),
        "{discarded:?}"
    );
    assert_eq!(
        client
            .command(&Command::new("EXISTS").arg(&untouched))
            .await,
        Ok(Reply::Int(0))
    );
    client.command(&Command::new("DEL").arg(&k)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_token_is_unauthorized() {
    let server = start().await;
    let mut config = client_config(&server, TIMEOUT);
    config.token = Secret::from("wrong-token".to_string());
    let client = UpstashClient::new(&config).unwrap();
    assert_eq!(
        client.command(&get("x")).await,
        Err(UpstashError::Unauthorized)
    );
    assert_eq!(
        client.pipeline(&[get("x")]).await,
        Err(UpstashError::Unauthorized)
    );
    assert_eq!(server.stats().redis_commands, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_against_a_silent_server() {
    let silent = SilentListener::start().await;
    let client = UpstashClient::new(&UpstashConfig {
        url: format!("http://{}", silent.addr),
        token: Secret::from(TEST_TOKEN.to_string()),
        timeout: Duration::from_millis(100),
    })
    .unwrap();
    for cmd in [get("k"), Command::new("SET").arg("k").arg("v")] {
        let started = Instant::now();
        let result = client.command(&cmd).await;
        let elapsed = started.elapsed();
        assert_eq!(result, Err(UpstashError::Timeout));
        assert!(elapsed < Duration::from_secs(1), "took {elapsed:?}");
    }
    let started = Instant::now();
    assert_eq!(
        client.pipeline(&[get("k")]).await,
        Err(UpstashError::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_error_against_a_refused_port() {
    let addr = refused_addr().await;
    let client = UpstashClient::new(&UpstashConfig {
        url: format!("http://{addr}"),
        token: Secret::from(TEST_TOKEN.to_string()),
        timeout: Duration::from_secs(2),
    })
    .unwrap();
    let started = Instant::now();
    assert_eq!(client.command(&get("k")).await, Err(UpstashError::Connect));
    assert_eq!(
        client.transaction(&[get("k")]).await,
        Err(UpstashError::Connect)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_never_in_debug_output() {
    let server = start().await;
    let config = client_config(&server, TIMEOUT);
    let client = UpstashClient::new(&config).unwrap();
    let mut outputs = vec![format!("{config:?}"), format!("{client:?}")];
    // Real errors from real failures, plus every variant.
    let mut wrong = config.clone();
    wrong.token = Secret::from(format!("{TEST_TOKEN}-wrong"));
    let errs = [
        UpstashClient::new(&wrong)
            .unwrap()
            .command(&get("x"))
            .await
            .unwrap_err(),
        client.command(&Command::new("NOSUCH")).await.unwrap_err(),
        UpstashError::Http(500),
        UpstashError::Timeout,
        UpstashError::Connect,
        UpstashError::Decode("x".into()),
        UpstashError::Build("x".into()),
    ];
    for e in &errs {
        outputs.push(format!("{e:?}"));
        outputs.push(e.to_string());
    }
    for out in outputs {
        assert!(!out.contains(TEST_TOKEN), "token leaked in {out}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_sent_matches_the_server() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let k = format!("{}k", unique_prefix("client_count"));
    server.reset_stats();
    assert_eq!(client.requests_sent(), 0);
    // A cache hit costs exactly one REST request and one Redis command.
    client.command(&get(&k)).await.unwrap();
    assert_eq!(client.requests_sent(), 1);
    assert_eq!(server.stats().requests, 1);
    assert_eq!(server.stats().redis_commands, 1);
    client
        .pipeline(&[Command::new("SET").arg(&k).arg("1"), get(&k)])
        .await
        .unwrap();
    client.transaction(&[get(&k), get(&k)]).await.unwrap();
    let clone = client.clone();
    clone.command(&get(&k)).await.unwrap();
    assert_eq!(client.requests_sent(), 4);
    assert_eq!(server.stats().requests, 4);
    assert_eq!(server.stats().redis_commands, 6);
    client.command(&Command::new("DEL").arg(&k)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_token_is_sent_back() {
    let server = start().await;
    let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
    let k = format!("{}k", unique_prefix("client_sync"));
    assert_eq!(client.sync_token(), None);
    client
        .command(&Command::new("SET").arg(&k).arg("v"))
        .await
        .unwrap();
    let token = client.sync_token().expect("token remembered");
    assert_eq!(server.stats().sync_tokens_received, 0);
    client.command(&get(&k)).await.unwrap();
    assert_eq!(server.stats().sync_tokens_received, 1);
    assert_eq!(server.last_sync_token_received(), Some(token));
    // And the newest one is sent next time.
    let newer = client.sync_token().unwrap();
    client.pipeline(&[get(&k)]).await.unwrap();
    assert_eq!(server.last_sync_token_received(), Some(newer));
    client.command(&Command::new("DEL").arg(&k)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients() {
    let server = start().await;
    let p = unique_prefix("client_concurrent");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = UpstashClient::new(&client_config(&server, TIMEOUT)).unwrap();
        let k = format!("{p}{i}");
        tasks.push(tokio::spawn(async move {
            for j in 0..10_i64 {
                client
                    .command(&Command::new("SET").arg(&k).arg(j))
                    .await
                    .unwrap();
                let got = client.command(&get(&k)).await.unwrap();
                assert_eq!(got.as_int(), Some(j));
            }
            client.command(&Command::new("DEL").arg(&k)).await.unwrap();
            client.requests_sent()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 21);
    }
}
