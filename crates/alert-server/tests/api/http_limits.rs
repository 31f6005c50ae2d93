//! The HTTP server's limits seen from raw sockets: a body over `http.max_body_bytes` is answered
//! with a 413 the client reads, silent clients are dropped after `http.header_read_timeout_ms`,
//! and `http.max_connections` bounds the connections served at once.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TestServer, SETTLE, WAIT};

const TWO_MIB: usize = 2 * 1024 * 1024;

async fn connect(server: &TestServer) -> TcpStream {
    let addr = server.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connects")
}

/// Reads until the peer closes (at most [`WAIT`]); the bytes read, even when the connection
/// ends with a reset after them.
async fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => panic!(
                "connection still open after {WAIT:?}; read so far: {}",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Status and JSON body of a raw HTTP/1.1 answer (not chunked).
fn parse_answer(raw: &[u8]) -> (u16, String, Value) {
    let text = String::from_utf8_lossy(raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {head:?}"));
    let json = serde_json::from_str(body).unwrap_or(Value::Null);
    (status, head.to_owned(), json)
}

fn post_head(length: usize) -> String {
    format!(
        "POST /api/v1/events HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    )
}

/// A connection whose send buffer is small and fixed: a body much larger than it can only be
/// written as fast as the server reads it (loopback buffers would otherwise take megabytes).
async fn connect_small_buffers(server: &TestServer) -> TcpStream {
    let addr = server.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_send_buffer_size(32 * 1024).unwrap();
    socket.set_recv_buffer_size(32 * 1024).unwrap();
    socket.connect(addr).await.expect("connects")
}

#[tokio::test]
async fn a_client_that_writes_a_2_mib_body_first_reads_the_413() {
    let server = TestServer::start().await;
    let mut stream = connect_small_buffers(&server).await;
    stream
        .write_all(post_head(TWO_MIB).as_bytes())
        .await
        .unwrap();
    // The whole body, before reading anything: the write only completes if the server reads it.
    let body = vec![b' '; TWO_MIB];
    tokio::time::timeout(WAIT, stream.write_all(&body))
        .await
        .expect("the server takes the whole body")
        .expect("the body is written without a reset");
    let raw = read_until_closed(&mut stream).await;
    let (status, head, json) = parse_answer(&raw);
    assert_eq!(status, 413, "{head}");
    assert!(
        head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    assert_eq!(json["error"]["code"], "payload_too_large", "{json}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("1048576") && message.contains("http.max_body_bytes"),
        "{message}"
    );
    // The server still serves.
    server.get("/healthz").await.expect(200);
}

#[tokio::test]
async fn the_body_limit_is_configurable_and_a_body_within_it_is_served() {
    let server = TestServer::start_with(|c| c.http.max_body_bytes = 64).await;
    let small = crate::common::job_event("j-1", "small", "FAILED", "");
    let bytes = serde_json::to_vec(&small).unwrap();
    assert!(bytes.len() > 64);
    let res = server
        .raw(
            reqwest::Method::POST,
            "/api/v1/events",
            Some(("application/json", bytes)),
            None,
        )
        .await;
    res.expect_error(413, "payload_too_large", None);
    assert!(res.text.contains("64 bytes"), "{}", res.text);

    let server = TestServer::start().await;
    server.event(&small).await.expect(202);
}

#[tokio::test]
async fn a_chunked_body_over_the_limit_is_a_413_in_the_api_shape() {
    // A short header read timeout closes the connection once the answer is out.
    let server = TestServer::start_with(|c| {
        c.http.max_body_bytes = 1024;
        c.http.header_read_timeout_ms = 500;
    })
    .await;
    let mut stream = connect(&server).await;
    let head = "POST /api/v1/events HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 2048];
    stream
        .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
        .await
        .unwrap();
    stream.write_all(&chunk).await.unwrap();
    stream.write_all(b"\r\n0\r\n\r\n").await.unwrap();
    let raw = read_until_closed(&mut stream).await;
    let (status, head, json) = parse_answer(&raw);
    assert_eq!(status, 413, "{head}");
    assert_eq!(json["error"]["code"], "payload_too_large", "{json}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("1024")),
        "{json}"
    );
}

#[tokio::test]
async fn a_silent_client_is_disconnected_after_the_header_read_timeout() {
    let timeout = Duration::from_millis(400);
    let server =
        TestServer::start_with(|c| c.http.header_read_timeout_ms = timeout.as_millis() as u64)
            .await;

    // Nothing at all.
    let started = Instant::now();
    let mut silent = connect(&server).await;
    read_until_closed(&mut silent).await;
    let waited = started.elapsed();
    assert!(
        waited >= timeout - Duration::from_millis(50),
        "closed after {waited:?}, before the timeout"
    );

    // Half a request head.
    let started = Instant::now();
    let mut half = connect(&server).await;
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .unwrap();
    let raw = read_until_closed(&mut half).await;
    let waited = started.elapsed();
    assert!(
        waited >= timeout - Duration::from_millis(50),
        "closed after {waited:?}, before the timeout"
    );
    assert!(
        !String::from_utf8_lossy(&raw).contains(" 200 "),
        "a half request was served: {}",
        String::from_utf8_lossy(&raw)
    );

    // A kept-alive connection idle after its answer is closed too.
    let mut idle = connect(&server).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let raw = read_until_closed(&mut idle).await;
    assert!(
        String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let server = TestServer::start_with(|c| {
        c.http.max_connections = 2;
        c.http.header_read_timeout_ms = 60_000;
    })
    .await;
    let held = [connect(&server).await, connect(&server).await];
    // Let the server accept both.
    tokio::time::sleep(SETTLE).await;

    let mut third = connect(&server).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    assert!(
        early.is_err(),
        "the third connection was answered while two were held: {early:?}"
    );

    drop(held);
    let raw = read_until_closed(&mut third).await;
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn shutdown_closes_idle_and_silent_connections_at_once() {
    let mut server = TestServer::start_with(|c| c.http.header_read_timeout_ms = 60_000).await;
    let mut silent = connect(&server).await;
    let mut kept = connect(&server).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 512];
    let n = kept.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    tokio::time::sleep(SETTLE).await;

    let started = Instant::now();
    tokio::time::timeout(WAIT, server.stop())
        .await
        .expect("shutdown does not wait for idle connections");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(read_until_closed(&mut silent).await.is_empty());
    read_until_closed(&mut kept).await;
}
