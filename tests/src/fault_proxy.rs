//! A TCP fault proxy: sits between a client and a real server and produces
//! real network faults on demand, switchable while a test runs.
//!
//! Changing the mode drops every open connection, so pooled keep-alive
//! connections see the new behaviour at once (the dependency "dies" or
//! "comes back").

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// What the proxy does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forward both ways.
    Pass,
    /// Accept and reset at once (as close to "connection refused" as a listening port gets).
    Refuse,
    /// Accept and never answer.
    Blackhole,
    /// Forward, but hold every request this long first.
    Delay(Duration),
    /// Forward the request, pass the first bytes of the response, then cut the connection.
    CutMidResponse,
    /// Answer every request with random bytes.
    Garbage,
    /// Answer every request with a well-formed `HTTP/1.1 500` and a JSON body.
    Http500,
}

/// A running fault proxy.
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    mode: watch::Sender<Fault>,
    accepted: Arc<Mutex<u64>>,
    task: JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies to `target`, starting in [`Fault::Pass`].
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fault proxy");
        let addr = listener.local_addr().expect("addr");
        let (mode, mut mode_rx) = watch::channel(Fault::Pass);
        let accepted = Arc::new(Mutex::new(0u64));
        let counter = accepted.clone();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    changed = mode_rx.changed() => {
                        if changed.is_err() { break; }
                        connections.abort_all();
                    }
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        *counter.lock().unwrap() += 1;
                        let fault = *mode_rx.borrow();
                        connections.spawn(handle(client, target, fault));
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
        FaultProxy {
            addr,
            mode,
            accepted,
            task,
        }
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the fault; open connections are dropped.
    pub fn set(&self, fault: Fault) {
        let _ = self.mode.send(fault);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        *self.accepted.lock().unwrap()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(mut client: TcpStream, target: SocketAddr, fault: Fault) {
    match fault {
        Fault::Pass => forward(client, target, None).await,
        Fault::Delay(delay) => forward(client, target, Some(delay)).await,
        Fault::Refuse => {
            reset(&client);
            drop(client);
        }
        Fault::Blackhole => {
            let mut sink = [0u8; 4096];
            while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
            std::future::pending::<()>().await;
        }
        Fault::Garbage => {
            let mut buf = [0u8; 8192];
            while let Ok(n) = client.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let junk: Vec<u8> = (0..512)
                    .map(|i| (i as u8).wrapping_mul(151).wrapping_add(7))
                    .collect();
                if client.write_all(&junk).await.is_err() {
                    break;
                }
            }
        }
        Fault::Http500 => {
            let mut buf = [0u8; 8192];
            while let Ok(n) = client.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let body = r#"{"error":"internal server error"}"#;
                let response = format!(
                    "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if client.write_all(response.as_bytes()).await.is_err() {
                    break;
                }
            }
        }
        Fault::CutMidResponse => {
            let Ok(mut server) = TcpStream::connect(target).await else {
                return;
            };
            let mut buf = [0u8; 65536];
            let Ok(n) = client.read(&mut buf).await else {
                return;
            };
            if n == 0 || server.write_all(&buf[..n]).await.is_err() {
                return;
            }
            let Ok(m) = server.read(&mut buf).await else {
                return;
            };
            let cut = m.min(20);
            let _ = client.write_all(&buf[..cut]).await;
            reset(&client);
        }
    }
}

/// Makes the coming close a TCP reset (SO_LINGER 0), which never blocks.
#[allow(deprecated)]
fn reset(stream: &TcpStream) {
    let _ = stream.set_linger(Some(Duration::ZERO));
}

async fn forward(mut client: TcpStream, target: SocketAddr, delay: Option<Duration>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    match delay {
        None => {
            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
        }
        Some(delay) => {
            let (mut client_read, mut client_write) = client.split();
            let (mut server_read, mut server_write) = server.split();
            let upstream = async {
                let mut buf = [0u8; 65536];
                loop {
                    let n = match client_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    tokio::time::sleep(delay).await;
                    if server_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            };
            let downstream = tokio::io::copy(&mut server_read, &mut client_write);
            tokio::select! {
                _ = upstream => {}
                _ = downstream => {}
            }
        }
    }
}
