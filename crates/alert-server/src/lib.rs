//! # alert-server
//!
//! The flink-alert binary's library part: the REST service and web console with the delivery
//! engine and the Flink watchers (`serve`), the one-shot commands (`plugins`, `send`, `import`,
//! `migrate`, `healthcheck`) and the generated channel documentation. Every channel crate
//! enabled by a cargo feature (`dingtalk`, `wechat`, `feishu`, `webhook`, `email`; all by
//! default) is linked here, so the registry of this crate (and of its tests) holds them all.

pub mod alertmanager;
pub mod api;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod delivery;
pub mod docs;
pub mod group_commit;
pub mod health_rules;
pub mod healthcheck;
pub mod http_server;
pub mod import;
pub mod input;
pub mod intake;
pub mod logging;
pub mod metrics;
pub mod migrate;
pub mod plugins;
pub mod provision;
pub mod report;
pub mod routing;
pub mod rules;
pub mod send;
pub mod serve;
pub mod silence_cli;
pub mod watch;
pub mod writer_thread;

// Linking a plugin crate is what registers it (inventory); nothing else names them. One cargo
// feature per plugin, named after its kind, all on by default.
#[cfg(feature = "dingtalk")]
use alert_dingtalk as _;
#[cfg(feature = "email")]
use alert_email as _;
#[cfg(feature = "feishu")]
use alert_feishu as _;
#[cfg(feature = "webhook")]
use alert_webhook as _;
#[cfg(feature = "wechat")]
use alert_wechat as _;

/// The registry of the channel plugins linked into alert-server.
///
/// Use this rather than [`alert_core::registry`] from code (and tests) that do not otherwise
/// touch this crate: calling it makes sure this crate, and with it every plugin, is linked.
pub fn registry() -> &'static alert_core::Registry {
    alert_core::registry()
}

/// Like [`registry`], but reports two plugins claiming one kind instead of panicking.
pub fn try_registry() -> Result<&'static alert_core::Registry, alert_core::RegistryError> {
    alert_core::try_registry()
}

/// Process exit codes of the command line.
pub mod exit {
    /// Delivered / done.
    pub const OK: u8 = 0;
    /// Invalid input or parameters.
    pub const INVALID_INPUT: u8 = 2;
    /// The channel rejected the message for good (bad configuration or content).
    pub const PERMANENT: u8 = 3;
    /// A transient failure (retry, throttle): trying again later may succeed (EX_TEMPFAIL).
    pub const TRANSIENT: u8 = 75;
}
