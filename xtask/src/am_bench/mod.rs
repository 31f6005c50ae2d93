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

mod args;
mod child;
mod mock;
mod phases;
mod report;
pub mod vs;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use clap::Parser;

use args::Args;
use child::Proc;
use mock::Mocks;
use phases::drive;
use report::markdown;

/// How long a process may take to get ready.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// The prefix of every alert's `bench_id` label.
const ID_PREFIX: &str = "amb-";
/// With `--pin`: Alertmanager's CPU, and everyone else's.
const ALERTMANAGER_CPU: &str = "0";
const OTHERS_CPU: &str = "1";
/// After a phase, how long Alertmanager's idle CPU is measured.
const IDLE_SAMPLE: Duration = Duration::from_secs(3);

/// Runs `cargo xtask am-bench`; `args` are the words after `am-bench`.
pub fn run(args: &[String]) -> Result<()> {
    // The load generator shares the 2 cores with both servers: run it optimized.
    if let Some(rerun) = rerun_as_release("am-bench", args) {
        return rerun;
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
    let server_bin = server_binary(args.server_bin.as_deref())?;
    let am_bin = alertmanager_binary(args.alertmanager_bin.as_deref());

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

/// In a debug build, runs `cargo xtask <name> <args>` again as a release build (the load
/// generator shares the cores with the servers) and returns its result; `None` in a release
/// build, or with `XTASK_AM_BENCH_DEBUG` set.
fn rerun_as_release(name: &str, args: &[String]) -> Option<Result<()>> {
    if !cfg!(debug_assertions) || std::env::var_os("XTASK_AM_BENCH_DEBUG").is_some() {
        return None;
    }
    eprintln!("{name}: running as a release build (XTASK_AM_BENCH_DEBUG=1 skips this)");
    let mut cargo_args = vec!["run", "--release", "--quiet", "-p", "xtask", "--", name];
    cargo_args.extend(args.iter().map(String::as_str));
    Some(crate::cargo(&cargo_args))
}

/// The alert-server binary to run: `given`, else a fresh release build.
fn server_binary(given: Option<&Path>) -> Result<PathBuf> {
    let server_bin = match given {
        Some(path) => path.to_path_buf(),
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
    Ok(std::fs::canonicalize(&server_bin)?)
}

/// The Alertmanager binary: `given`, else `$ALERTMANAGER_BIN`, else Debian's
/// `prometheus-alertmanager` on the `PATH`.
fn alertmanager_binary(given: Option<&Path>) -> PathBuf {
    given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("ALERTMANAGER_BIN").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("prometheus-alertmanager"))
}

/// Starts `server_bin` on a free loopback port with a fresh SQLite database in `dir` and
/// `FLINK_ALERT_LOG=warn` (no other `FLINK_ALERT_*` setting of this environment); returns it
/// with its base URL.
fn start_server(server_bin: &Path, dir: &Path) -> Result<(Proc, String)> {
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
    let server = Proc::spawn("alert-server", command, &dir.join("server.log"))?;
    Ok((server, format!("http://127.0.0.1:{port}")))
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
    let (mut server, base) = start_server(server_bin, dir)?;
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
