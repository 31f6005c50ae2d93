//! `cargo xtask am-bench`: alerts per second from a real Prometheus Alertmanager through
//! alert-server to a mock DingTalk robot, next to Alertmanager's own webhook straight to a mock,
//! in the same run. Loopback only, bounded.
//!
//! 1. starts two mocks on one thread of this process (single-threaded runtime, so their CPU time
//!    is told apart from the load generator's): a DingTalk robot (`/robot/send`, answers
//!    `{"errcode":0}` at once) and a plain webhook (`/baseline`). Each counts requests and the
//!    distinct alerts they carry (every alert has a unique label `bench_id="amb-NNNNNN"`, found in
//!    Alertmanager's JSON and in alert-server's rendered message alike), with arrival times;
//! 2. builds (unless `--server-bin`) and starts the release `alert-server` with a fresh SQLite
//!    database and `FLINK_ALERT_LOG=warn`, creates one DingTalk instance at the mock robot, a
//!    group and an Alertmanager binding `{"labels":{"bench":"yes"}}`;
//! 3. for each phase, starts a fresh Alertmanager (`prometheus-alertmanager`, gossip off,
//!    storage in the temporary directory) whose route tree sends every alert to the baseline
//!    webhook and — in the `bridge` phase, through `continue: true` — also to alert-server's
//!    `/api/v1/ingest/alertmanager`; the `alone` phase has the baseline receiver only;
//! 4. posts `--alerts` alerts (`POST /api/v2/alerts`, `--batch` per request, `--concurrency` in
//!    flight) as fast as Alertmanager takes them, `--per-group` alerts per `(alertname,
//!    instance)` group, then waits until every alert has arrived at each receiver. Reports the
//!    POST rate, the completion time and rate at each receiver, and CPU seconds of
//!    Alertmanager, alert-server, the mocks and the load generator (`/proc/<pid>/stat`);
//! 5. stops Alertmanager and the server (SIGTERM, SIGKILL after 15 s) and prints a Markdown
//!    table on stdout.
//!
//! Linux only (it reads `/proc`). See `docs/BENCHMARKS.md`, section "Alertmanager bridge".

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::proc::Stopped;

/// Linux's `USER_HZ`, the unit of the CPU times in `/proc/<pid>/stat`.
const USER_HZ: f64 = 100.0;
/// How long a process may take to get ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The prefix of every alert's `bench_id` label.
const ID_PREFIX: &str = "amb-";
/// With `--pin`: Alertmanager's CPU, and everyone else's.
const ALERTMANAGER_CPU: &str = "0";
const OTHERS_CPU: &str = "1";
/// After a phase, how long Alertmanager's idle CPU is measured.
const IDLE_SAMPLE: Duration = Duration::from_secs(3);

/// `cargo xtask am-bench`: a real Alertmanager through alert-server vs. its own webhook.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask am-bench")]
struct Args {
    /// Alerts posted to Alertmanager in each phase.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=500_000))]
    alerts: u32,
    /// Alerts per `POST /api/v2/alerts`.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    batch: u32,
    /// POSTs in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Alerts per Alertmanager group (same `instance` label), hence per notification.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    per_group: u32,
    /// Alertmanager's `group_wait` and `group_interval`, in milliseconds.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    group_wait_ms: u64,
    /// Times to run the pair of phases (`alone`, then `bridge`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    rounds: u32,
    /// Give up waiting for the alerts of a phase after this many seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    drain_timeout_secs: u64,
    /// The server binary (default: build and run target/release/alert-server).
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// The Alertmanager binary (default: $ALERTMANAGER_BIN, else prometheus-alertmanager).
    #[arg(long, value_name = "PATH")]
    alertmanager_bin: Option<PathBuf>,
    /// Keep the temporary directory (database, logs, Alertmanager config).
    #[arg(long)]
    keep: bool,
    /// Also run, in each round, a control phase `webhook2`: the same second route, but to a
    /// plain webhook (the robot mock) instead of alert-server; it tells what any second
    /// receiver costs Alertmanager here.
    #[arg(long)]
    second_webhook: bool,
    /// Give Alertmanager CPU 0 to itself and run everything else (alert-server, the mocks, the
    /// load generator) on CPU 1 (`taskset`), in every phase: what the bridge costs Alertmanager
    /// when the two do not take CPU from each other.
    #[arg(long)]
    pin: bool,
}

/// The second receiver of a phase, besides the baseline webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Second {
    /// None (`alone`).
    None,
    /// alert-server's ingest (`bridge`).
    Bridge,
    /// A plain webhook to the robot mock (`webhook2`), the control.
    Webhook,
}

/// Runs `cargo xtask am-bench`; `args` are the words after `am-bench`.
pub fn run(args: &[String]) -> Result<()> {
    // The load generator shares the 2 cores with both servers: run it optimized.
    if cfg!(debug_assertions) && std::env::var_os("XTASK_AM_BENCH_DEBUG").is_none() {
        eprintln!("am-bench: running as a release build (XTASK_AM_BENCH_DEBUG=1 skips this)");
        let mut cargo_args = vec![
            "run",
            "--release",
            "--quiet",
            "-p",
            "xtask",
            "--",
            "am-bench",
        ];
        cargo_args.extend(args.iter().map(String::as_str));
        return crate::cargo(&cargo_args);
    }
    let args =
        Args::parse_from(std::iter::once("cargo xtask am-bench".to_owned()).chain(args.to_vec()));
    if args.pin {
        // Before any thread or child exists: they inherit this process's CPU.
        let status = Command::new("taskset")
            .args(["-a", "-p", "-c", OTHERS_CPU])
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .status()
            .context("--pin needs `taskset` (util-linux)")?;
        ensure!(
            status.success(),
            "taskset could not pin this process to CPU {OTHERS_CPU}"
        );
        eprintln!(
            "am-bench: Alertmanager on CPU {ALERTMANAGER_CPU}, everything else on CPU {OTHERS_CPU}"
        );
    }
    let server_bin = match &args.server_bin {
        Some(path) => path.clone(),
        None => {
            crate::cargo(&["build", "--release", "-p", "alert-server"])?;
            target_dir().join("release").join("alert-server")
        }
    };
    ensure!(
        server_bin.is_file(),
        "server binary {} not found",
        server_bin.display()
    );
    let server_bin = std::fs::canonicalize(&server_bin)?;
    let am_bin = args
        .alertmanager_bin
        .clone()
        .or_else(|| std::env::var_os("ALERTMANAGER_BIN").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("prometheus-alertmanager"));

    let dir = std::env::temp_dir().join(format!("flink-alert-am-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let result = run_in(&args, &server_bin, &am_bin, &dir);
    if result.is_err() || args.keep {
        eprintln!("kept {}", dir.display());
    } else {
        std::fs::remove_dir_all(&dir).ok();
    }
    result
}

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

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("cannot find a free port")?
        .port())
}

fn run_in(args: &Args, server_bin: &Path, am_bin: &Path, dir: &Path) -> Result<()> {
    let mocks = Mocks::start()?;
    let port = free_port()?;
    let mut command = Command::new(server_bin);
    command
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--database-url")
        .arg(format!("sqlite://{}", dir.join("bench.db").display()))
        .current_dir(dir);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("FLINK_ALERT_") {
            command.env_remove(key);
        }
    }
    command.env("FLINK_ALERT_LOG", "warn");
    let mut server = Proc::spawn("alert-server", command, &dir.join("server.log"))?;
    let base = format!("http://127.0.0.1:{port}");
    eprintln!(
        "alert-server pid {} on {base}, mocks on {}, files in {}",
        server.pid,
        mocks.addr,
        dir.display()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(drive(args, am_bin, dir, &base, &mut server, &mocks));
    let stopped = server.stop();
    mocks.stop();
    let phases = outcome?;
    let stopped = stopped?;
    print!("{}", markdown(args, &phases, &stopped));
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    if !log.trim().is_empty() {
        eprintln!("server log ({} lines, first 10):", log.lines().count());
        for line in log.lines().take(10) {
            eprintln!("  {line}");
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Mocks

/// What one mock endpoint saw.
#[derive(Debug, Default)]
struct Seen {
    requests: u64,
    ids: HashSet<u32>,
    /// Arrival of the first and of the latest new alert, ns since the phase's epoch.
    first_ns: Option<u64>,
    last_new_ns: u64,
}

#[derive(Debug)]
struct Counter {
    epoch: Mutex<Instant>,
    seen: Mutex<Seen>,
}

impl Counter {
    fn new() -> Self {
        Self {
            epoch: Mutex::new(Instant::now()),
            seen: Mutex::new(Seen::default()),
        }
    }

    fn reset(&self, epoch: Instant) {
        *self.epoch.lock().expect("not poisoned") = epoch;
        *self.seen.lock().expect("not poisoned") = Seen::default();
    }

    fn record(&self, body: &[u8]) {
        let epoch = *self.epoch.lock().expect("not poisoned");
        let at = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        let mut seen = self.seen.lock().expect("not poisoned");
        seen.requests += 1;
        let before = seen.ids.len();
        for_each_id(body, |id| {
            seen.ids.insert(id);
        });
        if seen.ids.len() > before {
            seen.first_ns.get_or_insert(at);
            seen.last_new_ns = at;
        }
    }

    fn count(&self) -> usize {
        self.seen.lock().expect("not poisoned").ids.len()
    }

    fn snapshot(&self) -> (u64, usize, Option<u64>, u64) {
        let seen = self.seen.lock().expect("not poisoned");
        (
            seen.requests,
            seen.ids.len(),
            seen.first_ns,
            seen.last_new_ns,
        )
    }
}

/// Calls `f` with the number of every `amb-<digits>` in `body`.
fn for_each_id(body: &[u8], mut f: impl FnMut(u32)) {
    let prefix = ID_PREFIX.as_bytes();
    let mut rest = body;
    while let Some(at) = rest.windows(prefix.len()).position(|w| w == prefix) {
        rest = &rest[at + prefix.len()..];
        let len = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if let Some(n) = std::str::from_utf8(&rest[..len])
            .ok()
            .and_then(|d| d.parse().ok())
        {
            f(n);
        }
        rest = &rest[len..];
    }
}

#[derive(Clone)]
struct MockState {
    robot: Arc<Counter>,
    baseline: Arc<Counter>,
}

async fn robot(State(state): State<MockState>, body: Bytes) -> Json<Value> {
    state.robot.record(&body);
    Json(json!({"errcode": 0, "errmsg": "ok"}))
}

async fn baseline(State(state): State<MockState>, body: Bytes) -> &'static str {
    state.baseline.record(&body);
    "ok"
}

/// Both mocks, on one thread with a single-threaded runtime.
struct Mocks {
    addr: SocketAddr,
    state: MockState,
    /// `/proc/<pid>/task/<tid>/stat` of the mocks' thread.
    stat: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mocks {
    fn start() -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("mocks: cannot bind")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = MockState {
            robot: Arc::new(Counter::new()),
            baseline: Arc::new(Counter::new()),
        };
        let app = Router::new()
            .route("/robot/send", post(robot))
            .route("/baseline", post(baseline))
            .with_state(state.clone());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<PathBuf, String>>();
        let thread = std::thread::Builder::new()
            .name("am-bench-mocks".into())
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
                    let serve = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = stop_rx.await;
                    });
                    if let Err(e) = serve.await {
                        eprintln!("mocks failed: {e}");
                    }
                });
            })?;
        let stat = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .context("mocks did not start")?
            .map_err(|e| anyhow::anyhow!("mocks: {e}"))?;
        Ok(Self {
            addr,
            state,
            stat,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    fn stop(mut self) {
        crate::proc::stop_thread(self.stop.take(), self.thread.take());
    }
}

// ---------------------------------------------------------------------------------------------
// Child processes

/// A child process (alert-server or Alertmanager), killed when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    pid: u32,
}

/// How a child stopped.
impl Proc {
    fn spawn(name: &'static str, mut command: Command, log: &Path) -> Result<Self> {
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self {
            name,
            pid: child.id(),
            child,
        })
    }

    /// Waits until `url` answers 2xx.
    async fn wait_ready(&mut self, client: &reqwest::Client, url: &str) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited at start ({status})", self.name);
            }
            let answer = client.get(url).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{} not ready at {url} within {} s",
                self.name,
                STARTUP_TIMEOUT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn cpu(&self) -> f64 {
        cpu_secs(Path::new(&format!("/proc/{}/stat", self.pid)))
    }

    /// SIGTERM, then SIGKILL after [`crate::proc::STOP_TIMEOUT`].
    fn stop(&mut self) -> Result<Stopped> {
        crate::proc::terminate(&mut self.child, self.pid, self.name)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        crate::proc::kill_if_running(&mut self.child);
    }
}

/// User + system CPU seconds from a `/proc/.../stat` file.
fn cpu_secs(stat: &Path) -> f64 {
    let Ok(text) = std::fs::read_to_string(stat) else {
        return 0.0;
    };
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

/// CPU seconds so far of each party.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    alertmanager: f64,
    server: f64,
    mocks: f64,
    generator: f64,
}

impl Cpu {
    fn now(am: &Proc, server: &Proc, mocks: &Mocks) -> Self {
        let mocks_cpu = cpu_secs(&mocks.stat);
        Self {
            alertmanager: am.cpu(),
            server: server.cpu(),
            mocks: mocks_cpu,
            generator: cpu_secs(Path::new("/proc/self/stat")) - mocks_cpu,
        }
    }

    fn since(self, earlier: Self) -> Self {
        Self {
            alertmanager: self.alertmanager - earlier.alertmanager,
            server: self.server - earlier.server,
            mocks: self.mocks - earlier.mocks,
            generator: self.generator - earlier.generator,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The benchmark

/// One receiver's result in a phase.
#[derive(Debug, Clone, Copy)]
struct Arrivals {
    requests: u64,
    alerts: usize,
    first: Option<Duration>,
    /// Arrival of the last new alert.
    last: Duration,
}

#[derive(Debug)]
struct Phase {
    name: &'static str,
    round: u32,
    /// Time to post every alert (all answered).
    post: Duration,
    baseline: Arrivals,
    bridge: Option<Arrivals>,
    cpu: Cpu,
    /// Wall time the CPU was measured over (first POST to last arrival).
    wall: Duration,
    am_stop: Stopped,
    am_metrics: WebhookMetrics,
    /// Alertmanager's CPU-s per s over [`IDLE_SAMPLE`] after the phase.
    am_idle: f64,
}

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

async fn drive(
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

/// Alertmanager's own counters for its webhook integration (both receivers together).
#[derive(Debug, Clone, Copy, Default)]
struct WebhookMetrics {
    /// Notifications, and those that failed for good.
    notifications: f64,
    notifications_failed: f64,
    /// HTTP requests (attempts, retries included), and those that failed.
    requests: f64,
    requests_failed: f64,
    /// Sum and count of the notification latency histogram (seconds).
    latency_sum: f64,
    latency_count: f64,
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

// ---------------------------------------------------------------------------------------------
// Report

fn rate(n: usize, d: Duration) -> String {
    if d.is_zero() {
        return "–".into();
    }
    #[allow(clippy::cast_precision_loss)]
    let r = n as f64 / d.as_secs_f64();
    format!("{r:.0}")
}

fn markdown(args: &Args, phases: &[Phase], server_stop: &Stopped) -> String {
    let n = usize::try_from(args.alerts).unwrap_or(usize::MAX);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### am-bench: {} alerts per phase, {} per POST, {} POSTs in flight, {} alerts per group, \
         group_wait = group_interval = {} ms\n",
        args.alerts, args.batch, args.concurrency, args.per_group, args.group_wait_ms
    );
    let _ = writeln!(
        out,
        "| phase | POST (ingest) alerts/s | baseline: alerts / notifications | baseline done (s) | \
         baseline alerts/s | bridge: alerts / DingTalk messages | bridge done (s) | bridge alerts/s | \
         bridge − baseline (s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for p in phases {
        let (b_alerts, b_done, b_rate, delta) = match p.bridge {
            Some(b) => (
                format!("{} / {}", b.alerts, b.requests),
                format!("{:.2}", b.last.as_secs_f64()),
                rate(b.alerts, b.last),
                format!(
                    "{:+.2}",
                    b.last.as_secs_f64() - p.baseline.last.as_secs_f64()
                ),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            out,
            "| {} #{} | {} ({:.2} s) | {} / {} | {:.2} | {} | {b_alerts} | {b_done} | {b_rate} | {delta} |",
            p.name,
            p.round,
            rate(n, p.post),
            p.post.as_secs_f64(),
            p.baseline.alerts,
            p.baseline.requests,
            p.baseline.last.as_secs_f64(),
            rate(p.baseline.alerts, p.baseline.last),
        );
    }
    let _ = writeln!(
        out,
        "\nCPU seconds over each phase (first POST to the last arrival + 0.3 s; 2 cores = 2 CPU-s per s):\n"
    );
    let _ = writeln!(
        out,
        "| phase | wall (s) | Alertmanager | alert-server | mocks | load generator | first arrival baseline / bridge (s) | Alertmanager afterwards, idle (CPU-s/s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|");
    for p in phases {
        let first =
            |a: Option<Duration>| a.map_or("–".into(), |d| format!("{:.2}", d.as_secs_f64()));
        let _ = writeln!(
            out,
            "| {} #{} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} / {} | {:.2} |",
            p.name,
            p.round,
            p.wall.as_secs_f64(),
            p.cpu.alertmanager,
            p.cpu.server,
            p.cpu.mocks,
            p.cpu.generator,
            first(p.baseline.first),
            first(p.bridge.and_then(|b| b.first)),
            p.am_idle,
        );
    }
    let _ = writeln!(
        out,
        "\nAlertmanager's webhook metrics (`/metrics`, `integration=\"webhook\"`, both receivers):\n"
    );
    let _ = writeln!(
        out,
        "| phase | notifications | failed | HTTP requests | failed requests | mean notification latency (s) |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for p in phases {
        let m = p.am_metrics;
        let mean = if m.latency_count > 0.0 {
            format!("{:.3}", m.latency_sum / m.latency_count)
        } else {
            "–".into()
        };
        let _ = writeln!(
            out,
            "| {} #{} | {} | {} | {} | {} | {mean} |",
            p.name, p.round, m.notifications, m.notifications_failed, m.requests, m.requests_failed
        );
    }
    let _ = writeln!(
        out,
        "\nAlertmanager stopped (SIGTERM) in {}; alert-server in {:.2} s{}.",
        phases
            .iter()
            .map(|p| format!(
                "{:.2} s{}",
                p.am_stop.took.as_secs_f64(),
                if p.am_stop.graceful { "" } else { " (killed)" }
            ))
            .collect::<Vec<_>>()
            .join(", "),
        server_stop.took.as_secs_f64(),
        if server_stop.graceful {
            ""
        } else {
            " (killed)"
        }
    );
    out
}
