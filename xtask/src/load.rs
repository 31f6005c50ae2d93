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

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::proc::Stopped;

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat` (100 on every mainstream
/// architecture; `getconf CLK_TCK`).
const USER_HZ: f64 = 100.0;
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

/// `cargo xtask load`: load test of alert-server on loopback (see `xtask/src/load.rs`).
#[derive(Debug, Parser)]
#[command(name = "cargo xtask load")]
struct LoadArgs {
    /// Phase A: events posted as fast as possible.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    events: u64,
    /// Phase B: events per second, on a fixed schedule.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    rate: u64,
    /// Phase B: how long to post at --rate, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    duration_secs: u64,
    /// DingTalk instances in the group: every event becomes this many robot requests.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=50))]
    instances: u64,
    /// Phase A: POSTs in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    concurrency: u64,
    /// Give up waiting for a phase's robot requests after this many seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    drain_timeout_secs: u64,
    /// PostgreSQL server to use instead of SQLite, as the URL of an existing database to
    /// connect to (`postgres://postgres@127.0.0.1:5432/test`): the run creates a database
    /// `fa_load_<random>` there for the servers and drops it at the end. Needs `psql`.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Server processes on the one database (PostgreSQL only beyond 1); events are posted to
    /// them round-robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    replicas: u64,
    /// Before starting, wait up to this many seconds for the machine to be quiet (under 20 %
    /// of its cores busy for 5 s in a row), and say in the report whether it was; 0: start at
    /// once.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    quiet_wait_secs: u64,
    /// The server binary to run (default: build and run target/release/alert-server).
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Keep the temporary directory (database and server log) for a look afterwards.
    #[arg(long)]
    keep: bool,
}

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

/// The database file and its WAL, in bytes.
fn db_size(dir: &Path) -> u64 {
    ["load.db", "load.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

// ---------------------------------------------------------------------------------------------
// The PostgreSQL database of a run

/// A database `fa_load_<random>` created for one run on a PostgreSQL server, dropped (with
/// `WITH (FORCE)`, closing whatever connections are left) when this is dropped.
#[derive(Debug)]
struct PgDb {
    /// The URL given (an existing database on the server), for `CREATE`/`DROP DATABASE`.
    admin: String,
    name: String,
    /// The new database's URL, for the servers.
    url: String,
    /// `url` with its password masked, for the report.
    shown: String,
    /// `admin` with its password masked, for the report.
    admin_shown: String,
}

impl PgDb {
    fn create(admin: &str) -> Result<Self> {
        let mut url = reqwest::Url::parse(admin).context("--database-url is not a URL")?;
        ensure!(
            matches!(url.scheme(), "postgres" | "postgresql"),
            "--database-url must be postgres://USER@HOST[:PORT]/DB (SQLite is the default)"
        );
        let random = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos()),
            );
            h.finish()
        };
        let name = format!("fa_load_{random:016x}");
        psql(admin, &format!("CREATE DATABASE {name}"))
            .with_context(|| format!("cannot create database {name}"))?;
        let masked = |url: &reqwest::Url| {
            let mut url = url.clone();
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        };
        let admin_shown = masked(&url);
        url.set_path(&format!("/{name}"));
        let shown = masked(&url);
        eprintln!("created database {name}");
        Ok(Self {
            admin: admin.to_owned(),
            name,
            url: url.to_string(),
            shown,
            admin_shown,
        })
    }

    /// The database's transaction and row counters (`pg_stat_database`), read once the servers
    /// have exited (their backends flush their counters when they end).
    fn stats(&self) -> Option<PgStats> {
        let out = psql(
            &self.admin,
            &format!(
                "SELECT xact_commit, xact_rollback, tup_inserted, tup_updated, tup_deleted \
                 FROM pg_stat_database WHERE datname = '{}'",
                self.name
            ),
        )
        .ok()?;
        let v: Vec<u64> = out
            .trim()
            .split('|')
            .filter_map(|f| f.parse().ok())
            .collect();
        match v.as_slice() {
            &[commits, rollbacks, inserted, updated, deleted] => Some(PgStats {
                commits,
                rollbacks,
                inserted,
                updated,
                deleted,
            }),
            _ => None,
        }
    }

    /// `pg_database_size`, in bytes.
    fn size(&self) -> Option<u64> {
        psql(
            &self.admin,
            &format!("SELECT pg_database_size('{}')", self.name),
        )
        .ok()?
        .trim()
        .parse()
        .ok()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        match psql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        ) {
            Ok(_) => eprintln!("dropped database {}", self.name),
            Err(e) => eprintln!("could not drop database {}: {e:#}", self.name),
        }
    }
}

/// `pg_stat_database` counters of the load's database over the whole run (setup included).
#[derive(Debug, Clone, Copy)]
struct PgStats {
    commits: u64,
    rollbacks: u64,
    inserted: u64,
    updated: u64,
    deleted: u64,
}

/// Runs one SQL command with `psql` on `url`, within [`PSQL_TIMEOUT`]; its output.
fn psql(url: &str, sql: &str) -> Result<String> {
    let mut child = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .env("PGCONNECT_TIMEOUT", "10")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run psql (the PostgreSQL client; apt-get install postgresql-client)")?;
    let deadline = Instant::now() + PSQL_TIMEOUT;
    while child.try_wait()?.is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("psql did not finish within {} s", PSQL_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "psql: {} ({})",
        String::from_utf8_lossy(&out.stderr).trim(),
        out.status
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

// ---------------------------------------------------------------------------------------------
// The mock robot

/// What the mock robot saw, per (event, instance) slot.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// Requests received for this pair (1 when all is well).
    count: u32,
    /// Arrival of the first one, ns since [`Recorder::epoch`].
    first_ns: u64,
}

/// Shared by the mock robot (writes) and the load generator (reads).
#[derive(Debug)]
struct Recorder {
    /// The time origin of every timestamp of the run.
    epoch: Instant,
    instances: usize,
    /// Index `event * instances + instance`.
    slots: Mutex<Vec<Slot>>,
    /// Slots with at least one request.
    filled: AtomicUsize,
    /// Every request to the robot.
    requests: AtomicU64,
    /// Requests whose instance or job id could not be recognized.
    unmatched: AtomicU64,
}

impl Recorder {
    fn new(events: usize, instances: usize) -> Self {
        Self {
            epoch: Instant::now(),
            instances,
            slots: Mutex::new(vec![Slot::default(); events * instances]),
            filled: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn record(&self, instance: Option<usize>, event: Option<usize>) {
        let at = self.now_ns();
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut slots = self.slots.lock().expect("not poisoned");
        let slot = match (instance, event) {
            (Some(k), Some(e)) if k < self.instances => slots.get_mut(e * self.instances + k),
            _ => None,
        };
        let Some(slot) = slot else {
            self.unmatched.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if slot.count == 0 {
            slot.first_ns = at;
            self.filled.fetch_add(1, Ordering::Relaxed);
        }
        slot.count += 1;
    }

    /// Waits (polling) until `target` slots are filled or `timeout` passes; true when reached.
    async fn wait_filled(&self, target: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.filled.load(Ordering::Relaxed) < target {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        true
    }

    /// A copy of the slots of events `events` (all instances).
    fn slots(&self, events: std::ops::Range<usize>) -> Vec<Slot> {
        let slots = self.slots.lock().expect("not poisoned");
        slots[events.start * self.instances..events.end * self.instances].to_vec()
    }
}

/// The first `load-<digits>` in `body`, as a number.
fn job_number(body: &[u8]) -> Option<usize> {
    let prefix = JOB_PREFIX.as_bytes();
    let mut rest = body;
    while let Some(at) = rest.windows(prefix.len()).position(|w| w == prefix) {
        let digits: &[u8] = &rest[at + prefix.len()..];
        let len = digits.iter().take_while(|b| b.is_ascii_digit()).count();
        if len > 0 {
            return std::str::from_utf8(&digits[..len]).ok()?.parse().ok();
        }
        rest = digits;
    }
    None
}

/// The job id of event number `n`.
fn job_id(n: usize) -> String {
    format!("{JOB_PREFIX}{n:06}")
}

async fn robot(
    State(recorder): State<Arc<Recorder>>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Json<Value> {
    let instance = query
        .get("access_token")
        .and_then(|t| t.strip_prefix("load"))
        .and_then(|k| k.parse().ok());
    recorder.record(instance, job_number(&body));
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

/// The mock DingTalk robot, on its own thread and single-threaded runtime.
struct Mock {
    addr: SocketAddr,
    /// `/proc/self/task/<tid>/stat` of its thread, for its CPU time.
    stat: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mock {
    fn start(recorder: Arc<Recorder>) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("mock robot: cannot bind")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<PathBuf, String>>();
        let thread = std::thread::Builder::new()
            .name("mock-robot".into())
            .spawn(move || {
                let started = (|| {
                    let stat = std::fs::read_link("/proc/thread-self")
                        .map_err(|e| format!("cannot find the thread id: {e}"))?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>((Path::new("/proc").join(stat).join("stat"), runtime))
                })();
                let (stat, runtime) = match started {
                    Ok(ok) => ok,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(stat));
                    let app = Router::new()
                        .route("/robot/send", post(robot))
                        .with_state(recorder);
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("mock robot failed: {e}");
                    }
                });
            })
            .context("cannot start the mock robot thread")?;
        let stat = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("mock robot did not start")?
            .map_err(|e| anyhow::anyhow!("mock robot: {e}"))?;
        Ok(Self {
            addr,
            stat,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The webhook of instance `k`.
    fn webhook(&self, k: u64) -> String {
        format!("http://{}/robot/send?access_token=load{k}", self.addr)
    }

    /// Stops serving; waits up to 5 s for the thread (it is left behind after that).
    fn stop(mut self) {
        crate::proc::stop_thread(self.stop.take(), self.thread.take());
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// One child `alert-server`; killed on drop if still running.
struct Server {
    child: Child,
    pid: u32,
    /// Its `FLINK_ALERT_REPLICA_ID`, `load-<i>`.
    replica: String,
    /// `http://127.0.0.1:<port>`
    base: String,
    log: PathBuf,
}

impl Server {
    /// Replica `index` on `port`, on the database `db_url`, its output in `dir/server-<index>.log`.
    fn start(bin: &Path, dir: &Path, index: usize, port: u16, db_url: &str) -> Result<Self> {
        let replica = format!("load-{index}");
        let log = dir.join(format!("server-{index}.log"));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FLINK_ALERT_") {
                command.env_remove(key);
            }
        }
        command
            .env("FLINK_ALERT_LOG", "warn")
            // In the environment rather than on the command line: a password stays out of `ps`.
            .env("FLINK_ALERT_DATABASE_URL", db_url)
            .env("FLINK_ALERT_REPLICA_ID", &replica);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            pid: child.id(),
            child,
            replica,
            base: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    /// Waits for `GET /healthz` to answer 200.
    async fn wait_healthy(&mut self, client: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = format!("{}/healthz", self.base);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited at start ({status}); see {}",
                    self.replica,
                    self.log.display()
                );
            }
            let answer = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not answer /healthz within {} s",
                    self.replica,
                    STARTUP_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`crate::proc::STOP_TIMEOUT`].
    fn stop(&mut self) -> Result<Stopped> {
        crate::proc::terminate(&mut self.child, self.pid, &self.replica)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::proc::kill_if_running(&mut self.child);
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

/// `VmRSS` and `VmHWM` of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

fn memory(pid: u32) -> Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    })
}

/// User + system CPU seconds from a `/proc/.../stat` file (a process or one thread).
fn cpu_secs(stat: &Path) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at field 3; utime is 14.
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    #[allow(clippy::cast_precision_loss)]
    let secs = (ticks(11) + ticks(12)) as f64 / USER_HZ;
    secs
}

/// CPU seconds used so far by each server, PostgreSQL's processes, the load generator and the
/// mock robot, and the machine; [`CpuSnap::since`] makes a [`Cpu`] of two of them.
#[derive(Debug, Clone, Default)]
struct CpuSnap {
    servers: Vec<f64>,
    /// Every `postgres` process by pid: whether it serves the load's database, its seconds.
    postgres: HashMap<u32, (bool, f64)>,
    generator: f64,
    mock: f64,
    machine: f64,
}

/// CPU seconds used in a phase.
#[derive(Debug, Clone, Default)]
struct Cpu {
    /// Per server replica, in replica order.
    servers: Vec<f64>,
    /// Every process named `postgres` (backends of any database, WAL writer, checkpointer, …).
    postgres: f64,
    /// Of which the backends connected to the load's database.
    postgres_load: f64,
    generator: f64,
    mock: f64,
    /// Every process of the machine (`/proc/stat`: all but idle and iowait).
    machine: f64,
}

/// The CPU seconds of every process named `postgres`, by pid, and whether its title (`postgres:
/// USER DB HOST(PORT) STATE`) names the database `db`.
fn postgres_cpu(db: Option<&str>) -> HashMap<u32, (bool, f64)> {
    let mut found = HashMap::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let path = entry.path();
        if std::fs::read_to_string(path.join("comm")).map_or(true, |c| c.trim() != "postgres") {
            continue;
        }
        let ours = db.is_some_and(|db| {
            std::fs::read(path.join("cmdline")).is_ok_and(|c| {
                String::from_utf8_lossy(&c)
                    .split(|ch: char| ch.is_whitespace() || ch == '\0')
                    .any(|word| word == db)
            })
        });
        found.insert(pid, (ours, cpu_secs(&path.join("stat"))));
    }
    found
}

/// Busy CPU seconds of the whole machine since boot, from the first line of `/proc/stat`.
fn machine_busy_secs() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest times are inside user already).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    #[allow(clippy::cast_precision_loss)]
    let secs = busy as f64 / USER_HZ;
    secs
}

impl CpuSnap {
    fn now(servers: &[u32], mock: &Mock, db: Option<&str>) -> Self {
        let mock_secs = cpu_secs(&mock.stat);
        Self {
            servers: servers
                .iter()
                .map(|pid| cpu_secs(Path::new(&format!("/proc/{pid}/stat"))))
                .collect(),
            postgres: postgres_cpu(db),
            generator: cpu_secs(Path::new("/proc/self/stat")) - mock_secs,
            mock: mock_secs,
            machine: machine_busy_secs(),
        }
    }

    /// What was used from `before` to `self`. A `postgres` process that started in between
    /// counts whole; one that exited in between is missed (the servers' pools keep theirs).
    fn since(&self, before: &Self) -> Cpu {
        let (mut postgres, mut postgres_load) = (0.0, 0.0);
        for (pid, (ours, secs)) in &self.postgres {
            let used = secs - before.postgres.get(pid).map_or(0.0, |(_, s)| *s);
            postgres += used;
            if *ours {
                postgres_load += used;
            }
        }
        Cpu {
            servers: self
                .servers
                .iter()
                .zip(&before.servers)
                .map(|(a, b)| a - b)
                .collect(),
            postgres,
            postgres_load,
            generator: self.generator - before.generator,
            mock: self.mock - before.mock,
            machine: self.machine - before.machine,
        }
    }
}

impl Cpu {
    fn server_total(&self) -> f64 {
        self.servers.iter().sum()
    }

    /// "servers 1.2 s (61 %: load-0 …), PostgreSQL …, load generator …, other processes …"
    /// over `wall`.
    fn describe(&self, wall: Duration) -> String {
        let pct = |s: f64| 100.0 * s / wall.as_secs_f64().max(1e-9);
        let server = self.server_total();
        let other = (self.machine - server - self.postgres - self.generator - self.mock).max(0.0);
        let per_replica = if self.servers.len() > 1 {
            let each: Vec<String> = self
                .servers
                .iter()
                .enumerate()
                .map(|(i, s)| format!("load-{i} {:.0} %", pct(*s)))
                .collect();
            format!(": {}", each.join(", "))
        } else {
            String::new()
        };
        format!(
            "server {server:.1} s ({:.0} %{per_replica}), PostgreSQL {:.1} s ({:.0} %; the load database's backends {:.0} %), load generator {:.1} s ({:.0} %), mock robot {:.1} s ({:.0} %), other processes {:.1} s ({:.0} %) of {:.1} s wall ({} cores = {} %)",
            pct(server),
            self.postgres,
            pct(self.postgres),
            pct(self.postgres_load),
            self.generator,
            pct(self.generator),
            self.mock,
            pct(self.mock),
            other,
            pct(other),
            wall.as_secs_f64(),
            cores(),
            cores() * 100,
        )
    }
}

/// CPU seconds of each thread of the processes `pids`, by thread id, with the thread's name.
fn thread_cpu(pids: &[u32]) -> HashMap<String, (String, f64)> {
    let mut threads = HashMap::new();
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            threads.insert(
                task.file_name().to_string_lossy().into_owned(),
                (name.trim().to_owned(), cpu_secs(&task.path().join("stat"))),
            );
        }
    }
    threads
}

/// The server's threads that used the most CPU between two [`thread_cpu`] snapshots, by
/// name (threads of one name summed: the runtime's workers share theirs), busiest first.
fn busiest_threads(
    before: &HashMap<String, (String, f64)>,
    after: &HashMap<String, (String, f64)>,
    wall: Duration,
) -> String {
    let mut by_name: HashMap<&str, (f64, f64, usize)> = HashMap::new();
    for (tid, (name, secs)) in after {
        let used = secs - before.get(tid).map_or(0.0, |(_, s)| *s);
        let entry = by_name.entry(name.as_str()).or_default();
        entry.0 += used;
        entry.1 = entry.1.max(used);
        entry.2 += 1;
    }
    let mut names: Vec<_> = by_name.into_iter().filter(|(_, v)| v.0 >= 0.01).collect();
    names.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    let pct = |s: f64| 100.0 * s / wall.as_secs_f64().max(1e-9);
    names
        .iter()
        .take(4)
        .map(|(name, (sum, max, count))| {
            if *count > 1 {
                format!(
                    "`{name}` ×{count} {:.0} % (busiest one {:.0} %)",
                    pct(*sum),
                    pct(*max)
                )
            } else {
                format!("`{name}` {:.0} %", pct(*sum))
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits, for at most `max`, until the machine has been under 20 % busy (all cores) for 5 s
/// in a row; says how that went.
fn wait_quiet(max: Duration) -> String {
    const WINDOW: usize = 5;
    if max.is_zero() {
        return "no wait for a quiet machine".to_owned();
    }
    let started = Instant::now();
    #[allow(clippy::cast_precision_loss)]
    let capacity = cores() as f64;
    let mut samples = vec![machine_busy_secs()];
    loop {
        std::thread::sleep(Duration::from_secs(1));
        samples.push(machine_busy_secs());
        if samples.len() > WINDOW {
            let busy = 100.0 * (samples[samples.len() - 1] - samples[samples.len() - 1 - WINDOW])
                / (WINDOW as f64 * capacity);
            if busy < 20.0 {
                return format!(
                    "quiet after {:.0} s ({busy:.0} % busy over 5 s)",
                    started.elapsed().as_secs_f64()
                );
            }
            if started.elapsed() >= max {
                return format!(
                    "NOT quiet within {} s ({busy:.0} % busy over the last 5 s)",
                    max.as_secs()
                );
            }
        }
    }
}

/// The 1, 5 and 15 minute load averages.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

// ---------------------------------------------------------------------------------------------
// The load

/// Everything measured.
#[derive(Debug, Default)]
struct Report {
    /// Per replica.
    rss_start: Vec<Memory>,
    rss_idle: Vec<Memory>,
    idle_cpu: Vec<f64>,
    a: PhaseA,
    b: PhaseB,
    requests: u64,
    unmatched: u64,
    /// `/proc/loadavg`'s first three fields when the servers were up.
    loadavg: String,
    /// How busy the machine was before the run ([`wait_quiet`]).
    quiet: String,
    /// The load database's counters, read after the servers stopped (PostgreSQL only).
    pg_stats: Option<PgStats>,
}

#[derive(Debug, Default)]
struct PhaseA {
    accept: Duration,
    rejected: u64,
    first_error: Option<String>,
    /// First POST to the last robot request (or to the timeout).
    end_to_end: Duration,
    /// Between the 10th and the 90th percentile arrival.
    p10_p90: Duration,
    complete: bool,
    missing: usize,
    duplicates: u64,
    cpu: Cpu,
    /// The server's busiest threads.
    threads: String,
}

#[derive(Debug, Default)]
struct PhaseB {
    events: usize,
    /// First to last scheduled send.
    sending: Duration,
    /// Worst delay of a send behind its schedule.
    max_lag: Duration,
    rejected: u64,
    first_error: Option<String>,
    complete: bool,
    missing: usize,
    duplicates: u64,
    /// Milliseconds, sorted.
    from_send: Vec<f64>,
    from_ack: Vec<f64>,
    /// Deliveries that reached the robot before the client had the 202.
    before_ack: usize,
    post_rtt: Vec<f64>,
    cpu: Cpu,
    threads: String,
    wall: Duration,
}

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

async fn drive(
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
    let threads0 = thread_cpu(&pids);
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
    let threads1 = thread_cpu(&pids);
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
    let threads0 = thread_cpu(&pids);
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
    report.b.threads = busiest_threads(&threads0, &thread_cpu(&pids), report.b.wall);
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

// ---------------------------------------------------------------------------------------------
// The report

/// Events accepted (202 received) and robot requests, per second of a phase (ns offsets from
/// its start), one line per second, for stderr.
fn timeline(phase: &str, acks: &[u64], arrivals: &[u64]) -> String {
    let second = |ns: &u64| usize::try_from(ns / 1_000_000_000).unwrap_or(usize::MAX);
    let len = acks
        .iter()
        .chain(arrivals)
        .map(second)
        .max()
        .map_or(0, |s| s + 1);
    let (mut accepted, mut delivered) = (vec![0_u64; len], vec![0_u64; len]);
    acks.iter().for_each(|ns| accepted[second(ns)] += 1);
    arrivals.iter().for_each(|ns| delivered[second(ns)] += 1);
    let mut out = format!("{phase}, per second: accepted events / robot requests\n");
    for (s, (a, d)) in accepted.iter().zip(&delivered).enumerate() {
        let _ = writeln!(out, "  {s:>3} s: {a:>6} / {d:>6}");
    }
    out
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn distribution(sorted: &[f64]) -> String {
    format!(
        "p50 {:.1} / p90 {:.1} / p99 {:.1} / max {:.1} ms",
        percentile(sorted, 50.0),
        percentile(sorted, 90.0),
        percentile(sorted, 99.0),
        sorted.last().copied().unwrap_or(f64::NAN)
    )
}

fn per_sec(count: f64, d: Duration) -> f64 {
    count / d.as_secs_f64().max(1e-9)
}

fn mib(kib: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let m = kib as f64 / 1024.0;
    format!("{m:.1} MiB")
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "✅"
    } else {
        "❌"
    }
}

impl Report {
    /// Why the run failed: missing or duplicate pairs, failed POSTs, timeouts (empty: passed).
    fn failures(&self) -> Vec<String> {
        let mut why = Vec::new();
        for (phase, missing, duplicates, rejected, complete) in [
            (
                "A",
                self.a.missing,
                self.a.duplicates,
                self.a.rejected,
                self.a.complete,
            ),
            (
                "B",
                self.b.missing,
                self.b.duplicates,
                self.b.rejected,
                self.b.complete,
            ),
        ] {
            if missing > 0 {
                why.push(format!(
                    "{phase}: {missing} (event, instance) pairs never delivered"
                ));
            }
            if duplicates > 0 {
                why.push(format!("{phase}: {duplicates} duplicate deliveries"));
            }
            if rejected > 0 {
                why.push(format!("{phase}: {rejected} POSTs failed"));
            }
            if !complete && missing == 0 {
                why.push(format!("{phase}: timed out"));
            }
        }
        if self.unmatched > 0 {
            why.push(format!("{} unrecognized robot requests", self.unmatched));
        }
        why
    }

    fn markdown(
        &self,
        args: &LoadArgs,
        bin: &Path,
        pg: Option<&PgDb>,
        stops: &[Stopped],
        log_lines: &[usize],
        db_bytes: Option<u64>,
    ) -> String {
        #[allow(clippy::cast_precision_loss)]
        let (n, k) = (args.events as f64, args.instances as f64);
        let a = &self.a;
        let b = &self.b;
        let deliveries_per_sec = per_sec(n * k, a.end_to_end);
        let p99 = percentile(&b.from_send, 99.0);
        let mut out = String::new();
        let mut row = |metric: &str, value: String| {
            let _ = writeln!(out, "| {metric} | {value} |");
        };
        let failures = self.failures();
        row(
            "verdict",
            if failures.is_empty() {
                "**PASS**: every (event, instance) pair delivered exactly once".to_owned()
            } else {
                format!("**FAIL** ❌: {}", failures.join("; "))
            },
        );
        row(
            "command",
            format!(
                "`cargo xtask load --events {} --instances {} --rate {} --duration-secs {} --concurrency {}{}{}`",
                args.events,
                args.instances,
                args.rate,
                args.duration_secs,
                args.concurrency,
                pg.map(|pg| format!(" --database-url {}", pg.admin_shown))
                    .unwrap_or_default(),
                if args.replicas > 1 {
                    format!(" --replicas {}", args.replicas)
                } else {
                    String::new()
                }
            ),
        );
        row(
            "server",
            format!(
                "{} × `{}` on {} ({} cores shared with {}the load generator and the mock robot; load average at start {}; before the run: {})",
                args.replicas,
                bin.display(),
                pg.map_or_else(|| "SQLite".to_owned(), |pg| format!("PostgreSQL, database `{}`", pg.name)),
                cores(),
                if pg.is_some() { "PostgreSQL, " } else { "" },
                self.loadavg,
                self.quiet
            ),
        );
        row(
            "A: events accepted",
            format!(
                "{} in {:.2} s = **{:.0} events/s** ({} rejected{})",
                args.events,
                a.accept.as_secs_f64(),
                per_sec(n, a.accept),
                a.rejected,
                a.first_error
                    .as_ref()
                    .map(|e| format!(", first: {e}"))
                    .unwrap_or_default()
            ),
        );
        row(
            "A: deliveries end to end",
            format!(
                "{:.0} robot requests in {:.2} s = **{deliveries_per_sec:.0} deliveries/s** {} (target ≥ 10000/s)",
                n * k,
                a.end_to_end.as_secs_f64(),
                verdict(deliveries_per_sec >= 10_000.0 && a.complete)
            ),
        );
        row(
            "A: deliveries, 10th→90th percentile arrival",
            format!("{:.0} deliveries/s", per_sec(0.8 * n * k, a.p10_p90)),
        );
        row(
            "A: exactly once",
            format!(
                "{} missing, {} duplicates{}",
                a.missing,
                a.duplicates,
                if a.complete { "" } else { " (timed out)" }
            ),
        );
        row("A: CPU", a.cpu.describe(a.end_to_end));
        row("A: busiest server threads", a.threads.clone());
        row(
            "B: schedule",
            format!(
                "{} events at {}/s, sent over {:.2} s (worst lag behind schedule {:.1} ms), {} rejected{}",
                b.events,
                args.rate,
                b.sending.as_secs_f64(),
                b.max_lag.as_secs_f64() * 1e3,
                b.rejected,
                b.first_error
                    .as_ref()
                    .map(|e| format!(", first: {e}"))
                    .unwrap_or_default()
            ),
        );
        row(
            "B: latency, before POST → robot request",
            format!(
                "**{}** {} (target p99 < 50 ms)",
                distribution(&b.from_send),
                verdict(p99 < 50.0 && b.complete)
            ),
        );
        row(
            "B: latency, 202 received → robot request",
            format!(
                "{} ({} of {} deliveries arrived before the client saw the 202; counted as 0)",
                distribution(&b.from_ack),
                b.before_ack,
                b.from_ack.len()
            ),
        );
        row("B: POST round trip", distribution(&b.post_rtt));
        row(
            "B: exactly once",
            format!(
                "{} missing, {} duplicates{}",
                b.missing,
                b.duplicates,
                if b.complete { "" } else { " (timed out)" }
            ),
        );
        row("B: CPU", b.cpu.describe(b.wall));
        row("B: busiest server threads", b.threads.clone());
        let each = |f: &dyn Fn(usize) -> String| -> String {
            (0..self.rss_start.len().max(self.rss_idle.len()))
                .map(|i| {
                    if self.rss_start.len() > 1 {
                        format!("load-{i} {}", f(i))
                    } else {
                        f(i)
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        row(
            "RSS after start (idle)",
            each(&|i| {
                let m = self.rss_start.get(i).copied().unwrap_or_default();
                format!("**{}** {}", mib(m.rss_kib), verdict(m.rss_kib < 30 * 1024))
            }),
        );
        row(
            "RSS after the load (idle)",
            format!(
                "{} (server CPU while idle over {} s)",
                each(&|i| {
                    let m = self.rss_idle.get(i).copied().unwrap_or_default();
                    format!(
                        "**{}** {} (peak VmHWM {}; {:.2} s CPU)",
                        mib(m.rss_kib),
                        verdict(m.rss_kib < 30 * 1024),
                        mib(m.peak_kib),
                        self.idle_cpu.get(i).copied().unwrap_or(0.0)
                    )
                }),
                IDLE_WAIT.as_secs()
            ),
        );
        #[allow(clippy::cast_precision_loss)]
        let db_mib = |b: u64| b as f64 / 1_048_576.0;
        row(
            "database",
            match (pg, db_bytes) {
                (None, Some(b)) => format!("{:.1} MiB (db + WAL)", db_mib(b)),
                (Some(_), Some(b)) => format!("{:.1} MiB (pg_database_size)", db_mib(b)),
                (_, None) => "size unknown".to_owned(),
            },
        );
        if let Some(st) = self.pg_stats {
            #[allow(clippy::cast_precision_loss)]
            let events = (args.events + args.rate * args.duration_secs) as f64;
            #[allow(clippy::cast_precision_loss)]
            let per = |v: u64| v as f64 / events;
            row(
                "PostgreSQL transactions (whole run)",
                format!(
                    "{} commits + {} rollbacks = {:.2} per event; rows inserted {}, updated {}, deleted {} ({:.1} / {:.1} per event)",
                    st.commits,
                    st.rollbacks,
                    per(st.commits + st.rollbacks),
                    st.inserted,
                    st.updated,
                    st.deleted,
                    per(st.inserted),
                    per(st.updated)
                ),
            );
        }
        row(
            "robot requests",
            format!("{} in all, {} unrecognized", self.requests, self.unmatched),
        );
        row(
            "shutdown",
            stops
                .iter()
                .map(|stop| {
                    format!(
                        "SIGTERM → exit in {:.2} s ({}, {})",
                        stop.took.as_secs_f64(),
                        if stop.graceful { "graceful" } else { "KILLED" },
                        stop.status
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        );
        row(
            "server log",
            format!(
                "{} lines at level warn",
                log_lines
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(" + ")
            ),
        );
        format!("| metric | value |\n|---|---|\n{out}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_job_number_in_a_robot_body() {
        let body = br#"{"msgtype":"markdown","markdown":{"text":"- **Job**: loadtest\n- **ID**: load-000123\n"}}"#;
        assert_eq!(job_number(body), Some(123));
        assert_eq!(job_number(b"load-x load-7"), Some(7));
        assert_eq!(job_number(b"nothing here"), None);
        assert_eq!(job_id(42), "load-000042");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((percentile(&v, 50.0) - 50.0).abs() < 1e-9);
        assert!((percentile(&v, 99.0) - 99.0).abs() < 1e-9);
        assert!((percentile(&v, 100.0) - 100.0).abs() < 1e-9);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn missing_pairs_and_duplicates_fail_the_run() {
        let mut report = Report::default();
        report.a.complete = true;
        report.b.complete = true;
        assert!(report.failures().is_empty());
        report.b.duplicates = 3;
        report.a.missing = 2;
        report.a.complete = false;
        let why = report.failures().join("; ");
        assert!(
            why.contains("A: 2 (event, instance) pairs never delivered"),
            "{why}"
        );
        assert!(why.contains("B: 3 duplicate deliveries"), "{why}");
        assert!(!why.contains("timed out"), "{why}");
    }

    #[test]
    fn records_each_pair_once_and_counts_repeats() {
        let r = Recorder::new(3, 2);
        r.record(Some(1), Some(2));
        r.record(Some(1), Some(2));
        r.record(Some(0), Some(0));
        r.record(Some(2), Some(0));
        r.record(None, Some(0));
        assert_eq!(r.filled.load(Ordering::Relaxed), 2);
        assert_eq!(r.unmatched.load(Ordering::Relaxed), 2);
        let slots = r.slots(0..3);
        assert_eq!(slots[5].count, 2);
        assert_eq!(slots[0].count, 1);
    }
}
