//! What `/proc` tells about the run: the server's memory and CPU time (also per thread), the
//! machine's, the clock tick.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::mock::Mocks;

/// The unit of the CPU times in `/proc/<pid>/stat`: `getconf CLK_TCK`, else 100 (`USER_HZ` on
/// every mainstream architecture). The flag says whether it was read.
pub(super) fn clock_ticks() -> (f64, bool) {
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

pub(super) use crate::proc::{memory, Memory};

/// User + system CPU seconds of a `/proc/.../stat` file, in `hz` ticks a second.
fn cpu_secs(stat: &Path, hz: f64) -> f64 {
    crate::proc::cpu_secs(stat, hz)
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
pub(super) struct Cpu {
    pub(super) server: f64,
    pub(super) bench: f64,
    pub(super) mocks: f64,
    pub(super) machine: f64,
}

impl Cpu {
    pub(super) fn now(server: u32, mocks: &Mocks, hz: f64) -> Self {
        Self {
            server: cpu_secs(Path::new(&format!("/proc/{server}/stat")), hz),
            bench: cpu_secs(Path::new("/proc/self/stat"), hz),
            mocks: cpu_secs(&mocks.stat, hz),
            machine: machine_busy_secs(hz),
        }
    }

    pub(super) fn since(self, before: Self) -> Self {
        Self {
            server: self.server - before.server,
            bench: self.bench - before.bench,
            mocks: self.mocks - before.mocks,
            machine: self.machine - before.machine,
        }
    }
}

/// CPU seconds of each thread of `pid`, by thread id, with the thread's name.
pub(super) fn thread_cpu(pid: u32, hz: f64) -> HashMap<String, (String, f64)> {
    crate::proc::thread_cpu(&[pid], hz)
}

/// The server's threads by CPU used between two [`thread_cpu`] snapshots, by name (threads of
/// one name summed: the runtime's workers share theirs), busiest first, in % of one core.
pub(super) fn busiest_threads(
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

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// "2 × Intel(R) Xeon(R) …, Linux 6.1.0" from `/proc`.
pub(super) fn machine() -> String {
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
