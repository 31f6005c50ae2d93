//! The channel HTTP client against reqwest: 256 small JSON POSTs, 64 in flight, to a keep-alive
//! server on loopback in the same process (the server's share is the same for both, so the
//! difference is the clients'). `cargo bench -p alert-core --features http --bench http_client`.
#![allow(missing_docs)]

use std::time::Duration;

use alert_core::http::{build_client, send_json, HttpClient};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use url::Url;

const IN_FLIGHT: usize = 64;
const PER_TASK: usize = 4;
const BODY: &[u8] = br#"{"msgtype":"text","text":{"content":"job FAILED"}}"#;

/// A keep-alive HTTP/1.1 server answering DingTalk's success to every request (one read is
/// one request: the clients send each small request in one write).
async fn robot() -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/robot/send?access_token=t",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                    let reply = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 27\r\n\r\n{\"errcode\":0,\"errmsg\":\"ok\"}";
                    if socket.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Url::parse(&url).unwrap()
}

fn clients(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let url = rt.block_on(robot());
    let timeout = Duration::from_secs(10);
    let ours = HttpClient::new(timeout, None).unwrap();
    let reqwest = build_client(timeout, None).unwrap();

    let mut group = c.benchmark_group("channel_post_64_in_flight");
    group.throughput(Throughput::Elements((IN_FLIGHT * PER_TASK) as u64));
    group.bench_function("alert_core_http_client", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..IN_FLIGHT {
                    let (client, url) = (ours.clone(), url.clone());
                    tasks.spawn(async move {
                        for _ in 0..PER_TASK {
                            let _: Value = client.post_json(&url, BODY.to_vec()).await.unwrap();
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
            });
        });
    });
    group.bench_function("reqwest", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..IN_FLIGHT {
                    let (client, url) = (reqwest.clone(), url.clone());
                    tasks.spawn(async move {
                        for _ in 0..PER_TASK {
                            let request = client
                                .post(url.clone())
                                .header("content-type", "application/json")
                                .body(BODY.to_vec());
                            let _: Value = send_json(request).await.unwrap();
                        }
                    });
                }
                while tasks.join_next().await.is_some() {}
            });
        });
    });
    group.finish();
}

criterion_group!(benches, clients);
criterion_main!(benches);
