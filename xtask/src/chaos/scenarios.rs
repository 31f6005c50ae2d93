//! The scenarios of `cargo xtask chaos`, each bounded in time.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use serde_json::Value;

use super::{event, Outcome, Rig};

/// Every scenario, in the order they run.
pub(super) const ALL: &[&str] = &[
    "storm",
    "kill9",
    "hanging-channel",
    "idle-clients",
    "oversize",
    "pg-cut",
    "disk-full",
];

/// Runs scenario `name` with its files in `dir`.
pub(super) async fn run(name: &str, bin: &Path, dir: &Path) -> Result<Outcome> {
    match name {
        "storm" => storm(bin, dir).await,
        "kill9" => kill9(bin, dir).await,
        "hanging-channel" => hanging_channel(bin, dir).await,
        "idle-clients" => idle_clients(bin, dir).await,
        "oversize" => oversize(bin, dir).await,
        "pg-cut" => super::faults::pg_cut(bin, dir).await,
        "disk-full" => super::faults::disk_full(bin, dir).await,
        other => bail!("unknown scenario {other}; one of {ALL:?}"),
    }
}

/// Posts events `range` as arrays of up to 1,000; the numbers answered 202.
async fn post_batches(
    rig: &Rig,
    range: std::ops::Range<usize>,
    size: usize,
) -> Result<BTreeSet<usize>> {
    let mut accepted = BTreeSet::new();
    let numbers: Vec<usize> = range.collect();
    for chunk in numbers.chunks(size) {
        let body = Value::Array(chunk.iter().map(|&n| event(n)).collect());
        let r = rig
            .client
            .post(format!("{}/api/v1/events", rig.server.base))
            .json(&body)
            .send()
            .await?;
        ensure!(
            r.status().as_u16() == 202,
            "a batch was answered {}",
            r.status()
        );
        accepted.extend(chunk);
    }
    Ok(accepted)
}

async fn storm(bin: &Path, dir: &Path) -> Result<Outcome> {
    const EVENTS: usize = 1000;
    let rig = Rig::start(bin, dir, 20, &[]).await?;
    let started = Instant::now();
    let answered = post_batches(&rig, 0..EVENTS, 1000).await?;
    rig.wait_named(&answered, Duration::from_secs(300)).await;
    let took = started.elapsed();
    let largest = rig.seen.largest.load(Ordering::Relaxed);
    ensure!(
        largest <= 20_000,
        "a message of {largest} bytes is over DingTalk's limit"
    );
    let messages = rig.seen.messages.load(Ordering::Relaxed);
    Ok(rig.outcome(
        "storm: 1,000 job changes, one robot of 20/min",
        &answered,
        took,
        format!("every job named in {messages} messages (largest {largest} bytes)"),
    ))
}

async fn kill9(bin: &Path, dir: &Path) -> Result<Outcome> {
    const EVENTS: usize = 3000;
    // A short lease: what the killed process had claimed is sent again within seconds.
    let mut rig = Rig::start(bin, dir, 0, &[("FLINK_ALERT_DELIVERY__LEASE_SECS", "3")]).await?;
    let answered = Arc::new(Mutex::new(BTreeSet::new()));
    let refused = Arc::new(Mutex::new(0_usize));
    let poster = {
        let (client, base) = (rig.client.clone(), rig.server.base.clone());
        let (answered, refused) = (Arc::clone(&answered), Arc::clone(&refused));
        tokio::spawn(async move {
            for n in 0..EVENTS {
                let r = client
                    .post(format!("{base}/api/v1/events"))
                    .json(&event(n))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 202 => {
                        answered.lock().expect("not poisoned").insert(n);
                    }
                    _ => {
                        *refused.lock().expect("not poisoned") += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        })
    };
    // Kill it in the middle of the storm.
    while answered.lock().expect("not poisoned").len() < EVENTS / 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let down = rig.crash_and_restart().await?;
    let back = Instant::now();
    poster.await?;
    let answered = answered.lock().expect("not poisoned").clone();
    rig.wait_named(&answered, Duration::from_secs(120)).await;
    let took = back.elapsed();
    let refused = *refused.lock().expect("not poisoned");
    Ok(rig.outcome(
        "kill -9 of the server mid-storm",
        &answered,
        took,
        format!(
            "SIGKILL after {} events; back in {:.1} s; {refused} requests refused while down (not answered 202: the client retries)",
            EVENTS / 3,
            down.as_secs_f64()
        ),
    ))
}

async fn hanging_channel(bin: &Path, dir: &Path) -> Result<Outcome> {
    const EVENTS: usize = 200;
    let rig = Rig::start(
        bin,
        dir,
        0,
        &[
            ("FLINK_ALERT_DELIVERY__SEND_TIMEOUT_SECS", "2"),
            ("FLINK_ALERT_DELIVERY__BACKOFF_MIN_MS", "200"),
            ("FLINK_ALERT_DELIVERY__BACKOFF_MAX_MS", "2000"),
        ],
    )
    .await?;
    rig.seen.hang.store(true, Ordering::Relaxed);
    let answered = post_batches(&rig, 0..EVENTS, 100).await?;
    tokio::time::sleep(Duration::from_secs(15)).await;
    let during = rig.seen.named(&answered);
    rig.seen.hang.store(false, Ordering::Relaxed);
    let took = rig.wait_named(&answered, Duration::from_secs(120)).await;
    Ok(rig.outcome(
        "a channel that accepts and never answers (15 s)",
        &answered,
        took,
        format!("{during} delivered while it hung; the rest retried after each 2 s send timeout"),
    ))
}

async fn idle_clients(bin: &Path, dir: &Path) -> Result<Outcome> {
    const SLOTS: usize = 32;
    let rig = Rig::start(
        bin,
        dir,
        0,
        &[
            ("FLINK_ALERT_HTTP__MAX_CONNECTIONS", "32"),
            ("FLINK_ALERT_HTTP__HEADER_READ_TIMEOUT_MS", "1000"),
        ],
    )
    .await?;
    let addr = rig.server.base.trim_start_matches("http://").to_owned();
    // Every slot taken by a client that connects and sends half a request line, then nothing.
    let mut idle = Vec::new();
    for _ in 0..SLOTS * 2 {
        let mut s = std::net::TcpStream::connect(&addr)?;
        s.write_all(b"POST /api/v1/ev")?;
        idle.push(s);
    }
    // A new client (no pooled connection from the setup).
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()?;
    let started = Instant::now();
    let r = fresh
        .post(format!("{}/api/v1/events", rig.server.base))
        .json(&event(0))
        .send()
        .await?;
    ensure!(r.status().as_u16() == 202, "answered {}", r.status());
    let served_after = started.elapsed();
    let answered = BTreeSet::from([0]);
    ensure!(
        served_after < Duration::from_secs(5),
        "a new client waited {served_after:?} behind idle ones"
    );
    let took = rig.wait_named(&answered, Duration::from_secs(30)).await;
    drop(idle);
    Ok(rig.outcome(
        "64 idle clients on 32 connection slots",
        &answered,
        served_after.max(took),
        format!(
            "a new request was served after {:.1} s (idle connections closed by the 1 s header timeout)",
            served_after.as_secs_f64()
        ),
    ))
}

async fn oversize(bin: &Path, dir: &Path) -> Result<Outcome> {
    let rig = Rig::start(bin, dir, 0, &[]).await?;
    let addr = rig.server.base.trim_start_matches("http://").to_owned();
    let status = tokio::task::spawn_blocking(move || -> Result<String> {
        let mut s = std::net::TcpStream::connect(&addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        let body = vec![b'x'; 2 * 1024 * 1024];
        write!(
            s,
            "POST /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )?;
        s.write_all(&body)?;
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        Ok(answer.lines().next().unwrap_or_default().to_owned())
    })
    .await??;
    ensure!(
        status.contains(" 413 "),
        "the client read {status:?}, not a 413"
    );
    // Still serving after it.
    let answered = post_batches(&rig, 0..1, 1).await?;
    let took = rig.wait_named(&answered, Duration::from_secs(30)).await;
    Ok(rig.outcome(
        "a 2 MiB body (limit 1 MiB), written whole before reading",
        &answered,
        took,
        format!("the client read `{status}`; the next event was delivered"),
    ))
}
