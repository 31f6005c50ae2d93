//! The load itself: configuration through the API, then phase A (throughput) and phase B
//! (latency on a fixed schedule), measured into a [`Report`].

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::args::LoadArgs;
use super::mock::{job_id, Mock, Recorder};
use super::procfs::{busiest_threads, loadavg, memory, CpuSnap};
use super::report::{timeline, Report};
use super::server::Server;
use super::{CONFIG_SPREAD, IDLE_WAIT, PHASE_B_IN_FLIGHT, REQUEST_TIMEOUT, SETTLE};
use crate::proc::{thread_cpu, USER_HZ};

/// One event POST: `Ok` on 202, else why.
async fn post_event(client: &reqwest::Client, url: &str, n: usize) -> Result<(), String> {
    let body = json!({
        "job_id": job_id(n),
        "job_name": "loadtest",
        "cluster": "loopback",
        "status": "FAILED",
        "previous_status": "RUNNING",
        "error": "java.lang.RuntimeException: load test",
    });
    let answer = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| e.to_string())?;
    if status == reqwest::StatusCode::ACCEPTED {
        Ok(())
    } else {
        Err(format!("{status}: {text}"))
    }
}

/// POSTs JSON to the API and returns the answer's `id`.
async fn create(client: &reqwest::Client, url: &str, body: Value) -> Result<i64> {
    let answer = client.post(url).json(&body).send().await?;
    let status = answer.status();
    let text = answer.text().await?;
    ensure!(status.is_success(), "POST {url}: {status}: {text}");
    let value: Value = serde_json::from_str(&text)?;
    value["id"]
        .as_i64()
        .with_context(|| format!("POST {url}: no id in {text}"))
}

pub(super) async fn drive(
    quiet: String,
    args: &LoadArgs,
    servers: &mut [Server],
    mock: &Mock,
    recorder: &Arc<Recorder>,
    db: Option<&str>,
) -> Result<Report> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    for server in servers.iter_mut() {
        server.wait_healthy(&client).await?;
    }
    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let mut report = Report {
        quiet,
        loadavg: loadavg(),
        rss_start: pids.iter().map(|&p| memory(p)).collect::<Result<_>>()?,
        ..Report::default()
    };

    // Configuration through the first replica.
    let api = format!("{}/api/v1", servers[0].base);
    let mut ids = Vec::new();
    for k in 0..args.instances {
        let body = json!({
            "name": format!("load-robot-{k}"),
            "kind": "dingtalk",
            "params": {"webhook": mock.webhook(k)},
            "rate_per_minute": 0,
        });
        ids.push(create(&client, &format!("{api}/instances"), body).await?);
    }
    let group = create(
        &client,
        &format!("{api}/groups"),
        json!({"name": "load", "instance_ids": ids}),
    )
    .await?;
    create(
        &client,
        &format!("{api}/bindings"),
        json!({"job": "*", "group_id": group}),
    )
    .await?;
    if servers.len() > 1 {
        tokio::time::sleep(CONFIG_SPREAD).await;
    }
    // Event i goes to replica i mod R.
    let events_urls: Arc<Vec<String>> = Arc::new(
        servers
            .iter()
            .map(|s| format!("{}/api/v1/events", s.base))
            .collect(),
    );
    let drain = Duration::from_secs(args.drain_timeout_secs);
    let k = usize::try_from(args.instances)?;

    // Phase A: throughput.
    let n = usize::try_from(args.events)?;
    eprintln!(
        "phase A: {n} events, {} in flight, {k} instances",
        args.concurrency
    );
    let cpu0 = CpuSnap::now(&pids, mock, db);
    let threads0 = thread_cpu(&pids, USER_HZ);
    let start_ns = recorder.now_ns();
    let started = Instant::now();
    let permits = Arc::new(Semaphore::new(usize::try_from(args.concurrency)?));
    let mut posts = JoinSet::new();
    let mut rejected = 0;
    let mut first_error = None;
    let mut tally = |r: Result<Result<(), String>, tokio::task::JoinError>| {
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            rejected += 1;
            first_error.get_or_insert(e);
        }
    };
    let acks = Arc::new(Mutex::new(Vec::with_capacity(n)));
    for i in 0..n {
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let (client, urls, rec, acks) = (
            client.clone(),
            Arc::clone(&events_urls),
            Arc::clone(recorder),
            Arc::clone(&acks),
        );
        posts.spawn(async move {
            let r = post_event(&client, &urls[i % urls.len()], i).await;
            acks.lock().expect("not poisoned").push(rec.now_ns());
            drop(permit);
            r
        });
        while let Some(r) = posts.try_join_next() {
            tally(r);
        }
    }
    while let Some(r) = posts.join_next().await {
        tally(r);
    }
    report.a.accept = started.elapsed();
    report.a.rejected = rejected;
    report.a.first_error = first_error;
    report.a.complete = recorder.wait_filled(n * k, drain).await;
    let cpu1 = CpuSnap::now(&pids, mock, db);
    let threads1 = thread_cpu(&pids, USER_HZ);
    tokio::time::sleep(SETTLE).await;
    let slots = recorder.slots(0..n);
    let mut arrivals: Vec<u64> = slots
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| s.first_ns.saturating_sub(start_ns))
        .collect();
    arrivals.sort_unstable();
    let acks: Vec<u64> = acks
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|ns| ns.saturating_sub(start_ns))
        .collect();
    eprint!("{}", timeline("phase A", &acks, &arrivals));
    report.a.end_to_end = arrivals
        .last()
        .map_or(started.elapsed(), |&ns| Duration::from_nanos(ns));
    if arrivals.len() >= 10 {
        let at = |p: usize| arrivals[(arrivals.len() - 1) * p / 100];
        report.a.p10_p90 = Duration::from_nanos(at(90) - at(10));
    }
    if !arrivals.is_empty() {
        report.a.arrival_p99 = Duration::from_nanos(arrivals[(arrivals.len() - 1) * 99 / 100]);
    }
    report.a.missing = slots.iter().filter(|s| s.count == 0).count();
    report.a.duplicates = slots
        .iter()
        .map(|s| u64::from(s.count.saturating_sub(1)))
        .sum();
    report.a.cpu = cpu1.since(&cpu0);
    report.a.threads = busiest_threads(&threads0, &threads1, report.a.end_to_end);

    // Phase B: latency at a fixed rate.
    let m = usize::try_from(args.rate * args.duration_secs)?;
    eprintln!(
        "phase B: {} events/s for {} s ({m} events)",
        args.rate, args.duration_secs
    );
    let cpu0 = CpuSnap::now(&pids, mock, db);
    let threads0 = thread_cpu(&pids, USER_HZ);
    let period_ns = 1e9 / args.rate as f64;
    let permits = Arc::new(Semaphore::new(PHASE_B_IN_FLIGHT));
    let begin = tokio::time::Instant::now();
    let mut posts = JoinSet::new();
    let mut max_lag = Duration::ZERO;
    let timings = Arc::new(Mutex::new(vec![(0_u64, 0_u64); m]));
    let mut rejected = 0;
    let mut first_error = None;
    let mut tally = |r: Result<Result<(), String>, tokio::task::JoinError>| {
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            rejected += 1;
            first_error.get_or_insert(e);
        }
    };
    for j in 0..m {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let due = begin + Duration::from_nanos((j as f64 * period_ns) as u64);
        tokio::time::sleep_until(due).await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        max_lag = max_lag.max(tokio::time::Instant::now() - due);
        let (client, urls, rec, timings) = (
            client.clone(),
            Arc::clone(&events_urls),
            Arc::clone(recorder),
            Arc::clone(&timings),
        );
        posts.spawn(async move {
            let sent = rec.now_ns();
            let r = post_event(&client, &urls[(n + j) % urls.len()], n + j).await;
            let acked = rec.now_ns();
            timings.lock().expect("not poisoned")[j] = (sent, acked);
            drop(permit);
            r
        });
        while let Some(r) = posts.try_join_next() {
            tally(r);
        }
    }
    report.b.sending = begin.elapsed();
    while let Some(r) = posts.join_next().await {
        tally(r);
    }
    report.b.events = m;
    report.b.max_lag = max_lag;
    report.b.rejected = rejected;
    report.b.first_error = first_error;
    report.b.complete = recorder.wait_filled((n + m) * k, drain).await;
    report.b.wall = begin.elapsed();
    report.b.cpu = CpuSnap::now(&pids, mock, db).since(&cpu0);
    report.b.threads = busiest_threads(&threads0, &thread_cpu(&pids, USER_HZ), report.b.wall);
    tokio::time::sleep(SETTLE).await;
    let slots = recorder.slots(n..n + m);
    let timings = timings.lock().expect("not poisoned").clone();
    let ms = |ns: u64| ns as f64 / 1e6;
    for (j, &(sent, acked)) in timings.iter().enumerate() {
        for slot in &slots[j * k..(j + 1) * k] {
            if slot.count == 0 || sent == 0 {
                continue;
            }
            report
                .b
                .from_send
                .push(ms(slot.first_ns.saturating_sub(sent)));
            if slot.first_ns < acked {
                report.b.before_ack += 1;
            }
            report
                .b
                .from_ack
                .push(ms(slot.first_ns.saturating_sub(acked)));
        }
        if sent > 0 {
            report.b.post_rtt.push(ms(acked - sent));
        }
    }
    for v in [
        &mut report.b.from_send,
        &mut report.b.from_ack,
        &mut report.b.post_rtt,
    ] {
        v.sort_by(f64::total_cmp);
    }
    let b_start = timings
        .iter()
        .map(|t| t.0)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(0);
    let acks: Vec<u64> = timings
        .iter()
        .filter(|t| t.0 > 0)
        .map(|t| t.1.saturating_sub(b_start))
        .collect();
    let arrivals: Vec<u64> = slots
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| s.first_ns.saturating_sub(b_start))
        .collect();
    eprint!("{}", timeline("phase B", &acks, &arrivals));
    report.b.missing = slots.iter().filter(|s| s.count == 0).count();
    report.b.duplicates = slots
        .iter()
        .map(|s| u64::from(s.count.saturating_sub(1)))
        .sum();

    // Idle.
    let cpu0 = CpuSnap::now(&pids, mock, db);
    tokio::time::sleep(IDLE_WAIT).await;
    report.idle_cpu = CpuSnap::now(&pids, mock, db).since(&cpu0).servers;
    report.rss_idle = pids.iter().map(|&p| memory(p)).collect::<Result<_>>()?;
    report.requests = recorder.requests.load(Ordering::Relaxed);
    report.unmatched = recorder.unmatched.load(Ordering::Relaxed);
    Ok(report)
}
