//! `cargo xtask vs-alertmanager`: the same distinct alerts through Prometheus Alertmanager and
//! through alert-server, side by side in one run, to the same local sink; prints both rates and
//! their ratio. Loopback only, bounded.
//!
//! Each round:
//! 1. **Alertmanager** (`prometheus-alertmanager`, gossip off, storage in a temporary directory)
//!    routes every alert to one webhook, the sink's `/baseline`; every alert is a group of its own
//!    (`group_by: [alertname, instance]`, a distinct `instance` each, `group_wait` 0), so each is
//!    one webhook request, as alert-server sends one channel request per event. The alerts are
//!    posted to `/api/v2/alerts` in arrays of `--batch` (64, as Prometheus does), `--concurrency`
//!    in flight. Alertmanager is stopped before the next phase.
//! 2. **alert-server** (release build, SQLite, `FLINK_ALERT_LOG=warn`) gets the same number of
//!    distinct job events, posted to `/api/v1/events` in arrays of `--batch`, each sent to one
//!    of `--robots` DingTalk robots (unlimited budget; robot `k` has a group of its own and the
//!    event names it with `group_id`), all of them the sink's `/robot/send`.
//!
//! The rate of each is alerts ÷ (first POST → the sink's last new alert); every alert carries a
//! unique id (`amb-NNNNNNN`) that the sink counts, so duplicates do not count twice and a
//! missing one fails the round.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::child::Proc;
use super::mock::{Counter, Mocks};
use super::{
    alertmanager_binary, free_port, rerun_as_release, server_binary, start_server, ID_PREFIX,
};

/// `cargo xtask vs-alertmanager`.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask vs-alertmanager", about)]
struct Args {
    /// Distinct alerts (and as many job events) per phase.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u32).range(1..=200_000))]
    alerts: u32,
    /// Alerts (events) per request: Prometheus posts arrays of 64.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    batch: u32,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// DingTalk robots at alert-server, each with its own group; event `i` goes to robot
    /// `i % robots`.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    robots: u32,
    /// Alertmanager's `group_wait` (ms).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    group_wait_ms: u64,
    /// Rounds (each: Alertmanager, then alert-server).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    rounds: u32,
    /// Give up waiting for a phase's alerts after this many seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    drain_timeout_secs: u64,
    /// The server binary (default: build and run target/release/alert-server).
    #[arg(long, value_name = "PATH")]
    server_bin: Option<std::path::PathBuf>,
    /// The Alertmanager binary (default: $ALERTMANAGER_BIN, else prometheus-alertmanager).
    #[arg(long, value_name = "PATH")]
    alertmanager_bin: Option<std::path::PathBuf>,
    /// Keep the temporary directory (database, logs, Alertmanager config).
    #[arg(long)]
    keep: bool,
}

/// One phase's outcome.
#[derive(Debug, Clone, Copy)]
struct Rate {
    /// Distinct alerts that reached the sink.
    arrived: usize,
    /// First POST → the sink's last new alert.
    done: Duration,
    /// The POSTs alone.
    posted: Duration,
}

impl Rate {
    fn per_sec(self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.arrived as f64;
        n / self.done.as_secs_f64().max(1e-9)
    }
}

/// Runs `cargo xtask vs-alertmanager`; `args` are the words after it.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(rerun) = rerun_as_release("vs-alertmanager", args) {
        return rerun;
    }
    let args = Args::parse_from(
        std::iter::once("cargo xtask vs-alertmanager".to_owned()).chain(args.to_vec()),
    );
    let server_bin = server_binary(args.server_bin.as_deref())?;
    let am_bin = alertmanager_binary(args.alertmanager_bin.as_deref());
    let dir = std::env::temp_dir().join(format!("flink-alert-vs-am-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = run_in(&args, &server_bin, &am_bin, &dir);
    if result.is_err() || args.keep {
        eprintln!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

fn run_in(args: &Args, server_bin: &Path, am_bin: &Path, dir: &Path) -> Result<()> {
    let mocks = Mocks::start()?;
    let (mut server, base) = start_server(server_bin, dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(drive(args, am_bin, dir, &base, &mut server, &mocks));
    let stopped = server.stop();
    mocks.stop();
    let rounds = outcome?;
    stopped?;
    print!("{}", markdown(args, &rounds));
    Ok(())
}

async fn drive(
    args: &Args,
    am_bin: &Path,
    dir: &Path,
    base: &str,
    server: &mut Proc,
    mocks: &Mocks,
) -> Result<Vec<(Rate, Rate)>> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()?;
    server
        .wait_ready(&client, &format!("{base}/healthz"))
        .await?;
    let groups = robots(&client, base, mocks, args.robots).await?;
    let mut rounds = Vec::new();
    for round in 0..args.rounds {
        let offset = round * args.alerts * 2;
        let am = alertmanager_phase(args, am_bin, dir, mocks, &client, round, offset).await?;
        let ours = server_phase(args, base, mocks, &client, &groups, offset + args.alerts).await?;
        eprintln!(
            "round {}: Alertmanager {:.0} alerts/s, alert-server {:.0} alerts/s ({:.2}x)",
            round + 1,
            am.per_sec(),
            ours.per_sec(),
            ours.per_sec() / am.per_sec()
        );
        rounds.push((am, ours));
    }
    Ok(rounds)
}

/// Creates `n` robots at the sink, each with a group of its own; returns the group ids.
async fn robots(client: &reqwest::Client, base: &str, mocks: &Mocks, n: u32) -> Result<Vec<i64>> {
    let api = format!("{base}/api/v1");
    let mut groups = Vec::with_capacity(usize::try_from(n)?);
    for k in 0..n {
        let instance = create(
            client,
            &format!("{api}/instances"),
            json!({"name": format!("vs-robot-{k}"), "kind": "dingtalk", "rate_per_minute": 0,
                   "params": {"webhook": format!("http://{}/robot/send?access_token=vs{k}", mocks.addr)}}),
        )
        .await?;
        groups.push(
            create(
                client,
                &format!("{api}/groups"),
                json!({"name": format!("vs-group-{k}"), "instance_ids": [instance]}),
            )
            .await?,
        );
    }
    Ok(groups)
}

async fn create(client: &reqwest::Client, url: &str, body: Value) -> Result<i64> {
    let answer = client.post(url).json(&body).send().await?;
    let status = answer.status();
    let text = answer.text().await?;
    ensure!(status.is_success(), "POST {url}: {status} {text}");
    serde_json::from_str::<Value>(&text)?["id"]
        .as_i64()
        .with_context(|| format!("POST {url}: no id in {text}"))
}

async fn alertmanager_phase(
    args: &Args,
    am_bin: &Path,
    dir: &Path,
    mocks: &Mocks,
    client: &reqwest::Client,
    round: u32,
    offset: u32,
) -> Result<Rate> {
    let am_dir = dir.join(format!("am-{round}"));
    std::fs::create_dir_all(&am_dir)?;
    let wait = format!("{}ms", args.group_wait_ms);
    let config = format!(
        "route:\n  receiver: sink\n  group_by: [alertname, instance]\n  group_wait: {wait}\n  \
         group_interval: 5m\n  repeat_interval: 1h\nreceivers:\n  - name: sink\n    \
         webhook_configs:\n      - url: http://{}/baseline\n        send_resolved: false\n",
        mocks.addr
    );
    let config_path = am_dir.join("alertmanager.yml");
    std::fs::write(&config_path, config)?;
    let port = free_port()?;
    let mut command = std::process::Command::new(am_bin);
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!("--storage.path={}", am_dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .arg("--log.level=warn");
    let mut am = Proc::spawn("alertmanager", command, &am_dir.join("alertmanager.log"))?;
    let am_url = format!("http://127.0.0.1:{port}");
    am.wait_ready(client, &format!("{am_url}/-/ready")).await?;
    let counter = &mocks.state.baseline;
    let rate = measure(
        args,
        client,
        &format!("{am_url}/api/v2/alerts"),
        counter,
        |i| {
            let id = offset + i;
            json!({
                "labels": {
                    "alertname": "VsBench",
                    "instance": format!("host-{id}"),
                    "severity": "warning",
                    "bench_id": format!("{ID_PREFIX}{id:07}"),
                },
                "annotations": {"summary": format!("bench alert {id}")},
            })
        },
    )
    .await;
    am.stop()?;
    rate
}

async fn server_phase(
    args: &Args,
    base: &str,
    mocks: &Mocks,
    client: &reqwest::Client,
    groups: &[i64],
    offset: u32,
) -> Result<Rate> {
    let counter = &mocks.state.robot;
    let url = format!("{base}/api/v1/events");
    measure(args, client, &url, counter, |i| {
        let id = offset + i;
        let group = groups[usize::try_from(i).unwrap_or(0) % groups.len()];
        json!({
            "job_id": format!("vs{id:012}"),
            "job_name": format!("{ID_PREFIX}{id:07}"),
            "cluster": "bench",
            "status": "FAILED",
            "previous_status": "RUNNING",
            "error": "java.lang.RuntimeException: bench",
            "group_id": group,
        })
    })
    .await
}

/// Posts `args.alerts` items made by `item` to `url` in arrays of `args.batch`,
/// `args.concurrency` in flight, and waits until `counter` saw every one of them.
async fn measure(
    args: &Args,
    client: &reqwest::Client,
    url: &str,
    counter: &Counter,
    item: impl Fn(u32) -> Value,
) -> Result<Rate> {
    let started = Instant::now();
    counter.reset(started);
    let limit = Arc::new(Semaphore::new(usize::try_from(args.concurrency)?));
    let url = Arc::new(url.to_owned());
    let mut posts = JoinSet::new();
    let mut next = 0;
    while next < args.alerts {
        let end = (next + args.batch).min(args.alerts);
        let body: Vec<Value> = (next..end).map(&item).collect();
        next = end;
        let permit = Arc::clone(&limit).acquire_owned().await?;
        let (client, url) = (client.clone(), Arc::clone(&url));
        posts.spawn(async move {
            let answer = client.post(url.as_str()).json(&body).send().await;
            drop(permit);
            let answer = answer?;
            let status = answer.status();
            ensure!(status.is_success(), "POST {url}: {status}");
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(done) = posts.join_next().await {
        done??;
    }
    let posted = started.elapsed();
    let n = usize::try_from(args.alerts)?;
    let deadline = Instant::now() + Duration::from_secs(args.drain_timeout_secs);
    while counter.count() < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (_, arrived, _, last_ns) = counter.snapshot();
    ensure!(
        arrived >= n,
        "only {arrived} of {n} alerts reached the sink from {url} within {} s",
        args.drain_timeout_secs
    );
    Ok(Rate {
        arrived,
        done: Duration::from_nanos(last_ns),
        posted,
    })
}

fn markdown(args: &Args, rounds: &[(Rate, Rate)]) -> String {
    let mut out = format!(
        "\n`cargo xtask vs-alertmanager --alerts {} --batch {} --concurrency {} --robots {} \
         --group-wait-ms {}`\n\n| round | Alertmanager alerts/s | alert-server alerts/s | ratio | \
         Alertmanager done (posted) | alert-server done (posted) |\n|---|---|---|---|---|---|\n",
        args.alerts, args.batch, args.concurrency, args.robots, args.group_wait_ms
    );
    for (i, (am, ours)) in rounds.iter().enumerate() {
        out.push_str(&format!(
            "| {} | {:.0} | {:.0} | **{:.2}x** | {:.2} s ({:.2} s) | {:.2} s ({:.2} s) |\n",
            i + 1,
            am.per_sec(),
            ours.per_sec(),
            ours.per_sec() / am.per_sec(),
            am.done.as_secs_f64(),
            am.posted.as_secs_f64(),
            ours.done.as_secs_f64(),
            ours.posted.as_secs_f64(),
        ));
    }
    out
}
