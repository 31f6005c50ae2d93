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
//!    removed from its environment), then waits for `GET /healthz`;
//! 3. creates K DingTalk instances pointing at the mock (`rate_per_minute: 0`, unlimited), one
//!    group holding them all and one binding `{"job":"*"}`;
//! 4. **phase A, throughput**: posts N `FAILED` events, each with its own job id, as fast as
//!    `--concurrency` requests in flight allow, then waits for the N×K robot requests. Reports
//!    events accepted per second, deliveries per second end to end (N×K ÷ time from the first
//!    POST to the last robot request), the rate between the 10th and 90th percentile arrivals,
//!    and checks that every (event, instance) pair arrived exactly once;
//! 5. **phase B, latency**: posts events on a fixed schedule of `--rate` per second for
//!    `--duration-secs`, and reports the percentiles of the time from *just before the POST is
//!    sent* to the robot request for that (event, instance) (also from the 202 answer, and the
//!    POST's own round trip);
//! 6. reads the server's `VmRSS` (and `VmHWM`, the peak) from `/proc/<pid>/status` right after
//!    start and again after the load, once idle;
//! 7. stops the server with SIGTERM (SIGKILL if it is still running after 15 s) and prints a
//!    Markdown report on stdout.
//!
//! To tell where the time goes, each phase also reports the CPU seconds of the server, of the
//! load generator, of the mock robot and of every other process of the machine (`/proc`), the
//! server's busiest threads (the Tokio workers, SQLite's connection threads), and prints on
//! stderr a per-second timeline of accepted events and robot requests.
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

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat` (100 on every mainstream
/// architecture; `getconf CLK_TCK`).
const USER_HZ: f64 = 100.0;
/// How long the server may take to answer `/healthz` after it was started.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
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
    let result = run_in(&args, &bin, &dir);
    if result.is_err() || args.keep {
        eprintln!("kept {} (database and server log)", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

/// The load test proper, with the server's files in `dir`.
fn run_in(args: &LoadArgs, bin: &Path, dir: &Path) -> Result<()> {
    let total_b = args.rate * args.duration_secs;
    let recorder = Arc::new(Recorder::new(
        usize::try_from(args.events + total_b)?,
        usize::try_from(args.instances)?,
    ));
    let mock = Mock::start(Arc::clone(&recorder))?;
    let mut server = Server::start(bin, dir)?;
    eprintln!(
        "server pid {} on {}, mock robot on {}, database in {}",
        server.pid,
        server.base,
        mock.addr,
        dir.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(drive(args, &mut server, &mock, &recorder));
    let stop = server.stop();
    mock.stop();
    let report = outcome?;
    let stop = stop?;
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    print!(
        "{}",
        report.markdown(args, bin, &stop, log.lines().count(), db_size(dir))
    );
    if log.lines().count() > 0 {
        eprintln!("server log ({} lines, first 10):", log.lines().count());
        for line in log.lines().take(10) {
            eprintln!("  {line}");
        }
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
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The server under test

/// The child `alert-server`; killed on drop if still running.
struct Server {
    child: Child,
    pid: u32,
    /// `http://127.0.0.1:<port>`
    base: String,
    log: PathBuf,
}

/// How the server stopped.
#[derive(Debug)]
struct Stopped {
    /// Time from SIGTERM to exit.
    took: Duration,
    /// False when it had to be killed.
    graceful: bool,
    status: String,
}

impl Server {
    fn start(bin: &Path, dir: &Path) -> Result<Self> {
        // A free port: bind, note it, release it (the server binds it a moment later).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free port")?
            .port();
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.join("load.db").display()))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FLINK_ALERT_") {
                command.env_remove(key);
            }
        }
        command.env("FLINK_ALERT_LOG", "warn");
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            pid: child.id(),
            child,
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
                bail!("the server exited at start ({status})");
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
                    "the server did not answer /healthz within {} s",
                    STARTUP_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`STOP_TIMEOUT`].
    fn stop(&mut self) -> Result<Stopped> {
        let asked = Instant::now();
        if let Some(status) = self.child.try_wait()? {
            bail!("the server had already exited ({status})");
        }
        // std has no way to send SIGTERM (and this workspace forbids unsafe): use kill(1).
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        ensure!(sent.success(), "kill -TERM {} failed", self.pid);
        while asked.elapsed() < STOP_TIMEOUT {
            if let Some(status) = self.child.try_wait()? {
                return Ok(Stopped {
                    took: asked.elapsed(),
                    graceful: true,
                    status: status.to_string(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        let status = self.child.wait()?;
        Ok(Stopped {
            took: asked.elapsed(),
            graceful: false,
            status: status.to_string(),
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
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

/// CPU seconds used so far by the server, the load generator and the mock robot.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: f64,
    generator: f64,
    mock: f64,
    /// Every process of the machine (`/proc/stat`: all but idle and iowait).
    machine: f64,
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

impl Cpu {
    fn now(server: u32, mock: &Mock) -> Self {
        let mock_secs = cpu_secs(&mock.stat);
        Self {
            server: cpu_secs(Path::new(&format!("/proc/{server}/stat"))),
            generator: cpu_secs(Path::new("/proc/self/stat")) - mock_secs,
            mock: mock_secs,
            machine: machine_busy_secs(),
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            server: self.server - before.server,
            generator: self.generator - before.generator,
            mock: self.mock - before.mock,
            machine: self.machine - before.machine,
        }
    }

    /// "server 1.2 s (61 %), load generator …, other processes …" over `wall`.
    fn describe(self, wall: Duration) -> String {
        let pct = |s: f64| 100.0 * s / wall.as_secs_f64().max(1e-9);
        let other = (self.machine - self.server - self.generator - self.mock).max(0.0);
        format!(
            "server {:.1} s ({:.0} %), load generator {:.1} s ({:.0} %), mock robot {:.1} s ({:.0} %), other processes {:.1} s ({:.0} %) of {:.1} s wall ({} cores = {} %)",
            self.server,
            pct(self.server),
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

/// CPU seconds of each thread of `pid`, by thread id, with the thread's name.
fn thread_cpu(pid: u32) -> HashMap<String, (String, f64)> {
    let mut threads = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        threads.insert(
            task.file_name().to_string_lossy().into_owned(),
            (name.trim().to_owned(), cpu_secs(&task.path().join("stat"))),
        );
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

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

// ---------------------------------------------------------------------------------------------
// The load

/// Everything measured.
#[derive(Debug, Default)]
struct Report {
    rss_start: Memory,
    rss_idle: Memory,
    idle_cpu: f64,
    a: PhaseA,
    b: PhaseB,
    requests: u64,
    unmatched: u64,
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
    args: &LoadArgs,
    server: &mut Server,
    mock: &Mock,
    recorder: &Arc<Recorder>,
) -> Result<Report> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .build()?;
    server.wait_healthy(&client).await?;
    let mut report = Report {
        rss_start: memory(server.pid)?,
        ..Report::default()
    };

    let api = format!("{}/api/v1", server.base);
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
    let events_url = format!("{api}/events");
    let drain = Duration::from_secs(args.drain_timeout_secs);
    let k = usize::try_from(args.instances)?;

    // Phase A: throughput.
    let n = usize::try_from(args.events)?;
    eprintln!(
        "phase A: {n} events, {} in flight, {k} instances",
        args.concurrency
    );
    let cpu0 = Cpu::now(server.pid, mock);
    let threads0 = thread_cpu(server.pid);
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
        let (client, url, rec, acks) = (
            client.clone(),
            events_url.clone(),
            Arc::clone(recorder),
            Arc::clone(&acks),
        );
        posts.spawn(async move {
            let r = post_event(&client, &url, i).await;
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
    let cpu1 = Cpu::now(server.pid, mock);
    let threads1 = thread_cpu(server.pid);
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
    report.a.cpu = cpu1.since(cpu0);
    report.a.threads = busiest_threads(&threads0, &threads1, report.a.end_to_end);

    // Phase B: latency at a fixed rate.
    let m = usize::try_from(args.rate * args.duration_secs)?;
    eprintln!(
        "phase B: {} events/s for {} s ({m} events)",
        args.rate, args.duration_secs
    );
    let cpu0 = Cpu::now(server.pid, mock);
    let threads0 = thread_cpu(server.pid);
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
        let (client, url, rec, timings) = (
            client.clone(),
            events_url.clone(),
            Arc::clone(recorder),
            Arc::clone(&timings),
        );
        posts.spawn(async move {
            let sent = rec.now_ns();
            let r = post_event(&client, &url, n + j).await;
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
    let cpu1 = Cpu::now(server.pid, mock);
    report.b.cpu = cpu1.since(cpu0);
    report.b.threads = busiest_threads(&threads0, &thread_cpu(server.pid), report.b.wall);
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
    let cpu0 = Cpu::now(server.pid, mock);
    tokio::time::sleep(IDLE_WAIT).await;
    report.idle_cpu = Cpu::now(server.pid, mock).since(cpu0).server;
    report.rss_idle = memory(server.pid)?;
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
    fn markdown(
        &self,
        args: &LoadArgs,
        bin: &Path,
        stop: &Stopped,
        log_lines: usize,
        db_bytes: u64,
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
        row(
            "command",
            format!(
                "`cargo xtask load --events {} --instances {} --rate {} --duration-secs {} --concurrency {}`",
                args.events, args.instances, args.rate, args.duration_secs, args.concurrency
            ),
        );
        row(
            "server",
            format!(
                "`{}` ({} cores shared with the load generator and the mock robot)",
                bin.display(),
                cores()
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
        row(
            "RSS after start (idle)",
            format!(
                "**{}** {}",
                mib(self.rss_start.rss_kib),
                verdict(self.rss_start.rss_kib < 30 * 1024)
            ),
        );
        row(
            "RSS after the load (idle)",
            format!(
                "**{}** {} (peak VmHWM {}; server CPU while idle {:.2} s over {} s)",
                mib(self.rss_idle.rss_kib),
                verdict(self.rss_idle.rss_kib < 30 * 1024),
                mib(self.rss_idle.peak_kib),
                self.idle_cpu,
                IDLE_WAIT.as_secs()
            ),
        );
        row(
            "database",
            format!("{:.1} MiB (db + WAL)", db_bytes as f64 / 1048576.0),
        );
        row(
            "robot requests",
            format!("{} in all, {} unrecognized", self.requests, self.unmatched),
        );
        row(
            "shutdown",
            format!(
                "SIGTERM → exit in {:.2} s ({}, {})",
                stop.took.as_secs_f64(),
                if stop.graceful { "graceful" } else { "KILLED" },
                stop.status
            ),
        );
        row("server log", format!("{log_lines} lines at level warn"));
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
