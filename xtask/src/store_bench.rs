//! `cargo xtask store-bench`: the SQLite write path of a delivery alone, without HTTP, routing or
//! sends. One caller commits, one after the other, what the server's writer commits under load:
//! an intake batch (`store_intake`: events, their deliveries, created claimed), then the attempt
//! records of those deliveries (`record_attempts`, all sent).
//!
//! SQLite has one writer connection, so this serial rate is the ceiling of the write path, and
//! its CPU per delivery is what the write path costs the server (sqlx's worker thread included).
//! Set beside the server's own rate and CPU per delivery in `cargo xtask load` (same machine,
//! same run), it says how much any faster writer (a dedicated thread over rusqlite, another
//! embedded store) could gain at most.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use alert_core::{JobEvent, JobStatus};
use alert_store::{
    AttemptRecord, DeliveryState, EventItem, EventTimes, InstanceInput, IntakeBatch, IntakeLease,
    Store, Target,
};
use anyhow::{ensure, Context, Result};
use clap::Parser;

/// The name sqlx gives its SQLite worker threads (truncated to 15 bytes by the kernel).
const SQLX_THREAD: &str = "sqlx-sqlite-wor";

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask store-bench",
    about = "The SQLite write path alone: intake batches and their attempt records, committed \
             one after the other (see xtask/src/store_bench.rs)"
)]
struct StoreBenchArgs {
    /// Intake batches per round.
    #[arg(long, default_value_t = 300)]
    batches: usize,
    /// Events per intake batch (the server's group commit takes up to 256; under `load` its
    /// batches hold a few dozen).
    #[arg(long, default_value_t = 64)]
    batch_events: usize,
    /// Deliveries per event (instances of the group).
    #[arg(long, default_value_t = 2)]
    instances: usize,
    /// Rounds, each on a fresh database.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

/// What one round measured.
struct RoundReport {
    deliveries: usize,
    wall: Duration,
    intake: Duration,
    record: Duration,
    /// CPU seconds of the whole process (the caller, Tokio's workers, sqlx's threads).
    cpu: f64,
    /// CPU seconds of sqlx's SQLite worker threads alone.
    sqlite_cpu: f64,
}

/// Runs `cargo xtask store-bench`.
pub fn run(args: &[String]) -> Result<()> {
    let args = StoreBenchArgs::try_parse_from(
        std::iter::once("store-bench".to_owned()).chain(args.iter().cloned()),
    )
    .unwrap_or_else(|e| e.exit());
    ensure!(
        args.batches > 0 && args.batch_events > 0 && args.instances > 0,
        "--batches, --batch-events and --instances must be at least 1"
    );
    let dir = std::env::temp_dir().join(format!("flink-alert-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut reports = Vec::new();
    for round in 1..=args.rounds {
        let db = dir.join(format!("round-{round}.db"));
        let report = runtime.block_on(run_round(&args, &db));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
        }
        let report = report?;
        eprintln!(
            "round {round}: {:.0} deliveries/s",
            rate(report.deliveries, report.wall)
        );
        reports.push(report);
    }
    let _ = std::fs::remove_dir_all(&dir);
    print_table(&args, &reports);
    Ok(())
}

async fn run_round(args: &StoreBenchArgs, db: &Path) -> Result<RoundReport> {
    let store = alert_store::connect(&format!("sqlite://{}", db.display()))
        .await
        .context("cannot open the database")?;
    let targets = instances(&*store, args.instances).await?;
    let at = chrono::Utc::now().fixed_offset();
    let worker = "store-bench";
    let (mut intake, mut record) = (Duration::ZERO, Duration::ZERO);
    let mut deliveries = 0;
    let cpu_before = process_cpu();
    let threads_before = crate::proc::thread_cpu(&[std::process::id()], crate::proc::USER_HZ);
    let started = Instant::now();
    for batch in 0..args.batches {
        let events: Vec<JobEvent> = (0..args.batch_events)
            .map(|i| {
                JobEvent::new(
                    format!("bench-{batch:06}-{i:04}"),
                    "store bench",
                    JobStatus::Failed,
                    at,
                )
                .with_cluster("bench")
                .with_previous_status(JobStatus::Running)
            })
            .collect();
        let now = chrono::Utc::now().timestamp_millis();
        let times = EventTimes {
            now,
            deadline_at: now + 3_600_000,
            repeat_since: now - 60_000,
        };
        let items: Vec<EventItem<'_>> = events
            .iter()
            .map(|event| EventItem {
                event,
                targets: &targets,
                times,
                silence_id: None,
            })
            .collect();
        let t = Instant::now();
        let (_, claimed) = store
            .store_intake(IntakeBatch {
                events: &items,
                checkpoints: &[],
                lease: Some(IntakeLease {
                    worker,
                    until: now + 60_000,
                    max_rows: usize::MAX,
                }),
            })
            .await
            .context("store_intake")?;
        intake += t.elapsed();
        ensure!(
            claimed.len() == items.len() * targets.len(),
            "batch {batch}: {} deliveries claimed, expected {}",
            claimed.len(),
            items.len() * targets.len()
        );
        let finished = chrono::Utc::now().timestamp_millis();
        let records: Vec<AttemptRecord> = claimed
            .iter()
            .map(|c| AttemptRecord {
                delivery_id: c.delivery.id,
                started_at: now,
                finished_at: finished,
                state: DeliveryState::Sent,
                next_attempt_at: None,
                error: None,
                warnings: Vec::new(),
            })
            .collect();
        let t = Instant::now();
        store
            .record_attempts(&records)
            .await
            .context("record_attempts")?;
        record += t.elapsed();
        deliveries += records.len();
    }
    let wall = started.elapsed();
    Ok(RoundReport {
        deliveries,
        wall,
        intake,
        record,
        cpu: process_cpu() - cpu_before,
        sqlite_cpu: sqlite_cpu_since(&threads_before),
    })
}

/// Creates `n` DingTalk instances (never sent to here) and returns them as targets.
async fn instances(store: &dyn Store, n: usize) -> Result<Vec<Target>> {
    let mut targets = Vec::with_capacity(n);
    for i in 0..n {
        let input = InstanceInput {
            name: format!("bench-robot-{i}"),
            kind: "dingtalk".to_owned(),
            enabled: true,
            params: serde_json::json!({"webhook": format!("http://127.0.0.1:9/robot/send?access_token=t{i}")}),
            rate_per_minute: None,
        };
        let instance = store
            .create_instance(&input, 0)
            .await
            .context("cannot create an instance")?;
        targets.push(Target {
            instance_id: instance.id,
            group_id: None,
        });
    }
    Ok(targets)
}

/// CPU seconds of this process so far.
fn process_cpu() -> f64 {
    crate::proc::cpu_secs(Path::new("/proc/self/stat"), crate::proc::USER_HZ)
}

/// CPU seconds used by sqlx's SQLite threads since the `before` snapshot, thread by thread (the
/// threads of an earlier round's store may end during this one).
fn sqlite_cpu_since(before: &HashMap<String, (String, f64)>) -> f64 {
    crate::proc::thread_cpu(&[std::process::id()], crate::proc::USER_HZ)
        .iter()
        .filter(|(_, (name, _))| name == SQLX_THREAD)
        .map(|(tid, (_, secs))| secs - before.get(tid).map_or(0.0, |(_, s)| *s))
        .sum()
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn print_table(args: &StoreBenchArgs, reports: &[RoundReport]) {
    println!(
        "`cargo xtask store-bench --batches {} --batch-events {} --instances {} --rounds {}` \
         (SQLite, one caller)\n",
        args.batches, args.batch_events, args.instances, args.rounds
    );
    println!(
        "| round | deliveries/s | events/s | intake per batch | record per batch | CPU per delivery | of it sqlx's SQLite threads |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, r) in reports.iter().enumerate() {
        let per_batch = |d: Duration| d.as_secs_f64() * 1e3 / args.batches as f64;
        let per_delivery = |s: f64| s * 1e6 / r.deliveries.max(1) as f64;
        println!(
            "| {} | {:.0} | {:.0} | {:.2} ms | {:.2} ms | {:.1} µs | {:.1} µs |",
            i + 1,
            rate(r.deliveries, r.wall),
            rate(r.deliveries / args.instances, r.wall),
            per_batch(r.intake),
            per_batch(r.record),
            per_delivery(r.cpu),
            per_delivery(r.sqlite_cpu),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_round_stores_and_records_every_delivery() {
        let args = StoreBenchArgs {
            batches: 3,
            batch_events: 5,
            instances: 2,
            rounds: 1,
        };
        let dir = std::env::temp_dir().join(format!(
            "flink-alert-store-bench-test-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let report = runtime.block_on(run_round(&args, &dir.join("t.db")));
        let _ = std::fs::remove_dir_all(&dir);
        let report = report.unwrap();
        assert_eq!(report.deliveries, 3 * 5 * 2);
        assert!(report.intake > Duration::ZERO && report.record > Duration::ZERO);
        assert!(report.wall >= report.intake + report.record);
    }
}
