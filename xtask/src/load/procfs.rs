//! What `/proc` tells about the run: memory and CPU time of the servers, PostgreSQL, the load
//! generator and the rest of the machine, the busiest threads, the load average.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use super::mock::Mock;
use crate::proc::USER_HZ;
pub(super) use crate::proc::{memory, Memory};

/// User + system CPU seconds of a `/proc/.../stat` file.
fn cpu_secs(stat: &Path) -> f64 {
    crate::proc::cpu_secs(stat, USER_HZ)
}

/// CPU seconds used so far by each server, PostgreSQL's processes, the load generator and the
/// mock robot, and the machine; [`CpuSnap::since`] makes a [`Cpu`] of two of them.
#[derive(Debug, Clone, Default)]
pub(super) struct CpuSnap {
    servers: Vec<f64>,
    /// Every `postgres` process by pid: whether it serves the load's database, its seconds.
    postgres: HashMap<u32, (bool, f64)>,
    generator: f64,
    mock: f64,
    machine: f64,
}

/// CPU seconds used in a phase.
#[derive(Debug, Clone, Default)]
pub(super) struct Cpu {
    /// Per server replica, in replica order.
    pub(super) servers: Vec<f64>,
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
    pub(super) fn now(servers: &[u32], mock: &Mock, db: Option<&str>) -> Self {
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
    pub(super) fn since(&self, before: &Self) -> Cpu {
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
    pub(super) fn describe(&self, wall: Duration) -> String {
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

/// The server's threads that used the most CPU between two [`thread_cpu`] snapshots, by
/// name (threads of one name summed: the runtime's workers share theirs), busiest first.
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
pub(super) fn wait_quiet(max: Duration) -> String {
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
pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}
