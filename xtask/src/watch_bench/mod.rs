//! `cargo xtask watch-bench`: what watching many Flink clusters costs the real `alert-server`
//! binary, and how long a job change takes to reach the channel. Loopback only, bounded.
//!
//! What it does, in order:
//!
//! 1. starts, on one thread of its own (a single-threaded runtime, so that its CPU time can be
//!    told apart), a **mock Flink** serving `--clusters` JobManagers under path prefixes
//!    (`http://127.0.0.1:PORT/c17` is cluster 17): `GET /c{n}/jobs/overview` lists `--jobs` jobs
//!    in the shape of Flink 2.3 (all RUNNING at first, `last-modification` fixed so that no
//!    detail is fetched), `GET /c{n}/jobs/{id}/exceptions` an empty history and
//!    `GET /c{n}/jobs/{id}/checkpoints` the statistics of a job without checkpoints (a capture of
//!    Flink 2.3); and a **mock DingTalk robot** answering `{"errcode":0,"errmsg":"ok"}` that
//!    records when each request arrives and which flipped job it names;
//! 2. builds (`cargo build --release -p alert-server`, unless `--server-bin`) and starts the
//!    server on a free loopback port with a fresh SQLite database in a temporary directory and
//!    `FLINK_ALERT_LOG=warn`, waits for `/healthz`, and measures it idle for 5 s;
//! 3. creates one DingTalk instance (`rate_per_minute: 0`) on the mock robot, a group and a
//!    binding `{"job":"*"}`, and registers the clusters (`poll_interval_ms` = `--interval-ms`);
//! 4. lets the watchers settle for two intervals (and until every cluster was polled twice),
//!    then measures for `--duration-s`: the server's CPU time (`/proc/<pid>/stat`, also split by
//!    thread), its `VmRSS` (sampled twice a second) and `VmHWM`, and the overview polls the mock
//!    served (≈ clusters ÷ interval when the watchers keep up);
//! 5. during that window, `--flips` times (in equal slots of the window, at a random point of
//!    each, on different clusters: so at random offsets from each cluster's poll phase) turns one
//!    RUNNING job CANCELED, and measures the time from the flip to the robot request naming that
//!    job, split into *waiting for the next poll* (flip → the first overview request served
//!    after it) and *the server's own part* (that request → the robot request);
//! 6. stops the server (SIGTERM, SIGKILL after 15 s) and prints a Markdown report on stdout.
//!
//! With `--health` (issue 18), the binding also lists every health condition
//! (`CHECKPOINT_FAILED`, `CHECKPOINT_SLOW`, `EXCEPTION`, `TASKMANAGER_LOST`), every mock job
//! checkpoints every `--checkpoint-interval-ms` (statistics computed from the clock, shaped
//! like the Flink 2.3 captures), `/c{n}/taskmanagers` lists 4 TaskManagers, and `--problems`
//! times during the window (own slots, random points) one problem is injected in turn: a job's
//! checkpoints start failing (the threshold, 3 in a row, is crossed when the third failure
//! shows), a job fails over with a new exception-history entry (`last-modification` moves),
//! or a TaskManager disappears. For each, the report counts the polls of its cluster from the
//! crossing to the robot request naming it (the job id, or the TaskManager's id), and the time.
//! `--health-reads` sets the server's `watch.health_reads_per_poll`.
//!
//! Every wait has a timeout; every address is `127.0.0.1`. Linux only (it reads `/proc`).

mod args;
mod drive;
mod health;
mod health_report;
mod mock;
mod procfs;
mod report;
mod rng;
mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{ensure, Context, Result};
use clap::Parser;

use args::BenchArgs;
use drive::drive;
use mock::{MockState, Mocks};
use server::Server;

/// How long the server may take to answer `/healthz` after it was started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one API request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The idle server is measured this long before any cluster is registered.
const IDLE_WAIT: Duration = Duration::from_secs(5);
/// How often `VmRSS` is sampled during the window.
const RSS_EVERY: Duration = Duration::from_millis(500);
/// How often the RSS is also printed on stderr during the window.
const RSS_LOG_EVERY: Duration = Duration::from_secs(5);
/// After the settling time, how much longer to wait for every cluster's second poll.
const SETTLE_SLACK: Duration = Duration::from_secs(60);
/// After the last flip, how long (beyond one interval) to wait for its robot request.
const ARRIVAL_SLACK: Duration = Duration::from_secs(15);
/// Allowed time from the poll that sees a change to the channel request (the target).
const PIPELINE_BUDGET: Duration = Duration::from_millis(200);

/// Runs `cargo xtask watch-bench`; `args` are the words after `watch-bench`.
pub fn run(args: &[String]) -> Result<()> {
    // `cargo xtask` builds xtask without optimizations; the mocks share the CPU with the
    // server, so the bench runs itself again as an optimized build.
    if cfg!(debug_assertions) && std::env::var_os("XTASK_WATCH_BENCH_DEBUG").is_none() {
        eprintln!("watch-bench: running as a release build (XTASK_WATCH_BENCH_DEBUG=1 skips this)");
        let mut cargo_args = vec![
            "run",
            "--release",
            "--quiet",
            "-p",
            "xtask",
            "--",
            "watch-bench",
        ];
        cargo_args.extend(args.iter().map(String::as_str));
        return crate::cargo(&cargo_args);
    }
    let args = BenchArgs::parse_from(
        std::iter::once("cargo xtask watch-bench".to_owned()).chain(args.to_vec()),
    );
    ensure!(
        u64::from(args.flips) <= u64::from(args.clusters) * u64::from(args.jobs),
        "--flips cannot exceed clusters × jobs"
    );
    let bin = match &args.server_bin {
        Some(path) => path.clone(),
        None => {
            crate::cargo(&["build", "--release", "-p", "alert-server"])?;
            target_dir().join("release").join("alert-server")
        }
    };
    ensure!(bin.is_file(), "server binary {} not found", bin.display());
    let bin =
        std::fs::canonicalize(&bin).with_context(|| format!("cannot resolve {}", bin.display()))?;
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| {
            u64::try_from(d.as_nanos() % u128::from(u64::MAX)).unwrap_or(1)
        })
    });

    let dir = std::env::temp_dir().join(format!(
        "flink-alert-watch-bench-{}-{}",
        std::process::id(),
        epoch_ms()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;

    let interval = args
        .health
        .then(|| i64::try_from(args.checkpoint_interval_ms))
        .transpose()?;
    let mock = Arc::new(MockState::new(args.clusters, args.jobs, seed, interval));
    let mocks = Mocks::start(Arc::clone(&mock))?;
    let env: Vec<(&str, String)> = args
        .health_reads
        .map(|n| ("FLINK_ALERT_WATCH__HEALTH_READS_PER_POLL", n.to_string()))
        .into_iter()
        .collect();
    let mut server = Server::start(&bin, &dir, &env)?;
    eprintln!(
        "server pid {} on {}, mock Flink on {}, mock robot on {}, database in {}, seed {seed}",
        server.pid,
        server.base,
        mocks.flink,
        mocks.robot,
        dir.display()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(drive(&args, &mut server, &mocks, &mock, seed));
    let stop = server.stop();
    mocks.stop();
    let report = match outcome {
        Ok(report) => report,
        Err(e) => {
            eprintln!("server log: {}", server.log.display());
            return Err(e);
        }
    };
    let stop = stop?;
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    print!(
        "{}",
        report.markdown(&args, &bin, &stop, log.lines().count(), seed)
    );
    if log.lines().count() > 0 {
        eprintln!("server log ({} lines, first 10):", log.lines().count());
        for line in log.lines().take(10) {
            eprintln!("  {line}");
        }
    }
    if args.keep {
        eprintln!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).ok();
    }
    Ok(())
}

/// Where cargo puts build output.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map_or_else(
            || crate::workspace_root().join("target"),
            |p| {
                if p.is_absolute() {
                    p
                } else {
                    crate::workspace_root().join(p)
                }
            },
        )
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
