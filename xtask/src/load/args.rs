//! The command line of `cargo xtask load`.

use std::path::PathBuf;

use clap::Parser;

/// `cargo xtask load`: load test of alert-server on loopback (see `xtask/src/load/`).
#[derive(Debug, Parser)]
#[command(name = "cargo xtask load")]
pub(super) struct LoadArgs {
    /// Phase A: events posted as fast as possible.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub(super) events: u64,
    /// Phase B: events per second, on a fixed schedule.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub(super) rate: u64,
    /// Phase B: how long to post at --rate, in seconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub(super) duration_secs: u64,
    /// DingTalk instances in the group: every event becomes this many robot requests
    /// (`--instances 4000 --events 10`: a fan-out to 4,000 robots).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=5_000))]
    pub(super) instances: u64,
    /// Phase A: POSTs in flight at once.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub(super) concurrency: u64,
    /// Give up waiting for a phase's robot requests after this many seconds.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(super) drain_timeout_secs: u64,
    /// PostgreSQL server to use instead of SQLite, as the URL of an existing database to
    /// connect to (`postgres://postgres@127.0.0.1:5432/test`): the run creates a database
    /// `fa_load_<random>` there for the servers and drops it at the end. Needs `psql`.
    #[arg(long, value_name = "URL")]
    pub(super) database_url: Option<String>,
    /// Server processes on the one database (PostgreSQL only beyond 1); events are posted to
    /// them round-robin.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=8))]
    pub(super) replicas: u64,
    /// Before starting, wait up to this many seconds for the machine to be quiet (under 20 %
    /// of its cores busy for 5 s in a row), and say in the report whether it was; 0: start at
    /// once.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub(super) quiet_wait_secs: u64,
    /// The server binary to run (default: build and run target/release/alert-server).
    #[arg(long, value_name = "PATH")]
    pub(super) server_bin: Option<PathBuf>,
    /// Keep the temporary directory (database and server log) for a look afterwards.
    #[arg(long)]
    pub(super) keep: bool,
}
