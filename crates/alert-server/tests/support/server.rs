//! An `alert-server` running in the test process on a temp SQLite database (removed on drop),
//! with or without an API token, for the tests of what talks to a running server.

// Each test crate that includes this module uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use alert_server::config::{DeliveryConfig, ServerConfig};
use alert_server::serve::RunningServer;

/// A running server.
pub struct Server {
    /// `None` once stopped.
    pub running: Option<RunningServer>,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// A client without proxy.
    pub http: reqwest::Client,
    dir: PathBuf,
}

impl Server {
    /// Starts one on a fresh database (`tag` names its directory), protected by `token` if any.
    pub async fn start(tag: &str, token: Option<&str>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("flink-alert-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let config = ServerConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            database_url: format!("sqlite://{}", dir.join("alerts.db").display()),
            token: token.map(alert_core::Secret::new),
            delivery: DeliveryConfig {
                shutdown_grace_secs: 1,
                ..DeliveryConfig::default()
            },
            // The rest (log filter, storage settings, ...) as by default.
            ..ServerConfig::default()
        };
        let running = alert_server::serve::start(config)
            .await
            .expect("server starts");
        Self {
            base: format!("http://{}", running.local_addr),
            running: Some(running),
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(20))
                .build()
                .expect("client"),
            dir,
        }
    }

    /// `GET {base}{path}`, with `token` as bearer when given.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        req.send().await.expect("the server answers")
    }

    /// Shuts it down (the database stays until drop).
    pub async fn shutdown(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }

    /// Shuts it down and removes its database.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
