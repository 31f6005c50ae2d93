//! The command line of `cargo xtask watch-bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// `cargo xtask watch-bench`: cost and detection latency of watching many (mock) Flink clusters.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask watch-bench")]
pub(super) struct BenchArgs {
    /// Flink clusters registered with the server (each a path prefix of the mock).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=2_000))]
    pub(super) clusters: u32,
    /// Jobs listed by each cluster's `/jobs/overview`.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    pub(super) jobs: u32,
    /// Poll interval of every cluster, in ms.
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(500..=60_000))]
    pub(super) interval_ms: u64,
    /// Length of the measured window, in seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=1_800))]
    pub(super) duration_s: u64,
    /// Jobs turned CANCELED during the window (one per slot of duration ÷ flips).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub(super) flips: u32,
    /// Seed of the flip schedule (default: from the clock; printed).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// The server binary to run (default: build and run target/release/alert-server).
    #[arg(long, value_name = "PATH")]
    pub(super) server_bin: Option<PathBuf>,
    /// Bind every job to every health condition (`CHECKPOINT_FAILED`, `CHECKPOINT_SLOW`,
    /// `EXCEPTION`, `TASKMANAGER_LOST`, next to the usual job states), serve checkpoint
    /// statistics, exception histories and `/taskmanagers`, and inject `--problems` during the
    /// window.
    #[arg(long)]
    pub(super) health: bool,
    /// `--health`: the server's `watch.health_reads_per_poll` (default: the server's own).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(super) health_reads: Option<u64>,
    /// `--health`: problems injected during the window (checkpoints that start failing, an
    /// exception, a TaskManager gone, in turn; one per slot of duration ÷ problems).
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub(super) problems: u32,
    /// `--health`: the checkpoint interval of every mock job, in ms.
    #[arg(long, default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub(super) checkpoint_interval_ms: u64,
    /// `--health`: after the window, how long to wait at most for the problems' robot requests
    /// (a small `--health-reads` needs up to ⌈2 × jobs ÷ reads⌉ + 1 polls).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=1_800))]
    pub(super) health_wait_s: u64,
    /// Keep the temporary directory (database and server log) for a look afterwards.
    #[arg(long)]
    pub(super) keep: bool,
}

impl BenchArgs {
    pub(super) fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }
}
