//! The benchmark itself: configuration through the API, then each phase (alerts posted to
//! Alertmanager, waited for at both receivers), measured into [`Phase`]s.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::args::{Args, Second};
use super::child::{Cpu, Proc};
use super::mock::{Counter, Mocks};
use super::report::{Arrivals, Phase, WebhookMetrics};
use super::{free_port, ALERTMANAGER_CPU, IDLE_SAMPLE, ID_PREFIX};

fn arrivals(counter: &Counter) -> Arrivals {
    let (requests, alerts, first, last) = counter.snapshot();
    Arrivals {
        requests,
        alerts,
        first: first.map(Duration::from_nanos),
        last: Duration::from_nanos(last),
    }
}

async fn api_create(client: &reqwest::Client, url: &str, body: Value) -> Result<i64> {
    let answer = client.post(url).json(&body).send().await?;
    let status = answer.status();
    let text = answer.text().await?;
    ensure!(status.is_success(), "POST {url}: {status} {text}");
    let value: Value = serde_json::from_str(&text)?;
    value["id"]
        .as_i64()
        .with_context(|| format!("POST {url}: no id in {text}"))
}

pub(super) async fn drive(
    args: &Args,
    am_bin: &Path,
    dir: &Path,
    base: &str,
    server: &mut Proc,
    mocks: &Mocks,
) -> Result<Vec<Phase>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()?;
    server
        .wait_ready(&client, &format!("{base}/healthz"))
        .await?;
    let api = format!("{base}/api/v1");
    let instance = api_create(
        &client,
        &format!("{api}/instances"),
        json!({"name": "am-bench-robot", "kind": "dingtalk",
               "params": {"webhook": format!("http://{}/robot/send?access_token=bench", mocks.addr)},
               "rate_per_minute": 0}),
    )
    .await?;
    let group = api_create(
        &client,
        &format!("{api}/groups"),
        json!({"name": "am-bench", "instance_ids": [instance]}),
    )
    .await?;
    api_create(
        &client,
        &format!("{api}/bindings"),
        json!({"labels": {"bench": "yes"}, "group_id": group}),
    )
    .await?;

    let mut phases = Vec::new();
    let mut offset = 0;
    for round in 1..=args.rounds {
        let seconds: &[Second] = if args.second_webhook {
            &[Second::None, Second::Bridge, Second::Webhook]
        } else {
            &[Second::None, Second::Bridge]
        };
        for &second in seconds {
            let phase = run_phase(
                args, am_bin, dir, base, server, mocks, &client, second, round, offset,
            )
            .await?;
            offset += args.alerts;
            phases.push(phase);
        }
    }
    Ok(phases)
}

#[allow(clippy::too_many_arguments)]
async fn run_phase(
    args: &Args,
    am_bin: &Path,
    dir: &Path,
    base: &str,
    server: &Proc,
    mocks: &Mocks,
    client: &reqwest::Client,
    second: Second,
    round: u32,
    offset: u32,
) -> Result<Phase> {
    // Either second receiver is counted at the robot mock (it counts alerts in any body).
    let bridge = second != Second::None;
    let name = match second {
        Second::None => "alone",
        Second::Bridge => "bridge",
        Second::Webhook => "webhook2",
    };
    let am_dir = dir.join(format!("am-{name}-{round}"));
    std::fs::create_dir_all(&am_dir)?;
    let wait = format!("{}ms", args.group_wait_ms);
    let baseline_url = format!("http://{}/baseline", mocks.addr);
    let mut config = format!(
        "route:\n  receiver: baseline\n  group_by: [alertname, instance]\n  group_wait: {wait}\n  \
         group_interval: {wait}\n  repeat_interval: 1h\n  routes:\n    - receiver: baseline\n      \
         continue: true\n"
    );
    match second {
        Second::None => {}
        Second::Bridge => config.push_str("    - receiver: flink-alert\n"),
        Second::Webhook => config.push_str("    - receiver: second\n"),
    }
    write!(
        config,
        "receivers:\n  - name: baseline\n    webhook_configs:\n      - url: {baseline_url}\n        \
         send_resolved: false\n"
    )?;
    match second {
        Second::None => {}
        Second::Bridge => write!(
            config,
            "  - name: flink-alert\n    webhook_configs:\n      - url: {base}/api/v1/ingest/alertmanager\n        \
             send_resolved: false\n"
        )?,
        Second::Webhook => write!(
            config,
            "  - name: second\n    webhook_configs:\n      - url: http://{}/robot/send\n        \
             send_resolved: false\n",
            mocks.addr
        )?,
    }
    let config_path = am_dir.join("alertmanager.yml");
    std::fs::write(&config_path, &config)?;
    let port = free_port()?;
    let mut command = if args.pin {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", ALERTMANAGER_CPU]).arg(am_bin);
        taskset
    } else {
        Command::new(am_bin)
    };
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.path={}", am_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn");
    let mut am = Proc::spawn("alertmanager", command, &am_dir.join("alertmanager.log"))?;
    let am_url = format!("http://127.0.0.1:{port}");
    am.wait_ready(client, &format!("{am_url}/-/ready")).await?;
    eprintln!(
        "phase {name} (round {round}): alertmanager pid {} on {am_url}",
        am.pid
    );

    let started = Instant::now();
    mocks.state.baseline.reset(started);
    mocks.state.robot.reset(started);
    let cpu0 = Cpu::now(&am, server, mocks);

    // Post every alert, `concurrency` batches in flight.
    let limit = Arc::new(Semaphore::new(usize::try_from(args.concurrency)?));
    let mut posts = JoinSet::new();
    let url = Arc::new(format!("{am_url}/api/v2/alerts"));
    let mut next = 0;
    while next < args.alerts {
        let end = (next + args.batch).min(args.alerts);
        let alerts: Vec<Value> = (next..end)
            .map(|i| {
                let id = offset + i;
                json!({
                    "labels": {
                        "alertname": "AmBench",
                        "instance": format!("host-{}", id / args.per_group),
                        "bench": "yes",
                        "severity": "warning",
                        "bench_id": format!("{ID_PREFIX}{id:07}"),
                    },
                    "annotations": {"summary": format!("bench alert {id}")},
                })
            })
            .collect();
        next = end;
        let permit = Arc::clone(&limit).acquire_owned().await?;
        let client = client.clone();
        let url = Arc::clone(&url);
        posts.spawn(async move {
            let answer = client.post(url.as_str()).json(&alerts).send().await;
            drop(permit);
            let answer = answer?;
            let status = answer.status();
            ensure!(status.is_success(), "POST /api/v2/alerts: {status}");
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = posts.join_next().await {
        done??;
    }
    let post = started.elapsed();

    let n = usize::try_from(args.alerts)?;
    let deadline = started + post + Duration::from_secs(args.drain_timeout_secs);
    let mut tick = Instant::now();
    loop {
        let done = mocks.state.baseline.count() >= n && (!bridge || mocks.state.robot.count() >= n);
        if done || Instant::now() >= deadline {
            break;
        }
        if tick.elapsed() >= Duration::from_secs(1) {
            // A timeline on stderr: where the CPU goes while the alerts drain.
            tick = Instant::now();
            let cpu = Cpu::now(&am, server, mocks).since(cpu0);
            eprintln!(
                "  t={:5.1} s  baseline {:6}  bridge {:6}  cpu: alertmanager {:5.2} alert-server {:5.2}",
                started.elapsed().as_secs_f64(),
                mocks.state.baseline.count(),
                mocks.state.robot.count(),
                cpu.alertmanager,
                cpu.server
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A moment for duplicates or stragglers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let wall = started.elapsed();
    let cpu = Cpu::now(&am, server, mocks).since(cpu0);
    let baseline = arrivals(&mocks.state.baseline);
    let bridge_arrivals = bridge.then(|| arrivals(&mocks.state.robot));
    let am_metrics = webhook_metrics(client, &am_url).await;
    // Alertmanager's steady cost once everything is delivered (its groups still tick every
    // group_interval): the part of its CPU that depends on how long a phase lasts, not on the
    // notifications themselves.
    let idle0 = am.cpu();
    let idle_started = Instant::now();
    tokio::time::sleep(IDLE_SAMPLE).await;
    let am_idle = (am.cpu() - idle0) / idle_started.elapsed().as_secs_f64();
    let am_stop = am.stop()?;
    if baseline.alerts < n || bridge_arrivals.is_some_and(|b| b.alerts < n) {
        eprintln!(
            "phase {name}: only {} (baseline) / {} (bridge) of {n} alerts arrived within {} s; \
             see {}",
            baseline.alerts,
            bridge_arrivals.map_or(0, |b| b.alerts),
            args.drain_timeout_secs,
            am_dir.join("alertmanager.log").display()
        );
    }
    eprintln!(
        "phase {name}: posted in {:.2} s, baseline done at {:.2} s{}",
        post.as_secs_f64(),
        baseline.last.as_secs_f64(),
        bridge_arrivals.map_or(String::new(), |b| format!(
            ", bridge done at {:.2} s",
            b.last.as_secs_f64()
        ))
    );
    Ok(Phase {
        name,
        round,
        post,
        baseline,
        bridge: bridge_arrivals,
        cpu,
        wall,
        am_stop,
        am_metrics,
        am_idle,
    })
}

/// Reads [`WebhookMetrics`] from Alertmanager's `/metrics` (zeros if it cannot).
async fn webhook_metrics(client: &reqwest::Client, am_url: &str) -> WebhookMetrics {
    let text = match client.get(format!("{am_url}/metrics")).send().await {
        Ok(answer) => answer.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut m = WebhookMetrics::default();
    for line in text.lines() {
        if line.starts_with('#') || !line.contains("integration=\"webhook\"") {
            continue;
        }
        let Some((name, value)) = line.split_once('{').zip(line.rsplit_once(' ')) else {
            continue;
        };
        let Ok(value) = value.1.parse::<f64>() else {
            continue;
        };
        let field = match name.0 {
            "alertmanager_notifications_total" => &mut m.notifications,
            "alertmanager_notifications_failed_total" => &mut m.notifications_failed,
            "alertmanager_notification_requests_total" => &mut m.requests,
            "alertmanager_notification_requests_failed_total" => &mut m.requests_failed,
            "alertmanager_notification_latency_seconds_sum" => &mut m.latency_sum,
            "alertmanager_notification_latency_seconds_count" => &mut m.latency_count,
            _ => continue,
        };
        *field += value;
    }
    m
}
