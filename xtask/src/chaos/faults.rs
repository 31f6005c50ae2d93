//! The infrastructure faults of `cargo xtask chaos`: the PostgreSQL database unreachable (cut
//! by a TCP proxy between the server and the database) and the SQLite disk full (a small tmpfs).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alert_testkit::proxy::TcpProxy;
use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use super::{event, Outcome, Rig};
use crate::load::pg::PgDb;

/// The PostgreSQL server the scenario makes its database on.
const PG_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
/// How long the database stays unreachable.
const CUT: Duration = Duration::from_secs(30);

/// What a poster saw: numbers answered 202, answers that were not, and the slowest refusal.
#[derive(Debug, Default)]
struct Posted {
    answered: BTreeSet<usize>,
    unavailable: usize,
    other: usize,
    slowest_refusal: Duration,
    retry_after: bool,
    /// When the last refusal came.
    last_refusal: Option<Instant>,
}

/// Posts events one per request, `per_second`, for `total` events.
fn poster(
    rig: &Rig,
    total: usize,
    per_second: u64,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Posted>>) {
    let posted = Arc::new(Mutex::new(Posted::default()));
    let (client, base, out) = (
        rig.client.clone(),
        rig.server.base.clone(),
        Arc::clone(&posted),
    );
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(1000 / per_second));
        for n in 0..total {
            tick.tick().await;
            let asked = Instant::now();
            let answer = client
                .post(format!("{base}/api/v1/events"))
                .json(&event(n))
                .send()
                .await;
            let took = asked.elapsed();
            let mut p = out.lock().expect("not poisoned");
            match answer {
                Ok(r) if r.status().as_u16() == 202 => {
                    p.answered.insert(n);
                }
                Ok(r) if r.status().as_u16() == 503 || r.status().as_u16() == 507 => {
                    p.unavailable += 1;
                    p.retry_after |= r.headers().contains_key("retry-after");
                    p.slowest_refusal = p.slowest_refusal.max(took);
                    p.last_refusal = Some(Instant::now());
                }
                _ => p.other += 1,
            }
        }
    });
    (task, posted)
}

async fn healthz(rig: &Rig) -> u16 {
    rig.client
        .get(format!("{}/healthz", rig.server.base))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// PostgreSQL unreachable for 30 s while events keep coming.
pub(super) async fn pg_cut(bin: &Path, dir: &Path) -> Result<Outcome> {
    let db = tokio::task::spawn_blocking(|| PgDb::create(PG_ADMIN)).await??;
    let upstream = "127.0.0.1:5432".parse()?;
    let proxy = TcpProxy::start(upstream).await?;
    let url = db.url.replace("127.0.0.1:5432", &proxy.addr().to_string());
    ensure!(url != db.url, "cannot route {} through the proxy", db.url);
    let rig = Rig::start_on(bin, dir, url, 0, &[]).await?;
    let (task, posted) = poster(&rig, 60 * 20, 20);
    tokio::time::sleep(Duration::from_secs(5)).await;
    proxy.cut();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let health_during = healthz(&rig).await;
    tokio::time::sleep(CUT - Duration::from_secs(3)).await;
    proxy.restore();
    let restored = Instant::now();
    task.await?;
    let posted = std::mem::take(&mut *posted.lock().expect("not poisoned"));
    let health_after = healthz(&rig).await;
    let delivered_in = rig
        .wait_named(&posted.answered, Duration::from_secs(120))
        .await;
    // Accepting again: the last refusal after the restore.
    let recover = posted
        .last_refusal
        .map_or(Duration::ZERO, |t| t.saturating_duration_since(restored));
    ensure!(
        health_during == 503,
        "/healthz answered {health_during} during the cut"
    );
    ensure!(
        health_after == 200,
        "/healthz answered {health_after} after the cut"
    );
    ensure!(
        posted.unavailable > 0,
        "no request was refused during the cut"
    );
    ensure!(posted.retry_after, "503 without Retry-After");
    ensure!(
        posted.slowest_refusal < Duration::from_secs(2),
        "a refusal took {:?}",
        posted.slowest_refusal
    );
    let note = format!(
        "{} answered 503 with Retry-After (slowest {:.2} s), {} other errors; /healthz 503 during, 200 after; everything answered 202 delivered {:.1} s after the last event",
        posted.unavailable,
        posted.slowest_refusal.as_secs_f64(),
        posted.other,
        delivered_in.as_secs_f64()
    );
    let row = rig.outcome(
        "PostgreSQL unreachable for 30 s (TCP proxy cut)",
        &posted.answered,
        recover,
        note,
    );
    drop(rig);
    drop(db);
    Ok(row)
}

/// Runs `mount` (root only).
fn mount(args: &[&str]) -> Result<()> {
    let status = Command::new("mount")
        .args(args)
        .status()
        .context("cannot run mount")?;
    ensure!(status.success(), "mount {args:?} failed");
    Ok(())
}

/// A tmpfs mounted for the scenario, unmounted on drop.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The SQLite database on a disk that fills up, then gets room again.
pub(super) async fn disk_full(bin: &Path, dir: &Path) -> Result<Outcome> {
    let data = dir.join("disk");
    std::fs::create_dir_all(&data)?;
    if mount(&[
        "-t",
        "tmpfs",
        "-o",
        "size=4m",
        "tmpfs",
        &data.to_string_lossy(),
    ])
    .is_err()
    {
        bail!("cannot mount a tmpfs (needs root): skipped");
    }
    let fs = Tmpfs(data.clone());
    let db = format!("sqlite://{}", data.join("chaos.db").display());
    let rig = Rig::start_on(bin, dir, db.clone(), 0, &[]).await?;
    let mut answered = BTreeSet::new();
    let mut full_status = 0;
    let mut n = 0;
    // Fill it: batches until the server says the disk is full (bounded).
    while n < 200_000 {
        let body = Value::Array((n..n + 200).map(event).collect());
        let r = rig
            .client
            .post(format!("{}/api/v1/events", rig.server.base))
            .json(&body)
            .send()
            .await?;
        match r.status().as_u16() {
            202 => answered.extend(n..n + 200),
            s => {
                full_status = s;
                break;
            }
        }
        n += 200;
    }
    ensure!(
        full_status == 507 || full_status == 503,
        "the full disk was answered {full_status}"
    );
    // Room again.
    mount(&["-o", "remount,size=64m", &data.to_string_lossy()])?;
    let roomy = Instant::now();
    let body = Value::Array((n..n + 200).map(event).collect());
    let mut accepted_again = false;
    while roomy.elapsed() < Duration::from_secs(30) {
        let r = rig
            .client
            .post(format!("{}/api/v1/events", rig.server.base))
            .json(&body)
            .send()
            .await?;
        if r.status().as_u16() == 202 {
            answered.extend(n..n + 200);
            accepted_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(
        accepted_again,
        "not accepting again after the disk got room"
    );
    rig.wait_named(&answered, Duration::from_secs(180)).await;
    let recover = roomy.elapsed();
    // SQLite's own check, through Python's sqlite3 module (no SQLite tool needed).
    let integrity = Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])",
        ])
        .arg(data.join("chaos.db"))
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    ensure!(integrity == "ok", "integrity_check: {integrity:?}");
    let mut row = rig.outcome(
        "SQLite disk full (4 MiB tmpfs), then room",
        &answered,
        recover,
        String::new(),
    );
    row.note = format!("full disk answered {full_status}; accepting again once remounted; integrity_check: {integrity}");
    drop(rig);
    drop(fs);
    Ok(row)
}
