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
//! Every wait has a timeout; every address is `127.0.0.1`. Linux only (it reads `/proc`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::IntoFuture;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use clap::Parser;
use serde_json::{json, Value};

use crate::proc::Stopped;

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
/// Allowed time from the poll that sees a change to the channel request (the issue's target).
const PIPELINE_BUDGET: Duration = Duration::from_millis(200);
/// The checkpoint statistics of a job that never checkpointed (Flink 2.3 capture).
const CHECKPOINTS: &str =
    include_str!("../../crates/alert-flink/tests/data/flink-2.3/checkpoints_finished.json");

/// `cargo xtask watch-bench`: cost and detection latency of watching many (mock) Flink clusters.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask watch-bench")]
struct BenchArgs {
    /// Flink clusters registered with the server (each a path prefix of the mock).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=2_000))]
    clusters: u32,
    /// Jobs listed by each cluster's `/jobs/overview`.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    jobs: u32,
    /// Poll interval of every cluster, in ms.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(500..=60_000))]
    interval_ms: u64,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=1_800))]
    duration_s: u64,
    /// Jobs turned CANCELED during the window (one per slot of duration ÷ flips).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    flips: u32,
    /// Seed of the flip schedule (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// The server binary to run (default: build and run target/release/alert-server).
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Keep the temporary directory (database and server log) for a look afterwards.
    #[arg(long)]
    keep: bool,
}

impl BenchArgs {
    fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}

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

    let mock = Arc::new(MockState::new(args.clusters, args.jobs, seed));
    let mocks = Mocks::start(Arc::clone(&mock))?;
    let mut server = Server::start(&bin, &dir)?;
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

/// SplitMix64: a small deterministic generator (no `rand` in the workspace).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, n)`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let x = (self.next() >> 11) as f64 / (1_u64 << 53) as f64;
        x
    }
}

// ---------------------------------------------------------------------------------------------
// The mock Flink and the mock robot

/// One job of a mock cluster.
#[derive(Debug, Clone)]
struct Job {
    jid: String,
    name: String,
    start: i64,
    last_modification: i64,
    /// `None` while RUNNING.
    end: Option<i64>,
    tasks: u32,
}

impl Job {
    /// The job's `/jobs/overview` entry (Flink 2.3 shape) at `now` (epoch ms).
    fn overview(&self, now: i64) -> Value {
        let (state, running, canceled) = match self.end {
            None => ("RUNNING", self.tasks, 0),
            Some(_) => ("CANCELED", 0, self.tasks),
        };
        json!({
            "jid": self.jid,
            "name": self.name,
            "jobType": "STREAMING",
            "schedulerType": "Default",
            "start-time": self.start,
            "end-time": self.end.unwrap_or(-1),
            "duration": self.end.unwrap_or(now) - self.start,
            "state": state,
            "last-modification": self.last_modification,
            "tasks": {
                "running": running,
                "canceling": 0,
                "canceled": canceled,
                "total": self.tasks,
                "created": 0,
                "scheduled": 0,
                "deploying": 0,
                "reconciling": 0,
                "finished": 0,
                "initializing": 0,
                "failed": 0
            },
            "pending-operators": 0
        })
    }
}

#[derive(Debug, Default)]
struct MockCluster {
    jobs: Vec<Job>,
    /// Flips (indices into [`MockState::flips`]) no overview has shown yet.
    unseen: Vec<usize>,
}

/// One job turned CANCELED, and what followed.
#[derive(Debug, Clone)]
struct Flip {
    cluster: usize,
    jid: String,
    /// When the job changed, ns since [`MockState::epoch`].
    at_ns: u64,
    /// When the first overview of its cluster served after the change was answered.
    seen_ns: Option<u64>,
    /// The first robot request naming the job.
    robot_ns: Option<u64>,
    robot_requests: u32,
}

/// Shared by the mocks (on their thread) and the driver.
#[derive(Debug)]
struct MockState {
    epoch: Instant,
    clusters: Vec<Mutex<MockCluster>>,
    flips: Mutex<Vec<Flip>>,
    /// Every overview served: (cluster, ns since the epoch).
    polls: Mutex<Vec<(usize, u64)>>,
    /// Exception and checkpoint requests.
    details: AtomicU64,
    /// Requests to a path the mock does not serve.
    unknown: AtomicU64,
    robot_requests: AtomicU64,
    /// Robot requests that name no flipped job, and the first few bodies of them.
    unexpected: Mutex<Vec<String>>,
}

impl MockState {
    fn new(clusters: u32, jobs: u32, seed: u64) -> Self {
        let mut rng = Rng(seed ^ 0x5EED);
        let now = epoch_ms();
        let clusters = (0..clusters)
            .map(|c| {
                let jobs = (0..jobs)
                    .map(|j| {
                        // Started between 1 h and 8 days ago; last changed 2–30 s later.
                        let start = now
                            - 3_600_000
                            - i64::try_from(rng.below(7 * 24 * 3_600_000)).unwrap_or(0);
                        Job {
                            jid: format!("{:016x}{:016x}", rng.next(), rng.next()),
                            name: format!("bench-c{c:03}-job{j:03}"),
                            start,
                            last_modification: start
                                + 2_000
                                + i64::try_from(rng.below(28_000)).unwrap_or(0),
                            end: None,
                            tasks: 1 + u32::try_from(rng.below(8)).unwrap_or(0),
                        }
                    })
                    .collect();
                Mutex::new(MockCluster {
                    jobs,
                    unseen: Vec::new(),
                })
            })
            .collect();
        Self {
            epoch: Instant::now(),
            clusters,
            flips: Mutex::new(Vec::new()),
            polls: Mutex::new(Vec::new()),
            details: AtomicU64::new(0),
            unknown: AtomicU64::new(0),
            robot_requests: AtomicU64::new(0),
            unexpected: Mutex::new(Vec::new()),
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// `c17` → 17, when such a cluster exists.
    fn cluster(&self, prefix: &str) -> Option<usize> {
        let n: usize = prefix.strip_prefix('c')?.parse().ok()?;
        (n < self.clusters.len()).then_some(n)
    }

    /// Turns a RUNNING job of `cluster` CANCELED now; returns the flip's index.
    fn flip(&self, cluster: usize, rng: &mut Rng) -> Option<usize> {
        let mut c = self.clusters[cluster].lock().expect("not poisoned");
        let n = c.jobs.len();
        let first = usize::try_from(rng.below(n as u64)).unwrap_or(0);
        let j = (0..n)
            .map(|k| (first + k) % n)
            .find(|&j| c.jobs[j].end.is_none())?;
        let now = epoch_ms();
        let at_ns = self.now_ns();
        let job = &mut c.jobs[j];
        job.end = Some(now);
        job.last_modification = now;
        let jid = job.jid.clone();
        let mut flips = self.flips.lock().expect("not poisoned");
        flips.push(Flip {
            cluster,
            jid,
            at_ns,
            seen_ns: None,
            robot_ns: None,
            robot_requests: 0,
        });
        c.unseen.push(flips.len() - 1);
        Some(flips.len() - 1)
    }

    fn polls_since(&self, since_ns: u64) -> Vec<(usize, u64)> {
        self.polls
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|p| p.1 >= since_ns)
            .copied()
            .collect()
    }

    /// Overviews served per cluster so far.
    fn polls_per_cluster(&self) -> Vec<usize> {
        let mut counts = vec![0; self.clusters.len()];
        for &(c, _) in self.polls.lock().expect("not poisoned").iter() {
            counts[c] += 1;
        }
        counts
    }
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Flink's 404 body.
fn not_found(state: &MockState, what: &str) -> Response {
    state.unknown.fetch_add(1, Ordering::Relaxed);
    let body = json!({"errors": [format!("Not found: {what}")]});
    json_response(StatusCode::NOT_FOUND, body.to_string().into_bytes())
}

async fn overview(
    State(state): State<Arc<MockState>>,
    UrlPath(prefix): UrlPath<String>,
) -> Response {
    let Some(c) = state.cluster(&prefix) else {
        return not_found(&state, &prefix);
    };
    let now = epoch_ms();
    let (served_ns, body) = {
        let mut cluster = state.clusters[c].lock().expect("not poisoned");
        let served_ns = state.now_ns();
        if !cluster.unseen.is_empty() {
            let mut flips = state.flips.lock().expect("not poisoned");
            for &i in &cluster.unseen {
                flips[i].seen_ns.get_or_insert(served_ns);
            }
            cluster.unseen.clear();
        }
        let jobs: Vec<Value> = cluster.jobs.iter().map(|j| j.overview(now)).collect();
        (served_ns, serde_json::to_vec(&json!({ "jobs": jobs })))
    };
    state
        .polls
        .lock()
        .expect("not poisoned")
        .push((c, served_ns));
    match body {
        Ok(body) => json_response(StatusCode::OK, body),
        Err(e) => json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"errors": [e.to_string()]}).to_string().into_bytes(),
        ),
    }
}

async fn exceptions(
    State(state): State<Arc<MockState>>,
    UrlPath((prefix, _job)): UrlPath<(String, String)>,
) -> Response {
    if state.cluster(&prefix).is_none() {
        return not_found(&state, &prefix);
    }
    state.details.fetch_add(1, Ordering::Relaxed);
    let body = json!({"exceptionHistory": {"entries": [], "truncated": false}});
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

async fn checkpoints(
    State(state): State<Arc<MockState>>,
    UrlPath((prefix, _job)): UrlPath<(String, String)>,
) -> Response {
    if state.cluster(&prefix).is_none() {
        return not_found(&state, &prefix);
    }
    state.details.fetch_add(1, Ordering::Relaxed);
    json_response(StatusCode::OK, CHECKPOINTS.as_bytes().to_vec())
}

async fn unknown(State(state): State<Arc<MockState>>, uri: Uri) -> Response {
    not_found(&state, uri.path())
}

async fn robot(State(state): State<Arc<MockState>>, body: Bytes) -> Response {
    let at = state.now_ns();
    state.robot_requests.fetch_add(1, Ordering::Relaxed);
    let text = String::from_utf8_lossy(&body);
    let matched = {
        let mut flips = state.flips.lock().expect("not poisoned");
        match flips.iter_mut().find(|f| text.contains(&f.jid)) {
            Some(flip) => {
                flip.robot_ns.get_or_insert(at);
                flip.robot_requests += 1;
                true
            }
            None => false,
        }
    };
    if !matched {
        let mut unexpected = state.unexpected.lock().expect("not poisoned");
        unexpected.push(text.chars().take(300).collect());
    }
    json_response(StatusCode::OK, br#"{"errcode":0,"errmsg":"ok"}"#.to_vec())
}

/// Both mocks, on one thread with a single-threaded runtime.
struct Mocks {
    flink: SocketAddr,
    robot: SocketAddr,
    /// `/proc/self/task/<tid>/stat` of the mocks' thread, for its CPU time.
    stat: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mocks {
    fn start(state: Arc<MockState>) -> Result<Self> {
        let bind = |what: &str| -> Result<TcpListener> {
            let l = TcpListener::bind("127.0.0.1:0")
                .with_context(|| format!("mock {what}: cannot bind"))?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let (flink_l, robot_l) = (bind("Flink")?, bind("robot")?);
        let (flink, robot_addr) = (flink_l.local_addr()?, robot_l.local_addr()?);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<PathBuf, String>>();
        let thread = std::thread::Builder::new()
            .name("mocks".into())
            .spawn(move || {
                let started = (|| {
                    let tid = std::fs::read_link("/proc/thread-self")
                        .map_err(|e| format!("cannot find the thread id: {e}"))?;
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    Ok::<_, String>((Path::new("/proc").join(tid).join("stat"), runtime))
                })();
                let (stat, runtime) = match started {
                    Ok(ok) => ok,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let listeners = tokio::net::TcpListener::from_std(flink_l)
                        .and_then(|f| Ok((f, tokio::net::TcpListener::from_std(robot_l)?)));
                    let (flink_l, robot_l) = match listeners {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(stat));
                    let flink_app = Router::new()
                        .route("/{cluster}/jobs/overview", get(overview))
                        .route("/{cluster}/jobs/{job}/exceptions", get(exceptions))
                        .route("/{cluster}/jobs/{job}/checkpoints", get(checkpoints))
                        .fallback(unknown)
                        .with_state(Arc::clone(&state));
                    let robot_app = Router::new()
                        .route("/robot/send", post(robot))
                        .with_state(state);
                    tokio::select! {
                        r = axum::serve(flink_l, flink_app).into_future() => {
                            if let Err(e) = r { eprintln!("mock Flink failed: {e}"); }
                        }
                        r = axum::serve(robot_l, robot_app).into_future() => {
                            if let Err(e) = r { eprintln!("mock robot failed: {e}"); }
                        }
                        _ = stop_rx => {}
                    }
                });
            })
            .context("cannot start the mocks' thread")?;
        let stat = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("the mocks did not start")?
            .map_err(|e| anyhow::anyhow!("mocks: {e}"))?;
        Ok(Self {
            flink,
            robot: robot_addr,
            stat,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Stops serving; waits up to 5 s for the thread (it is left behind after that).
    fn stop(mut self) {
        crate::proc::stop_thread(self.stop.take(), self.thread.take());
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
            .arg(format!("sqlite://{}", dir.join("w.db").display()))
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

    fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the server exited ({status})");
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`crate::proc::STOP_TIMEOUT`].
    fn stop(&mut self) -> Result<Stopped> {
        crate::proc::terminate(&mut self.child, self.pid, "the server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::proc::kill_if_running(&mut self.child);
    }
}

// ---------------------------------------------------------------------------------------------
// /proc

/// The unit of the CPU times in `/proc/<pid>/stat`: `getconf CLK_TCK`, else 100 (`USER_HZ` on
/// every mainstream architecture). The flag says whether it was read.
fn clock_ticks() -> (f64, bool) {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .filter(|t| *t > 0.0)
        .map_or((100.0, false), |t| (t, true))
}

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
fn cpu_secs(stat: &Path, hz: f64) -> f64 {
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
    let secs = (ticks(11) + ticks(12)) as f64 / hz;
    secs
}

/// Busy CPU seconds of the whole machine since boot, from the first line of `/proc/stat`.
fn machine_busy_secs(hz: f64) -> f64 {
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
    let secs = busy as f64 / hz;
    secs
}

/// CPU seconds used so far by the server, this process (driver and mocks) and the mocks alone.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: f64,
    bench: f64,
    mocks: f64,
    machine: f64,
}

impl Cpu {
    fn now(server: u32, mocks: &Mocks, hz: f64) -> Self {
        Self {
            server: cpu_secs(Path::new(&format!("/proc/{server}/stat")), hz),
            bench: cpu_secs(Path::new("/proc/self/stat"), hz),
            mocks: cpu_secs(&mocks.stat, hz),
            machine: machine_busy_secs(hz),
        }
    }

    fn since(self, before: Self) -> Self {
        Self {
            server: self.server - before.server,
            bench: self.bench - before.bench,
            mocks: self.mocks - before.mocks,
            machine: self.machine - before.machine,
        }
    }
}

/// CPU seconds of each thread of `pid`, by thread id, with the thread's name.
fn thread_cpu(pid: u32, hz: f64) -> HashMap<String, (String, f64)> {
    let mut threads = HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return threads;
    };
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        threads.insert(
            task.file_name().to_string_lossy().into_owned(),
            (
                name.trim().to_owned(),
                cpu_secs(&task.path().join("stat"), hz),
            ),
        );
    }
    threads
}

/// The server's threads by CPU used between two [`thread_cpu`] snapshots, by name (threads of
/// one name summed: the runtime's workers share theirs), busiest first, in % of one core.
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
    let mut names: Vec<_> = by_name.into_iter().collect();
    names.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(b.0)));
    let pct = |s: f64| 100.0 * s / wall.as_secs_f64().max(1e-9);
    let shown: Vec<String> = names
        .iter()
        .filter(|(_, v)| v.0 > 0.0)
        .take(5)
        .map(|(name, (sum, max, count))| {
            if *count > 1 {
                format!(
                    "`{name}` ×{count}: {:.2} % (busiest {:.2} %)",
                    pct(*sum),
                    pct(*max)
                )
            } else {
                format!("`{name}`: {:.2} %", pct(*sum))
            }
        })
        .collect();
    if shown.is_empty() {
        "none measurable".to_owned()
    } else {
        format!("{} ({} threads)", shown.join(", "), after.len())
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// "2 × Intel(R) Xeon(R) …, Linux 6.1.0" from `/proc`.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, m)| m.trim())
        .to_owned();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{} × {model}, Linux {}", cores(), kernel.trim())
}

// ---------------------------------------------------------------------------------------------
// The bench

/// Everything measured.
#[derive(Debug, Default)]
struct Report {
    hz: f64,
    hz_read: bool,
    rss_start: Memory,
    idle_cpu: f64,
    rss_idle: Memory,
    /// Registering the clusters, then settling.
    register: Duration,
    settle: Duration,
    window: Duration,
    /// The window's start, ns since [`MockState::epoch`].
    window_start_ns: u64,
    cpu: Cpu,
    threads: String,
    rss_first: Memory,
    rss_last: Memory,
    rss_max_sampled: u64,
    rss_samples: usize,
    /// Overviews served in the window.
    polls: usize,
    /// Mean and largest time between two polls of one cluster in the window.
    gap_mean: Duration,
    gap_max: Duration,
    clusters_polled: usize,
    details: u64,
    unknown: u64,
    flips: Vec<Flip>,
    robot_requests: u64,
    unexpected: Vec<String>,
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
    create(
        &client,
        &format!("{api}/bindings"),
        json!({"job": "*", "group_id": group}),
    )
    .await?;

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
        let next = due_flip.map_or(next_rss, |f| f.min(next_rss)).min(end);
        tokio::time::sleep_until(next).await;
        let now = tokio::time::Instant::now();
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
    // Late duplicates would show up here.
    tokio::time::sleep(Duration::from_millis(500)).await;
    report.flips = mock.flips.lock().expect("not poisoned").clone();
    report.robot_requests = mock.robot_requests.load(Ordering::Relaxed);
    report.unexpected = mock.unexpected.lock().expect("not poisoned").clone();
    report.unknown = mock.unknown.load(Ordering::Relaxed);
    Ok(report)
}

// ---------------------------------------------------------------------------------------------
// The report

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

/// "min / median / p90 / max" of `values` (ms).
fn spread(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    format!(
        "{:.0} / {:.0} / {:.0} / {:.0} ms",
        sorted.first().copied().unwrap_or(f64::NAN),
        percentile(&sorted, 50.0),
        percentile(&sorted, 90.0),
        sorted.last().copied().unwrap_or(f64::NAN)
    )
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

fn ms(ns: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let v = ns as f64 / 1e6;
    v
}

impl Report {
    fn markdown(
        &self,
        args: &BenchArgs,
        bin: &Path,
        stop: &Stopped,
        log_lines: usize,
        seed: u64,
    ) -> String {
        let wall = self.window.as_secs_f64().max(1e-9);
        let pct = |s: f64| 100.0 * s / wall;
        let cpu_pct = pct(self.cpu.server);
        let interval_ms = args.interval().as_secs_f64() * 1000.0;
        let budget_ms = interval_ms + PIPELINE_BUDGET.as_secs_f64() * 1000.0;
        let arrived: Vec<&Flip> = self.flips.iter().filter(|f| f.robot_ns.is_some()).collect();
        let total: Vec<f64> = arrived
            .iter()
            .filter_map(|f| f.robot_ns.map(|r| ms(r.saturating_sub(f.at_ns))))
            .collect();
        let wait: Vec<f64> = arrived
            .iter()
            .filter_map(|f| f.seen_ns.map(|s| ms(s.saturating_sub(f.at_ns))))
            .collect();
        let pipeline: Vec<f64> = arrived
            .iter()
            .filter_map(|f| Some(ms(f.robot_ns?.saturating_sub(f.seen_ns?))))
            .collect();
        let worst = total.iter().copied().fold(f64::NAN, f64::max);
        let worst_pipeline = pipeline.iter().copied().fold(f64::NAN, f64::max);
        let duplicates: u32 = self
            .flips
            .iter()
            .map(|f| f.robot_requests.saturating_sub(1))
            .sum();
        let missing = self.flips.len() - arrived.len();
        let peak = self.rss_last.peak_kib.max(self.rss_max_sampled);
        #[allow(clippy::cast_precision_loss)]
        let rate = self.polls as f64 / wall;
        #[allow(clippy::cast_precision_loss)]
        let expected = f64::from(args.clusters) / args.interval().as_secs_f64();

        let mut out = String::new();
        let mut row = |metric: &str, value: String| {
            let _ = writeln!(out, "| {metric} | {value} |");
        };
        row(
            "command",
            format!(
                "`cargo xtask watch-bench --clusters {} --jobs {} --interval-ms {} --duration-s {} --flips {} --seed {seed}`",
                args.clusters, args.jobs, args.interval_ms, args.duration_s, args.flips
            ),
        );
        row(
            "machine",
            format!(
                "{}; the mocks and the bench share it with the server",
                machine()
            ),
        );
        row("server", format!("`{}`", bin.display()));
        row(
            "setup",
            format!(
                "{} clusters × {} jobs (RUNNING, Flink 2.3 overview entries of {:.0} KiB per cluster), polled every {} ms; registered in {:.1} s, settled {:.1} s; window {:.1} s",
                args.clusters,
                args.jobs,
                overview_kib(args.jobs),
                args.interval_ms,
                self.register.as_secs_f64(),
                self.settle.as_secs_f64(),
                wall
            ),
        );
        row(
            "overview polls served",
            format!(
                "{} = **{rate:.2}/s** (clusters ÷ interval = {expected:.2}/s); {} of {} clusters polled; time between two polls of a cluster: mean {:.0} ms, max {:.0} ms; {} detail requests, {} unknown paths",
                self.polls,
                self.clusters_polled,
                args.clusters,
                self.gap_mean.as_secs_f64() * 1000.0,
                self.gap_max.as_secs_f64() * 1000.0,
                self.details,
                self.unknown
            ),
        );
        row(
            "server CPU, idle (no cluster)",
            format!(
                "{:.2} % of one core over {} s",
                100.0 * self.idle_cpu / IDLE_WAIT.as_secs_f64(),
                IDLE_WAIT.as_secs()
            ),
        );
        row(
            "server CPU, watching",
            format!(
                "{:.2} s in {wall:.1} s = **{cpu_pct:.2} % of one core** {} (target < 5 %){}",
                self.cpu.server,
                verdict(cpu_pct < 5.0),
                if self.hz_read {
                    format!("; CLK_TCK {}", self.hz)
                } else {
                    "; CLK_TCK assumed 100 (getconf failed)".to_owned()
                }
            ),
        );
        row("server threads, watching", self.threads.clone());
        row(
            "server RSS",
            format!(
                "{} at start, {} idle, {} at the window's start, {} at its end, max sampled {} ({} samples), VmHWM {} → **peak {}** {} (target < 50 MB = 47.7 MiB)",
                mib(self.rss_start.rss_kib),
                mib(self.rss_idle.rss_kib),
                mib(self.rss_first.rss_kib),
                mib(self.rss_last.rss_kib),
                mib(self.rss_max_sampled),
                self.rss_samples,
                mib(self.rss_last.peak_kib),
                mib(peak),
                verdict(peak * 1024 < 50_000_000)
            ),
        );
        row(
            "detection latency, flip → robot request",
            format!(
                "{} flips, min / median / p90 / max **{}** {} (target ≤ interval + 200 ms = {budget_ms:.0} ms){}",
                self.flips.len(),
                spread(&total),
                verdict(missing == 0 && !total.is_empty() && worst <= budget_ms),
                if missing > 0 {
                    format!("; **{missing} never arrived**")
                } else {
                    String::new()
                }
            ),
        );
        row(
            "… waiting for the next poll",
            format!(
                "{} (uniform in [0, interval) when polls keep time)",
                spread(&wait)
            ),
        );
        row(
            "… the server's part, poll → robot request",
            format!(
                "{} {} (budget {} ms)",
                spread(&pipeline),
                verdict(
                    !pipeline.is_empty()
                        && worst_pipeline <= PIPELINE_BUDGET.as_secs_f64() * 1000.0
                ),
                PIPELINE_BUDGET.as_millis()
            ),
        );
        row(
            "robot requests",
            format!(
                "{} ({} duplicates, {} naming no flipped job{})",
                self.robot_requests,
                duplicates,
                self.unexpected.len(),
                self.unexpected
                    .first()
                    .map(|b| format!(", first: `{}`", b.replace(['`', '\n', '|'], " ")))
                    .unwrap_or_default()
            ),
        );
        row(
            "bench process (mocks + driver), watching",
            format!(
                "{:.2} % of one core (mocks' thread {:.2} %); whole machine busy {:.1} % of {} cores",
                pct(self.cpu.bench),
                pct(self.cpu.mocks),
                pct(self.cpu.machine) / to_f64(cores()),
                cores()
            ),
        );
        row(
            "server stop",
            format!(
                "{} in {:.2} s ({}), {log_lines} log lines at `warn`",
                if stop.graceful {
                    "SIGTERM"
                } else {
                    "**killed** after SIGTERM"
                },
                stop.took.as_secs_f64(),
                stop.status
            ),
        );

        let _ = writeln!(
            out,
            "\n| flip | cluster | at (s into window) | → next poll | poll → robot | total |\n|---|---|---|---|---|---|"
        );
        let window_start = self.window_start_ns;
        for (i, f) in self.flips.iter().enumerate() {
            let cell = |v: Option<f64>| v.map_or("—".to_owned(), |v| format!("{v:.0} ms"));
            let _ = writeln!(
                out,
                "| {} | c{} | {:.2} | {} | {} | {} |",
                i + 1,
                f.cluster,
                ms(f.at_ns.saturating_sub(window_start)) / 1000.0,
                cell(f.seen_ns.map(|s| ms(s.saturating_sub(f.at_ns)))),
                cell(match (f.seen_ns, f.robot_ns) {
                    (Some(s), Some(r)) => Some(ms(r.saturating_sub(s))),
                    _ => None,
                }),
                cell(f.robot_ns.map(|r| ms(r.saturating_sub(f.at_ns)))),
            );
        }
        format!("| metric | value |\n|---|---|\n{out}")
    }
}

fn to_f64(n: usize) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    let v = n as f64;
    v
}

/// The size of one cluster's overview answer, in KiB (measured on a sample job).
fn overview_kib(jobs: u32) -> f64 {
    let job = Job {
        jid: "0".repeat(32),
        name: "bench-c000-job000".to_owned(),
        start: 1_795_642_644_533,
        last_modification: 1_795_642_645_048,
        end: None,
        tasks: 4,
    };
    let one = job.overview(1_795_642_700_000).to_string().len() + 1;
    to_f64(one) * f64::from(jobs) / 1024.0
}
