//! The command line of `cargo xtask am-bench`.

use std::path::PathBuf;

use clap::Parser;

/// `cargo xtask am-bench`: a real Alertmanager through alert-server vs. its own webhook.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask am-bench")]
pub(super) struct Args {
    /// Alerts posted to Alertmanager in each phase.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=500_000))]
    pub(super) alerts: u32,
    /// Alerts per `POST /api/v2/alerts`.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub(super) batch: u32,
    /// POSTs in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub(super) concurrency: u32,
    /// Alerts per Alertmanager group (same `instance` label), hence per notification.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub(super) per_group: u32,
    /// Alertmanager's `group_wait` and `group_interval`, in milliseconds.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    pub(super) group_wait_ms: u64,
    /// Times to run the pair of phases (`alone`, then `bridge`).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub(super) rounds: u32,
    /// Give up waiting for the alerts of a phase after this many seconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(super) drain_timeout_secs: u64,
    /// The server binary (default: build and run target/release/alert-server).
    #[arg(long, value_name = "PATH")]
    pub(super) server_bin: Option<PathBuf>,
    /// The Alertmanager binary (default: $ALERTMANAGER_BIN, else prometheus-alertmanager).
    #[arg(long, value_name = "PATH")]
    pub(super) alertmanager_bin: Option<PathBuf>,
    /// Keep the temporary directory (database, logs, Alertmanager config).
    #[arg(long)]
    pub(super) keep: bool,
    /// Also run, in each round, a control phase `webhook2`: the same second route, but to a
    /// plain webhook (the robot mock) instead of alert-server; it tells what any second
    /// receiver costs Alertmanager here.
    #[arg(long)]
    pub(super) second_webhook: bool,
    /// Give Alertmanager CPU 0 to itself and run everything else (alert-server, the mocks, the
    /// load generator) on CPU 1 (`taskset`), in every phase: what the bridge costs Alertmanager
    /// when the two do not take CPU from each other.
    #[arg(long)]
    pub(super) pin: bool,
}

/// The second receiver of a phase, besides the baseline webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Second {
    /// None (`alone`).
    None,
    /// alert-server's ingest (`bridge`).
    Bridge,
    /// A plain webhook to the robot mock (`webhook2`), the control.
    Webhook,
}
