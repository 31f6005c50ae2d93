//! Child processes and mock threads shared by the benchmark tools (`load`, `watch-bench`,
//! `am-bench`, `chaos`, `store-bench`): stopping them gracefully, within bounds, and what `/proc`
//! says of their memory and CPU time.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

/// Linux's `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat` (100 on every mainstream
/// architecture; `getconf CLK_TCK`).
pub const USER_HZ: f64 = 100.0;

/// How long a child has to exit after SIGTERM before it is killed.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// How a child process stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Time from SIGTERM to exit.
    pub took: Duration,
    /// False when it had to be killed.
    pub graceful: bool,
    /// Its exit status.
    pub status: String,
}

/// Sends SIGTERM to `child` (process `pid`, named `name` in errors), then SIGKILL if it has not
/// exited within [`STOP_TIMEOUT`]. An error when it had exited before.
pub fn terminate(child: &mut Child, pid: u32, name: &str) -> Result<Stopped> {
    let asked = Instant::now();
    if let Some(status) = child.try_wait()? {
        bail!("{name} had already exited ({status})");
    }
    // std has no way to send SIGTERM (and this workspace forbids unsafe): use kill(1).
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .context("cannot run kill")?;
    ensure!(sent.success(), "kill -TERM {pid} failed");
    while asked.elapsed() < STOP_TIMEOUT {
        if let Some(status) = child.try_wait()? {
            return Ok(Stopped {
                took: asked.elapsed(),
                graceful: true,
                status: status.to_string(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill()?;
    let status = child.wait()?;
    Ok(Stopped {
        took: asked.elapsed(),
        graceful: false,
        status: status.to_string(),
    })
}

/// Kills `child` if it still runs (for `Drop`).
pub fn kill_if_running(child: &mut Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Tells a mock server's thread to stop and waits up to 5 s for it (it is left behind after
/// that).
pub fn stop_thread(stop: Option<tokio::sync::oneshot::Sender<()>>, thread: Option<JoinHandle<()>>) {
    if let Some(stop) = stop {
        let _ = stop.send(());
    }
    if let Some(thread) = thread {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if thread.is_finished() {
            let _ = thread.join();
        }
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Resident now.
    pub rss_kib: u64,
    /// The peak resident size.
    pub peak_kib: u64,
}

/// The memory of process `pid`, from `/proc/<pid>/status`.
pub fn memory(pid: u32) -> Result<Memory> {
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

/// User + system CPU seconds from a `/proc/.../stat` file (a process or one thread), its times
/// counted in `hz` ticks a second; 0 when it cannot be read.
pub fn cpu_secs(stat: &Path, hz: f64) -> f64 {
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

/// CPU seconds of each thread of the processes `pids`, by thread id, with the thread's name;
/// their times counted in `hz` ticks a second (see [`cpu_secs`]).
pub fn thread_cpu(pids: &[u32], hz: f64) -> HashMap<String, (String, f64)> {
    let mut threads = HashMap::new();
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
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
    }
    threads
}
