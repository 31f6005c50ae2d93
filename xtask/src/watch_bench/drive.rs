//! The bench itself: configuration through the API, settling, then the measured window with
//! its flips, measured into a [`Report`].

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use super::args::BenchArgs;
use super::health::{ProblemKind, CONDITIONS};
use super::health_report::ProblemRow;
use super::mock::{MockState, Mocks};
use super::procfs::{busiest_threads, clock_ticks, memory, thread_cpu, Cpu};
use super::report::{mib, Report};
use super::rng::Rng;
use super::server::Server;
use super::{ARRIVAL_SLACK, IDLE_WAIT, REQUEST_TIMEOUT, RSS_EVERY, RSS_LOG_EVERY, SETTLE_SLACK};

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
    args: &BenchArgs,
    server: &mut Server,
    mocks: &Mocks,
    mock: &Arc<MockState>,
    seed: u64,
) -> Result<Report> {
    let (hz, hz_read) = clock_ticks();
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    server.wait_healthy(&client).await?;
    let mut report = Report {
        hz,
        hz_read,
        rss_start: memory(server.pid)?,
        ..Report::default()
    };

    // The idle server, nothing registered.
    let cpu0 = Cpu::now(server.pid, mocks, hz);
    tokio::time::sleep(IDLE_WAIT).await;
    report.idle_cpu = Cpu::now(server.pid, mocks, hz).since(cpu0).server;
    report.rss_idle = memory(server.pid)?;

    let api = format!("{}/api/v1", server.base);
    let instance = create(
        &client,
        &format!("{api}/instances"),
        json!({
            "name": "watch-bench-robot",
            "kind": "dingtalk",
            "params": {"webhook": format!("http://{}/robot/send?access_token=bench", mocks.robot)},
            "rate_per_minute": 0,
        }),
    )
    .await?;
    let group = create(
        &client,
        &format!("{api}/groups"),
        json!({"name": "watch-bench", "instance_ids": [instance]}),
    )
    .await?;
    let binding = if args.health {
        let statuses: Vec<&str> = ["FAILED", "CANCELED", "FINISHED", "UNKNOWN", "STOPPED"]
            .into_iter()
            .chain(CONDITIONS)
            .collect();
        json!({"job": "*", "group_id": group, "statuses": statuses})
    } else {
        json!({"job": "*", "group_id": group})
    };
    create(&client, &format!("{api}/bindings"), binding).await?;

    let n = usize::try_from(args.clusters)?;
    eprintln!(
        "registering {n} clusters × {} jobs, polled every {} ms",
        args.jobs, args.interval_ms
    );
    let registering = Instant::now();
    for c in 0..n {
        create(
            &client,
            &format!("{api}/clusters"),
            json!({
                "name": format!("bench-c{c:03}"),
                "url": format!("http://{}/c{c}", mocks.flink),
                "poll_interval_ms": args.interval_ms,
            }),
        )
        .await?;
    }
    report.register = registering.elapsed();

    // Settle: two intervals, and until every cluster was polled twice (baseline + one more).
    let settling = Instant::now();
    tokio::time::sleep(args.interval() * 2).await;
    let deadline = Instant::now() + SETTLE_SLACK;
    loop {
        server.ensure_running()?;
        let counts = mock.polls_per_cluster();
        let behind = counts.iter().filter(|&&k| k < 2).count();
        if behind == 0 {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "{behind} of {n} clusters were not polled twice within {:.0} s of registration",
                settling.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report.settle = settling.elapsed();

    // The window.
    let duration = Duration::from_secs(args.duration_s);
    eprintln!(
        "measuring for {} s with {} flips (settled in {:.1} s)",
        args.duration_s,
        args.flips,
        report.settle.as_secs_f64()
    );
    let mut rng = Rng(seed);
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, usize::try_from(rng.below(i as u64 + 1))?);
    }
    let slot = duration / args.flips;
    let schedule: Vec<Duration> = (0..args.flips)
        .map(|i| slot * i + slot.mul_f64(0.05 + 0.9 * rng.unit()))
        .collect();
    // `--health`: the problems, in their own slots, on clusters in another order.
    let problems = if args.health { args.problems } else { 0 };
    let pslot = duration / problems.max(1);
    let pschedule: Vec<Duration> = (0..problems)
        .map(|i| pslot * i + pslot.mul_f64(0.05 + 0.9 * rng.unit()))
        .collect();
    let mut porder: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        porder.swap(i, usize::try_from(rng.below(i as u64 + 1))?);
    }
    let mut next_problem = 0;
    let start_ns = mock.now_ns();
    report.window_start_ns = start_ns;
    let cpu0 = Cpu::now(server.pid, mocks, hz);
    let threads0 = thread_cpu(server.pid, hz);
    report.rss_first = memory(server.pid)?;
    let details0 = mock.details.load(Ordering::Relaxed);
    let begin = tokio::time::Instant::now();
    let end = begin + duration;
    let mut next_flip = 0;
    let mut next_rss = begin;
    let mut next_log = begin;
    loop {
        let due_flip = schedule.get(next_flip).map(|d| begin + *d);
        let due_problem = pschedule.get(next_problem).map(|d| begin + *d);
        let next = due_flip.map_or(next_rss, |f| f.min(next_rss)).min(end);
        let next = due_problem.map_or(next, |p| p.min(next));
        tokio::time::sleep_until(next).await;
        let now = tokio::time::Instant::now();
        if due_problem.is_some_and(|p| p <= now) {
            let kind = ProblemKind::ALL[next_problem % ProblemKind::ALL.len()];
            let injected = (0..n)
                .map(|k| porder[(next_problem + k) % n])
                .find_map(|c| mock.inject(kind, c, &mut rng));
            ensure!(injected.is_some(), "nowhere left to inject {kind:?}");
            next_problem += 1;
        }
        if due_flip.is_some_and(|f| f <= now) {
            let cluster = order[next_flip % n];
            let flipped = (0..n)
                .map(|k| order[(next_flip + k) % n])
                .find_map(|c| mock.flip(c, &mut rng));
            ensure!(flipped.is_some(), "no RUNNING job left to flip");
            if flipped
                .is_some_and(|i| mock.flips.lock().expect("not poisoned")[i].cluster != cluster)
            {
                eprintln!("cluster {cluster} had no RUNNING job left; flipped another");
            }
            next_flip += 1;
        }
        if next_rss <= now {
            let m = memory(server.pid)?;
            report.rss_max_sampled = report.rss_max_sampled.max(m.rss_kib);
            if next_log <= now {
                next_log += RSS_LOG_EVERY;
                eprintln!(
                    "  {:>5.1} s: server VmRSS {}, CPU {:.2} s so far",
                    (now - begin).as_secs_f64(),
                    mib(m.rss_kib),
                    Cpu::now(server.pid, mocks, hz).since(cpu0).server
                );
            }
            report.rss_samples += 1;
            next_rss += RSS_EVERY;
        }
        if now >= end {
            break;
        }
    }
    report.window = begin.elapsed();
    report.cpu = Cpu::now(server.pid, mocks, hz).since(cpu0);
    report.threads = busiest_threads(&threads0, &thread_cpu(server.pid, hz), report.window);
    report.rss_last = memory(server.pid)?;
    report.details = mock.details.load(Ordering::Relaxed) - details0;
    let end_ns = mock.now_ns();
    let polls: Vec<_> = mock
        .polls_since(start_ns)
        .into_iter()
        .filter(|p| p.1 < end_ns)
        .collect();
    report.polls = polls.len();
    let mut last: Vec<Option<u64>> = vec![None; n];
    let (mut gaps, mut gap_sum, mut gap_max) = (0_u32, 0_u64, 0_u64);
    for &(c, at) in &polls {
        if let Some(prev) = last[c] {
            gaps += 1;
            gap_sum += at - prev;
            gap_max = gap_max.max(at - prev);
        }
        last[c] = Some(at);
    }
    report.clusters_polled = last.iter().filter(|l| l.is_some()).count();
    report.gap_mean = Duration::from_nanos(gap_sum / u64::from(gaps.max(1)));
    report.gap_max = Duration::from_nanos(gap_max);

    // The last robot requests.
    let deadline = Instant::now() + args.interval() + ARRIVAL_SLACK;
    loop {
        let waiting = mock
            .flips
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|f| f.robot_ns.is_none())
            .count();
        if waiting == 0 || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if args.health {
        let deadline = Instant::now() + Duration::from_secs(args.health_wait_s);
        loop {
            let waiting = mock
                .problems
                .lock()
                .expect("not poisoned")
                .iter()
                .filter(|p| p.robot_ns.is_none())
                .count();
            if waiting == 0 || Instant::now() >= deadline {
                break;
            }
            if waiting > 0 {
                server.ensure_running()?;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Late duplicates would show up here.
    tokio::time::sleep(Duration::from_millis(500)).await;
    report.flips = mock.flips.lock().expect("not poisoned").clone();
    report.robot_requests = mock.robot_requests.load(Ordering::Relaxed);
    report.unexpected = mock.unexpected.lock().expect("not poisoned").clone();
    report.unknown = mock.unknown.load(Ordering::Relaxed);
    let all_polls = mock.polls_since(0);
    report.problems = mock
        .problems
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|p| ProblemRow::measure(p.clone(), &all_polls))
        .collect();
    report.taskmanager_reads = mock.taskmanager_reads.load(Ordering::Relaxed);
    Ok(report)
}
