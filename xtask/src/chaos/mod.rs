//! `cargo xtask chaos`: the faults flink-alert promises to survive (docs/RELIABILITY.md), each
//! run against the real `alert-server` binary on loopback, bounded in time, and a table of what
//! happened: events answered `202`, job changes delivered (named in a message), lost (answered
//! `202` but never named), duplicates (named more than once), and the time to recover.
//!
//! Scenarios (`--only NAME` runs one):
//! - `storm`: 1,000 job changes at once to one DingTalk robot of 20 messages a minute; every job
//!   must be named, in messages within the channel's size limit.
//! - `kill9`: events posted one per request while the server is killed with SIGKILL and
//!   started again on the same database; nothing answered `202` may be lost.
//! - `hanging-channel`: the robot accepts connections and never answers for 15 s, then recovers.
//! - `idle-clients`: connections that send nothing hold every connection slot; a new client is
//!   still served once the header read timeout closes them.
//! - `oversize`: a client writes a 2 MiB body, then reads: it gets the `413`.
//! - `pg-cut`: the server on PostgreSQL through a TCP proxy that is cut for 30 s while events
//!   keep coming: refusals are `503` with `Retry-After` within 2 s, `/healthz` is 503 during and
//!   200 after, and everything answered `202` is delivered.
//! - `disk-full`: the SQLite database on a 4 MiB tmpfs (root only) filled until `507`, then
//!   given room: accepting again without a restart, `PRAGMA integrity_check` ok.
//!
//! The server is the debug build (`cargo build -p alert-server`): faults, not speed, are
//! measured. Exit code 1 when any scenario loses a job change.

mod faults;
mod robot;
mod scenarios;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::load::server::Server;
use robot::{job_name, Seen};

/// One row of the table.
#[derive(Debug)]
struct Outcome {
    scenario: &'static str,
    answered: usize,
    delivered: usize,
    lost: usize,
    duplicates: u64,
    recover: Duration,
    note: String,
}

/// Runs `cargo xtask chaos`.
pub fn run(args: &[String]) -> Result<()> {
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    crate::cargo(&["build", "-p", "alert-server"])?;
    let bin = std::fs::canonicalize(crate::load::target_dir().join("debug").join("alert-server"))
        .context("alert-server was not built")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for &name in scenarios::ALL {
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        eprintln!("chaos: {name} …");
        let dir = TempDir::new(name)?;
        match runtime.block_on(scenarios::run(name, &bin, &dir.0)) {
            Ok(row) => {
                eprintln!("chaos: {name}: {}", row.note);
                rows.push(row);
            }
            Err(e) => {
                eprintln!(
                    "chaos: {name} FAILED: {e:#} (files kept in {})",
                    dir.keep().display()
                );
                failed.push(name);
            }
        }
    }
    println!("{}", table(&rows));
    let lossy: Vec<&str> = rows
        .iter()
        .filter(|r| r.lost > 0)
        .map(|r| r.scenario)
        .collect();
    if !failed.is_empty() || !lossy.is_empty() {
        bail!("chaos: failed: {failed:?}; lost job changes: {lossy:?}");
    }
    Ok(())
}

fn table(rows: &[Outcome]) -> String {
    let mut out = String::from(
        "| scenario | answered 202 | delivered | lost | duplicates | time to recover | what happened |\n|---|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.1} s | {} |\n",
            r.scenario,
            r.answered,
            r.delivered,
            r.lost,
            r.duplicates,
            r.recover.as_secs_f64(),
            r.note
        ));
    }
    out
}

/// A folder for one scenario's database and logs, removed unless kept.
struct TempDir(PathBuf, bool);

impl TempDir {
    fn new(name: &str) -> Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("flink-alert-chaos-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir, false))
    }
    fn keep(mut self) -> PathBuf {
        self.1 = true;
        self.0.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// A server, a robot and one instance (with `rate_per_minute`) bound to every job.
struct Rig {
    server: Server,
    client: reqwest::Client,
    seen: Arc<Seen>,
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    db: String,
    env: Vec<(&'static str, String)>,
}

impl Rig {
    /// On a SQLite file in `dir`.
    async fn start(
        bin: &Path,
        dir: &Path,
        rate_per_minute: u32,
        env: &[(&'static str, &str)],
    ) -> Result<Self> {
        let db = format!("sqlite://{}", dir.join("chaos.db").display());
        Self::start_on(bin, dir, db, rate_per_minute, env).await
    }

    /// On the database `db`.
    async fn start_on(
        bin: &Path,
        dir: &Path,
        db: String,
        rate_per_minute: u32,
        env: &[(&'static str, &str)],
    ) -> Result<Self> {
        let seen = Arc::new(Seen::default());
        let webhook = robot::start(Arc::clone(&seen)).await?;
        let port = free_port()?;
        let env: Vec<(&'static str, String)> =
            env.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?;
        let mut rig = Self {
            server: start_server(bin, dir, port, &db, &env)?,
            client,
            seen,
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            port,
            db,
            env,
        };
        rig.server.wait_healthy(&rig.client).await?;
        let instance = rig
            .api(
                "instances",
                json!({"name": "chaos-robot", "kind": "dingtalk",
                "params": {"webhook": webhook}, "rate_per_minute": rate_per_minute}),
            )
            .await?;
        let group = rig
            .api(
                "groups",
                json!({"name": "chaos", "instance_ids": [instance["id"]]}),
            )
            .await?;
        rig.api("bindings", json!({"job": "*", "group_id": group["id"]}))
            .await?;
        Ok(rig)
    }

    async fn api(&self, path: &str, body: Value) -> Result<Value> {
        let r = self
            .client
            .post(format!("{}/api/v1/{path}", self.server.base))
            .json(&body)
            .send()
            .await?;
        ensure!(r.status().is_success(), "POST {path}: {}", r.status());
        Ok(r.json().await?)
    }

    /// SIGKILL, then the same server again on the same database.
    async fn crash_and_restart(&mut self) -> Result<Duration> {
        self.server.kill9();
        let started = Instant::now();
        self.server = start_server(&self.bin, &self.dir, self.port, &self.db, &self.env)?;
        self.server.wait_healthy(&self.client).await?;
        Ok(started.elapsed())
    }

    /// Waits until every job of `jobs` is named, at most `limit`; how long it took.
    async fn wait_named(&self, jobs: &BTreeSet<usize>, limit: Duration) -> Duration {
        let started = Instant::now();
        while self.seen.named(jobs) < jobs.len() && started.elapsed() < limit {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        started.elapsed()
    }

    /// The outcome for the events in `answered` (answered 202).
    fn outcome(
        &self,
        scenario: &'static str,
        answered: &BTreeSet<usize>,
        recover: Duration,
        note: String,
    ) -> Outcome {
        let delivered = self.seen.named(answered);
        Outcome {
            scenario,
            answered: answered.len(),
            delivered,
            lost: answered.len() - delivered,
            duplicates: self.seen.duplicates(answered),
            recover,
            note,
        }
    }
}

fn start_server(
    bin: &Path,
    dir: &Path,
    port: u16,
    db: &str,
    env: &[(&'static str, String)],
) -> Result<Server> {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start_with(bin, dir, 0, port, db, &env)
}

/// Job event `n` (FAILED).
fn event(n: usize) -> Value {
    json!({
        "job_id": format!("chaos-{n:05}"),
        "job_name": job_name(n),
        "cluster": "prod",
        "status": "FAILED",
        "previous_status": "RUNNING",
    })
}
