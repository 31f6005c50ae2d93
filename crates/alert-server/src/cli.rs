//! Command-line arguments (clap).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// flink-alert: watch Apache Flink jobs and notify DingTalk, WeCom and more.
#[derive(Debug, Parser)]
#[command(
    name = "alert-server",
    version,
    about,
    propagate_version = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// What to do (default: `serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s options, accepted without the word `serve`.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the REST service and the delivery engine (the default).
    Serve(ServeArgs),
    /// List the linked channel plugins with their parameter schemas.
    Plugins(PluginsArgs),
    /// Build one alert instance from parameters and send one message through it.
    Send(SendArgs),
    /// Import alert configuration from another system (dry run unless --apply).
    #[command(subcommand)]
    Import(ImportCommand),
    /// Copy every instance, group, binding, cluster and the history into a new, empty database
    /// (e.g. SQLite to PostgreSQL); stop the servers first (see docs/DEPLOY.md).
    Migrate(MigrateArgs),
    /// Check or apply a provisioning file (instances, groups, bindings and clusters as code; see
    /// docs/PROVISIONING.md) without a server.
    Provision(ProvisionArgs),
    /// Ask a running server's /healthz: exit 0 on 200, 1 otherwise (for container health checks).
    Healthcheck(crate::healthcheck::HealthcheckArgs),
    /// Add, list and expire silences on a running server (like amtool silence; see docs/API.md).
    Silence(crate::silence_cli::SilenceArgs),
}

/// `alert-server provision`
#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("mode").required(true).args(["check", "apply"])))]
pub struct ProvisionArgs {
    /// Print what applying FILE would create, change and remove; write nothing (exit 2 on any
    /// error in it).
    #[arg(long)]
    pub check: bool,
    /// Apply FILE to the database (one transaction).
    #[arg(long)]
    pub apply: bool,
    /// The provisioning file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Our database URL [default: sqlite://./data/flink-alert.db; env FLINK_ALERT_DATABASE_URL].
    #[arg(long)]
    pub database_url: Option<String>,
    /// TOML configuration file (for its database_url).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `alert-server migrate`
#[derive(Debug, Clone, Default, Args)]
pub struct MigrateArgs {
    /// The database to copy from (`sqlite://PATH` or `postgres://USER@HOST/DB`).
    #[arg(long, value_name = "URL")]
    pub from: String,
    /// The database to copy into; it must hold no data (its schema is created if missing).
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Print what would be copied (counts per table) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `alert-server import <SOURCE>`
#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import Dinky's alert instances, groups and task bindings (see docs/IMPORT.md).
    Dinky(DinkyImportArgs),
}

/// `alert-server import dinky`
#[derive(Debug, Clone, Default, Args)]
pub struct DinkyImportArgs {
    /// Dinky's database (`mysql://user:pw@host:3306/dinky`, `postgres://…`) or a JSON file of its rows.
    #[arg(long, value_name = "mysql://…|postgres://…|FILE.json")]
    pub from: String,
    /// Write the import (one transaction); without it, only print what would happen.
    #[arg(long)]
    pub apply: bool,
    /// Import only this Dinky tenant (by code), with unprefixed names.
    #[arg(long, value_name = "CODE")]
    pub tenant: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Our database URL [default: sqlite://./data/flink-alert.db; env FLINK_ALERT_DATABASE_URL].
    #[arg(long)]
    pub database_url: Option<String>,
    /// TOML configuration file (for its database_url).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

/// `alert-server serve`
#[derive(Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080; env FLINK_ALERT_LISTEN].
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Database URL [default: sqlite://./data/flink-alert.db; env FLINK_ALERT_DATABASE_URL].
    #[arg(long)]
    pub database_url: Option<String>,
    /// TOML configuration file (see docs/CONFIGURATION.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log lines as `text` or `json` (one object per line) [default: text; env
    /// FLINK_ALERT_LOG_FORMAT].
    #[arg(long, value_enum)]
    pub log_format: Option<crate::logging::LogFormat>,
    /// Apply this provisioning file at start and on SIGHUP (docs/PROVISIONING.md) [env
    /// FLINK_ALERT_PROVISION].
    #[arg(long, value_name = "FILE")]
    pub provision: Option<PathBuf>,
}

/// `alert-server plugins`
#[derive(Debug, Args)]
pub struct PluginsArgs {
    /// Print JSON (a list sorted by kind) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `alert-server send`
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("message").required(true).args(["text", "event"])))]
pub struct SendArgs {
    /// Channel kind, e.g. `dingtalk` or `wechat` (see `alert-server plugins`).
    #[arg(long)]
    pub kind: String,
    /// Instance parameters as JSON, or `@FILE` to read them from a file (`@-` for stdin).
    #[arg(long, value_name = "JSON|@FILE")]
    pub params: String,
    /// Message title (default: `flink-alert` for --text, the rendered title for --event).
    #[arg(long)]
    pub title: Option<String>,
    /// Message body, sent as is (as text and as markdown).
    #[arg(long, value_name = "BODY")]
    pub text: Option<String>,
    /// A job event as JSON (or `@FILE`), rendered with the default or the given templates.
    #[arg(long, value_name = "JSON|@FILE")]
    pub event: Option<String>,
    /// User templates for --event as JSON `{"title":..,"text":..,"markdown":..}` (or `@FILE`);
    /// minijinja syntax, strict about undefined variables.
    #[arg(long, value_name = "JSON|@FILE", requires = "event")]
    pub templates: Option<String>,
    /// Give up waiting for the channel after this many milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

/// Where a `JSON|@FILE` argument came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Given inline.
    Inline,
    /// Read from this file.
    File(PathBuf),
    /// Read from standard input.
    Stdin,
}
