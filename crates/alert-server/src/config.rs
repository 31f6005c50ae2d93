//! Server configuration: defaults, then a TOML file (`--config`), then `FLINK_ALERT_*`
//! environment variables, then command-line flags; later sources win.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use alert_core::Secret;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::logging::LogFormat;

/// Everything `alert-server serve` needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on (`FLINK_ALERT_LISTEN`).
    pub listen: SocketAddr,
    /// Database URL (`FLINK_ALERT_DATABASE_URL`): `sqlite://path` (created on first start) or
    /// `postgres://user@host/db` (several replicas may share it).
    pub database_url: String,
    /// API token (`FLINK_ALERT_TOKEN`): when set, `/api/v1` needs `Authorization: Bearer <token>`.
    /// Required to listen on a non-loopback address.
    #[serde(skip_serializing)]
    pub token: Option<Secret>,
    /// Log filter, `tracing` syntax (`FLINK_ALERT_LOG`), e.g. `info` or `alert_server=debug`.
    pub log: String,
    /// Log lines as `text` (default) or `json`, one object per line (`FLINK_ALERT_LOG_FORMAT`,
    /// `--log-format`).
    pub log_format: LogFormat,
    /// Delivery tuning (`FLINK_ALERT_DELIVERY__<FIELD>`).
    pub delivery: DeliveryConfig,
    /// Flink watchers (`FLINK_ALERT_WATCH__<FIELD>`).
    pub watch: WatchConfig,
    /// HTTP server limits (`FLINK_ALERT_HTTP__<FIELD>`).
    pub http: HttpConfig,
    /// This process's name among replicas (`FLINK_ALERT_REPLICA_ID`): it holds delivery
    /// claims and watcher leases. Default: `<hostname>-<pid>`. Must differ between replicas.
    pub replica_id: Option<String>,
    /// A provisioning file (`FLINK_ALERT_PROVISION`, `--provision`) applied at start and on
    /// SIGHUP (docs/PROVISIONING.md).
    pub provision: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://./data/flink-alert.db".to_owned(),
            token: None,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            delivery: DeliveryConfig::default(),
            watch: WatchConfig::default(),
            http: HttpConfig::default(),
            replica_id: None,
            provision: None,
        }
    }
}

/// How Flink watchers share clusters between replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// On a shared database (PostgreSQL), a replica watches a cluster while it holds the
    /// cluster's lease: renewed every third of this, taken over by another replica once it has
    /// expired (so within two lease periods of the holder's death). Default 15 000 ms.
    pub lease_ms: u64,
    /// The most reads of checkpoint statistics and exception histories one poll of one
    /// cluster makes for the job-health conditions, on top of the job-state reads
    /// ([`alert_flink::HealthNeeds::max_requests_per_poll`]): a cap, only the reads due are made
    /// (see `alert_flink::detector`). With `n` due, each waits up to ⌈n / this⌉ polls. Default
    /// [`DEFAULT_HEALTH_READS_PER_POLL`]; at least 1.
    pub health_reads_per_poll: usize,
}

/// Default of [`WatchConfig::health_reads_per_poll`].
pub const DEFAULT_HEALTH_READS_PER_POLL: usize = alert_flink::DEFAULT_MAX_HEALTH_REQUESTS;

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            lease_ms: 15_000,
            health_reads_per_poll: DEFAULT_HEALTH_READS_PER_POLL,
        }
    }
}

/// What one client may hold of the HTTP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body; a larger one is answered `413 payload_too_large`. Default 1 MiB.
    pub max_body_bytes: usize,
    /// A request over `max_body_bytes` that announces a `Content-Length` of at most this is read
    /// to its end and thrown away before the 413 goes out, so that a client still sending can
    /// read the answer; a larger one is answered at once and its connection closed. Default
    /// 8 MiB.
    pub max_discard_bytes: u64,
    /// A connection that has not sent a whole request head (or, kept alive, the next one)
    /// within this is closed. Default 10 000 ms.
    pub header_read_timeout_ms: u64,
    /// Connections served at once; further ones wait in the listen backlog until one closes.
    /// Default 1024.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_discard_bytes: 8 * 1024 * 1024,
            header_read_timeout_ms: 10_000,
            max_connections: 1024,
        }
    }
}

impl HttpConfig {
    /// `header_read_timeout_ms` as a duration.
    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_millis(self.header_read_timeout_ms)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes == 0 {
            return Err(ConfigError(
                "http.max_body_bytes: must be at least 1".into(),
            ));
        }
        if self.header_read_timeout_ms == 0 {
            return Err(ConfigError(
                "http.header_read_timeout_ms: must be at least 1".into(),
            ));
        }
        if self.max_connections == 0 || self.max_connections > MAX_CONNECTIONS {
            return Err(ConfigError(format!(
                "http.max_connections: must be between 1 and {MAX_CONNECTIONS}"
            )));
        }
        Ok(())
    }
}

/// The most `http.max_connections` may be.
const MAX_CONNECTIONS: usize = 1 << 20;

/// How the outbox is worked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Give up retrying a delivery this long after its event (default 24 h).
    pub retry_deadline_secs: u64,
    /// First retry delay (exponential backoff with jitter from here).
    pub backoff_min_ms: u64,
    /// Longest retry delay.
    pub backoff_max_ms: u64,
    /// A claimed delivery not finished within this lease is claimable again (crash recovery).
    pub lease_secs: u64,
    /// Deliveries claimed per round.
    pub claim_batch: u32,
    /// Sends in flight at once, over all instances.
    pub max_in_flight: usize,
    /// Sends in flight at once to one instance (a hanging channel holds no more than this).
    pub max_in_flight_per_instance: usize,
    /// How often to look for due deliveries when nothing wakes the worker.
    pub poll_interval_ms: u64,
    /// Bound on one send, whatever the plugin's own timeout.
    pub send_timeout_secs: u64,
    /// A job that returns to the same status within this window alerts once (flapping).
    pub repeat_window_secs: u64,
    /// On shutdown, wait this long for in-flight sends before releasing them.
    pub shutdown_grace_secs: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            retry_deadline_secs: 24 * 3600,
            backoff_min_ms: 1_000,
            backoff_max_ms: 5 * 60_000,
            lease_secs: 120,
            claim_batch: 512,
            max_in_flight: 512,
            max_in_flight_per_instance: 64,
            poll_interval_ms: 1_000,
            send_timeout_secs: 30,
            repeat_window_secs: 600,
            shutdown_grace_secs: 10,
        }
    }
}

impl DeliveryConfig {
    /// `retry_deadline_secs` as a duration.
    pub fn retry_deadline(&self) -> Duration {
        Duration::from_secs(self.retry_deadline_secs)
    }
}

/// Overrides given as flags (only the ones set).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FlagOverrides {
    /// `--listen`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--database-url`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--log-format`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    /// `--provision`
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provision: Option<std::path::PathBuf>,
}

/// A configuration that cannot be used: which key and why.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl ServerConfig {
    /// Loads defaults ← `file` ← environment (`FLINK_ALERT_*`, `__` for nesting) ← `flags`.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(ServerConfig::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError(format!(
                    "--config: {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(Env::prefixed("FLINK_ALERT_").split("__"))
            .merge(Serialized::defaults(flags));
        let config: ServerConfig = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Rules that span fields.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let has_token = self.token.as_ref().is_some_and(|t| !t.is_empty());
        if !self.listen.ip().is_loopback() && !has_token {
            return Err(ConfigError(format!(
                "listen: refusing to listen on {} without an API token; set FLINK_ALERT_TOKEN (or `token` in the config file), or listen on 127.0.0.1",
                self.listen
            )));
        }
        let url = self.database_url.as_str();
        if !["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            return Err(ConfigError(format!(
                "database_url: unsupported database `{}` (use sqlite://PATH, postgres://USER@HOST/DB or postgresql://USER@HOST/DB)",
                self.database_url.split(':').next().unwrap_or_default()
            )));
        }
        let d = &self.delivery;
        if d.claim_batch == 0 || d.max_in_flight == 0 || d.max_in_flight_per_instance == 0 {
            return Err(ConfigError(
                "delivery: claim_batch, max_in_flight and max_in_flight_per_instance must be at least 1".into(),
            ));
        }
        if d.backoff_min_ms == 0 || d.backoff_max_ms < d.backoff_min_ms {
            return Err(ConfigError(
                "delivery: need 0 < backoff_min_ms <= backoff_max_ms".into(),
            ));
        }
        if self.watch.lease_ms < 300 {
            return Err(ConfigError(
                "watch: lease_ms must be at least 300 (it is renewed every third of it)".into(),
            ));
        }
        if self.watch.health_reads_per_poll == 0 {
            return Err(ConfigError(
                "watch: health_reads_per_poll must be at least 1".into(),
            ));
        }
        self.http.validate()?;
        if self
            .replica_id
            .as_ref()
            .is_some_and(|r| r.trim().is_empty())
        {
            return Err(ConfigError("replica_id: must not be empty when set".into()));
        }
        Ok(())
    }

    /// The replica id: the configured one, else `<hostname>-<pid>`.
    pub fn replica_id(&self) -> String {
        if let Some(id) = &self.replica_id {
            return id.trim().to_owned();
        }
        let host = std::env::var("HOSTNAME")
            .ok()
            .filter(|h| !h.is_empty())
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|h| h.trim().to_owned())
            })
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{host}-{}", std::process::id())
    }
}

/// A database URL as it may be printed: SQLite paths as given, server URLs without user and
/// password.
pub fn display_url(url: &str) -> String {
    if url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        alert_core::text::redact_url(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_database_urls_hide_credentials() {
        assert_eq!(
            display_url("postgres://alice:s3cret@db:5432/alerts"),
            "postgres://***:***@db:5432/alerts"
        );
        assert_eq!(display_url("sqlite://./data/a.db"), "sqlite://./data/a.db");
    }

    #[test]
    fn defaults_are_loopback_and_embedded_sqlite() {
        let c = ServerConfig::default();
        assert!(c.listen.ip().is_loopback());
        assert!(c.database_url.starts_with("sqlite://"));
        c.validate().unwrap();
    }

    #[test]
    fn non_loopback_without_token_is_refused() {
        let c = ServerConfig {
            listen: "0.0.0.0:8080".parse().unwrap(),
            ..Default::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("FLINK_ALERT_TOKEN"));
        let c = ServerConfig {
            token: Some(Secret::new("t")),
            ..c
        };
        c.validate().unwrap();
    }

    #[test]
    fn http_limits_are_checked_by_name() {
        let mut c = ServerConfig::default();
        c.http.max_connections = 0;
        let text = c.validate().unwrap_err().to_string();
        assert!(text.contains("http.max_connections"), "{text}");
        c.http.max_connections = 8;
        c.http.header_read_timeout_ms = 0;
        let text = c.validate().unwrap_err().to_string();
        assert!(text.contains("http.header_read_timeout_ms"), "{text}");
        c.http.header_read_timeout_ms = 1;
        c.http.max_body_bytes = 0;
        let text = c.validate().unwrap_err().to_string();
        assert!(text.contains("http.max_body_bytes"), "{text}");
        c.http.max_body_bytes = 1;
        c.validate().unwrap();
    }

    #[test]
    fn health_reads_per_poll_is_read_and_checked() {
        let mut c = ServerConfig::default();
        assert_eq!(c.watch.health_reads_per_poll, DEFAULT_HEALTH_READS_PER_POLL);
        c.watch.health_reads_per_poll = 0;
        let text = c.validate().unwrap_err().to_string();
        assert!(text.contains("health_reads_per_poll"), "{text}");
        let dir = std::env::temp_dir().join(format!("fa-config-hr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(&path, "[watch]\nhealth_reads_per_poll = 400\n").unwrap();
        let c = ServerConfig::load(Some(&path), &FlagOverrides::default()).unwrap();
        assert_eq!(c.watch.health_reads_per_poll, 400);
        assert_eq!(c.watch.lease_ms, WatchConfig::default().lease_ms);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn file_then_flags_override_defaults() {
        let dir = std::env::temp_dir().join(format!("fa-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("c.toml");
        std::fs::write(
            &path,
            "database_url = \"sqlite://x.db\"\n[delivery]\nlease_secs = 7\n[http]\nmax_connections = 5\n",
        )
        .unwrap();
        let flags = FlagOverrides {
            listen: Some("127.0.0.1:9999".parse().unwrap()),
            ..Default::default()
        };
        let c = ServerConfig::load(Some(&path), &flags).unwrap();
        assert_eq!(c.database_url, "sqlite://x.db");
        assert_eq!(c.delivery.lease_secs, 7);
        assert_eq!(c.http.max_connections, 5);
        assert_eq!(c.http.max_body_bytes, HttpConfig::default().max_body_bytes);
        assert_eq!(c.listen.port(), 9999);
        assert_eq!(c.log_format, LogFormat::Text);
        std::fs::write(&path, "log_format = \"json\"\n").unwrap();
        let c = ServerConfig::load(Some(&path), &FlagOverrides::default()).unwrap();
        assert_eq!(c.log_format, LogFormat::Json);
        let flags = FlagOverrides {
            log_format: Some(LogFormat::Text),
            ..Default::default()
        };
        assert_eq!(
            ServerConfig::load(Some(&path), &flags).unwrap().log_format,
            LogFormat::Text
        );
        std::fs::write(&path, "log_format = \"yaml\"\n").unwrap();
        assert!(ServerConfig::load(Some(&path), &FlagOverrides::default())
            .unwrap_err()
            .to_string()
            .contains("yaml"));
        std::fs::write(&path, "listen_on = 1\n").unwrap();
        assert!(ServerConfig::load(Some(&path), &FlagOverrides::default())
            .unwrap_err()
            .to_string()
            .contains("listen_on"));
    }
}
