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

/// `IN_FLIGHT` tasks, each making `PER_TASK` requests one after the other with `request`.
fn in_flight<F, R>(rt: &tokio::runtime::Runtime, url: &Url, request: F)
where
    F: Fn(Url) -> R + Clone + Send + 'static,
    R: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..IN_FLIGHT {
            let (request, url) = (request.clone(), url.clone());
            tasks.spawn(async move {
                for _ in 0..PER_TASK {
                    request(url.clone()).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    });
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
            let ours = ours.clone();
            in_flight(&rt, &url, move |url| {
                let client = ours.clone();
                async move {
                    let _: Value = client.post_json(&url, BODY.to_vec()).await.unwrap();
                }
            })
        });
    });
    group.bench_function("reqwest", |b| {
        b.iter(|| {
            let reqwest = reqwest.clone();
            in_flight(&rt, &url, move |url| {
                let request = reqwest
                    .post(url)
                    .header("content-type", "application/json")
                    .body(BODY.to_vec());
                async move {
                    let _: Value = send_json(request).await.unwrap();
                }
            })
        });
    });
    group.finish();
}

criterion_group!(benches, clients);
criterion_main!(benches);
