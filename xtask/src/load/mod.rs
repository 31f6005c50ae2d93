//! `cargo xtask load`: a bounded, loopback-only load test of the real `alert-server` binary.
//!
//! What it does, in order:
//!
//! 1. starts a mock DingTalk robot (axum, on `127.0.0.1:0`, on its own thread with a
//!    single-threaded runtime so that its CPU time can be told apart from the load generator's).
//!    It answers `{"errcode":0,"errmsg":"ok"}` at once and records, for every request, which
//!    instance it came for (the webhook's `access_token=load<k>`) and which event it carries (the
//!    job id `load-NNNNNN` found in the body), with the arrival time;
//! 2. builds (`cargo build --release -p alert-server`, unless `--server-bin` is given) and starts
//!    the server as a child process on a free loopback port with a fresh SQLite database in a
//!    temporary directory and `FLINK_ALERT_LOG=warn` (every other `FLINK_ALERT_*` variable is
//!    removed from its environment), then waits for `GET /healthz`.
//!
//!    With `--database-url postgres://USER@HOST[:PORT]/DB` it instead creates a fresh database
//!    `fa_load_<random>` on that PostgreSQL server (with `psql`, connected to `DB`), gives it to
//!    the servers (through `FLINK_ALERT_DATABASE_URL`, so that a password stays out of `ps`) and
//!    drops it (`WITH (FORCE)`) at the end, also when the run fails. With `--replicas R` it
//!    starts R servers on that one database, each on its own loopback port with
//!    `FLINK_ALERT_REPLICA_ID=load-<i>`;
//! 3. creates K DingTalk instances pointing at the mock (`rate_per_minute: 0`, unlimited), one
//!    group holding them all and one binding `{"job":"*"}`, all through the first replica (with
//!    several, then waits [`CONFIG_SPREAD`] for the others' routing caches to see it);
//! 4. **phase A, throughput**: posts N `FAILED` events, each with its own job id, as fast as
//!    `--concurrency` requests in flight allow (round-robin over the replicas: event i goes to
//!    replica i mod R), then waits for the N×K robot requests. Reports
//!    events accepted per second, deliveries per second end to end (N×K ÷ time from the first
//!    POST to the last robot request), the rate between the 10th and 90th percentile arrivals,
//!    and checks that every (event, instance) pair arrived exactly once: missing pairs and
//!    duplicates are counted and reported, and the report starts with a `PASS`/`FAIL` verdict
//!    (FAIL, and a non-zero exit, when a pair is missing, was sent twice, a POST failed or a
//!    wait timed out);
//! 5. **phase B, latency**: posts events on a fixed schedule of `--rate` per second for
//!    `--duration-secs`, and reports the percentiles of the time from *just before the POST is
//!    sent* to the robot request for that (event, instance) (also from the 202 answer, and the
//!    POST's own round trip);
//! 6. reads each server's `VmRSS` (and `VmHWM`, the peak) from `/proc/<pid>/status` right after
//!    start and again after the load, once idle;
//! 7. stops the servers with SIGTERM (SIGKILL if one is still running after 15 s) and prints a
//!    Markdown report on stdout.
//!
//! To tell where the time goes, each phase also reports the CPU seconds of every server
//! replica, of PostgreSQL (every process of the machine named `postgres`: its backends, the
//! ones serving the load's database counted apart, and its WAL writer, checkpointer, …), of the
//! load generator, of the mock robot and of every other process of the machine (`/proc`), the
//! servers' busiest threads (the Tokio workers, SQLite's connection threads), and prints on
//! stderr a per-second timeline of accepted events and robot requests. On PostgreSQL it also
//! reports the load database's transaction and row counters (`pg_stat_database`, read after
//! the servers stopped). `--quiet-wait-secs S` first waits (at most S s) for the machine to be
//! quiet, and the report says whether it was: the servers share the cores with everything else.
//!
//! `cargo xtask` builds xtask in the dev profile; `load` runs itself again with `cargo run
//! --release` so that an unoptimized load generator does not take CPU from the server.
//!
//! Everything is bounded: fixed counts and durations, a timeout on every wait, every address is
//! `127.0.0.1`. Linux only (it reads `/proc`).

mod args;
mod mock;
pub(crate) mod pg;
mod phases;
mod procfs;
mod report;
pub(crate) mod server;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use clap::Parser;

use crate::proc::Stopped;
use args::LoadArgs;
use mock::{Mock, Recorder};
use pg::PgDb;
use phases::drive;
use procfs::wait_quiet;
use server::Server;

/// How long the server may take to answer `/healthz` after it was started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on one API request of the load generator.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on the requests in flight in phase B (the schedule slips, and says so, beyond it).
const PHASE_B_IN_FLIGHT: usize = 1024;
/// After the last expected robot request, how long to keep listening for duplicates.
const SETTLE: Duration = Duration::from_millis(500);
/// After the load, how long the server is left alone before its idle RSS and CPU are read.
const IDLE_WAIT: Duration = Duration::from_secs(5);
/// The prefix of every job id the load test sends (`load-000123`).
const JOB_PREFIX: &str = "load-";
/// With several replicas, the wait after configuring through the first one: the others'
/// routing caches are re-read after 1 s (`RoutingCache`'s TTL in alert-server).
const CONFIG_SPREAD: Duration = Duration::from_millis(2_500);
/// Bound on one `psql` command (create, size or drop of the load's PostgreSQL database).
const PSQL_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cargo xtask load`; `args` are the words after `load`.
pub fn run(args: &[String]) -> Result<()> {
    // `cargo xtask` builds xtask without optimizations; the load generator shares the CPU with
    // the server, so it runs itself again as an optimized build rather than steal cycles.
    if cfg!(debug_assertions) && std::env::var_os("XTASK_LOAD_DEBUG").is_none() {
        eprintln!(
            "load: running the load generator as a release build (XTASK_LOAD_DEBUG=1 skips this)"
        );
        let mut cargo_args = vec!["run", "--release", "--quiet", "-p", "xtask", "--", "load"];
        cargo_args.extend(args.iter().map(String::as_str));
        return crate::cargo(&cargo_args);
    }
    let args =
        LoadArgs::parse_from(std::iter::once("cargo xtask load".to_owned()).chain(args.to_vec()));
    ensure!(
        args.database_url.is_some() || args.replicas == 1,
        "--replicas {} needs --database-url postgres://…: a SQLite database belongs to one process",
        args.replicas
    );
    let bin = match &args.server_bin {
        Some(path) => path.clone(),
        None => {
            crate::cargo(&["build", "--release", "-p", "alert-server"])?;
            target_dir().join("release").join("alert-server")
        }
    };
    ensure!(bin.is_file(), "server binary {} not found", bin.display());
    // The server runs in the temporary directory: a relative path would no longer resolve.
    let bin =
        std::fs::canonicalize(&bin).with_context(|| format!("cannot resolve {}", bin.display()))?;

    let dir = std::env::temp_dir().join(format!(
        "flink-alert-load-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = (|| {
        // Dropped (the database with it) after `run_in` has stopped the servers, also on error.
        let pg = args.database_url.as_deref().map(PgDb::create).transpose()?;
        run_in(&args, &bin, &dir, pg.as_ref())
    })();
    if result.is_err() || args.keep {
        eprintln!("kept {} (database and server logs)", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

/// The load test proper, with the servers' files in `dir` and their database in `pg` (when
/// given) or a SQLite file in `dir`.
fn run_in(args: &LoadArgs, bin: &Path, dir: &Path, pg: Option<&PgDb>) -> Result<()> {
    let quiet = wait_quiet(Duration::from_secs(args.quiet_wait_secs));
    eprintln!("machine: {quiet}");
    let total_b = args.rate * args.duration_secs;
    let recorder = Arc::new(Recorder::new(
        usize::try_from(args.events + total_b)?,
        usize::try_from(args.instances)?,
    ));
    let mock = Mock::start(Arc::clone(&recorder))?;
    let db_url = pg.map_or_else(
        || format!("sqlite://{}", dir.join("load.db").display()),
        |pg| pg.url.clone(),
    );
    // Free ports: bind them all, note them, release them (the servers bind them a moment later).
    let listeners = (0..args.replicas)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("cannot find free ports")?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?;
    drop(listeners);
    let mut servers = Vec::new();
    for (i, port) in ports.into_iter().enumerate() {
        servers.push(Server::start(bin, dir, i, port, &db_url)?);
    }
    for server in &servers {
        eprintln!(
            "server {} pid {} on {}",
            server.replica, server.pid, server.base
        );
    }
    eprintln!(
        "mock robot on {}, database {}, files in {}",
        mock.addr,
        pg.map_or_else(|| "SQLite".to_owned(), |pg| pg.shown.clone()),
        dir.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(drive(
        quiet,
        args,
        &mut servers,
        &mock,
        &recorder,
        pg.map(|pg| pg.name.as_str()),
    ));
    let stops: Vec<Result<Stopped>> = servers.iter_mut().map(Server::stop).collect();
    mock.stop();
    let mut report = outcome?;
    let stops = stops.into_iter().collect::<Result<Vec<_>>>()?;
    let logs: Vec<String> = servers
        .iter()
        .map(|s| std::fs::read_to_string(&s.log).unwrap_or_default())
        .collect();
    let log_lines: Vec<usize> = logs.iter().map(|l| l.lines().count()).collect();
    let db_bytes = match pg {
        Some(pg) => pg.size(),
        None => Some(db_size(dir)),
    };
    report.pg_stats = pg.and_then(PgDb::stats);
    print!(
        "{}",
        report.markdown(args, bin, pg, &stops, &log_lines, db_bytes)
    );
    for (server, log) in servers.iter().zip(&logs) {
        if log.lines().count() > 0 {
            eprintln!(
                "{} log ({} lines, first 10):",
                server.replica,
                log.lines().count()
            );
            for line in log.lines().take(10) {
                eprintln!("  {line}");
            }
        }
    }
    let failures = report.failures();
    if !failures.is_empty() {
        bail!("FAIL: {}", failures.join("; "));
    }
    Ok(())
}

/// Where cargo puts build output.
pub(crate) fn target_dir() -> PathBuf {
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

/// The database file and its WAL, in bytes.
fn db_size(dir: &Path) -> u64 {
    ["load.db", "load.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}
