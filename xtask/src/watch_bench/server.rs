//! The server under test: the child `alert-server` process.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::STARTUP_TIMEOUT;
use crate::proc::Stopped;

/// The child `alert-server`; killed on drop if still running.
pub(super) struct Server {
    child: Child,
    pub(super) pid: u32,
    /// `http://127.0.0.1:<port>`
    pub(super) base: String,
    pub(super) log: PathBuf,
}

impl Server {
    pub(super) fn start(bin: &Path, dir: &Path, env: &[(&str, String)]) -> Result<Self> {
        // A free port: bind, note it, release it (the server binds it a moment later).
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("cannot find a free port")?
            .port();
        let log = dir.join("server.log");
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--database-url")
            .arg(format!("sqlite://{}", dir.join("w.db").display()))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FLINK_ALERT_") {
                command.env_remove(key);
            }
        }
        command.env("FLINK_ALERT_LOG", "warn");
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            pid: child.id(),
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    /// Waits for `GET /healthz` to answer 200.
    pub(super) async fn wait_healthy(&mut self, client: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = format!("{}/healthz", self.base);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("the server exited at start ({status})");
            }
            let answer = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "the server did not answer /healthz within {} s",
                    STARTUP_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("the server exited ({status})");
        }
        Ok(())
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`crate::proc::STOP_TIMEOUT`].
    pub(super) fn stop(&mut self) -> Result<Stopped> {
        crate::proc::terminate(&mut self.child, self.pid, "the server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::proc::kill_if_running(&mut self.child);
    }
}
