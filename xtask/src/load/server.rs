//! The server under test: one `alert-server` child process per replica.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::STARTUP_TIMEOUT;
use crate::proc::Stopped;

/// One child `alert-server`; killed on drop if still running.
pub(crate) struct Server {
    child: Child,
    pub(crate) pid: u32,
    /// Its `FLINK_ALERT_REPLICA_ID`, `load-<i>`.
    pub(super) replica: String,
    /// `http://127.0.0.1:<port>`
    pub(crate) base: String,
    pub(crate) log: PathBuf,
}

impl Server {
    /// Replica `index` on `port`, on the database `db_url`, its output in `dir/server-<index>.log`.
    pub(crate) fn start(
        bin: &Path,
        dir: &Path,
        index: usize,
        port: u16,
        db_url: &str,
    ) -> Result<Self> {
        Self::start_with(bin, dir, index, port, db_url, &[])
    }

    /// [`Server::start`] with more `FLINK_ALERT_*` settings in its environment.
    pub(crate) fn start_with(
        bin: &Path,
        dir: &Path,
        index: usize,
        port: u16,
        db_url: &str,
        env: &[(&str, &str)],
    ) -> Result<Self> {
        let replica = format!("load-{index}");
        let log = dir.join(format!("server-{index}.log"));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(bin);
        command
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("FLINK_ALERT_") {
                command.env_remove(key);
            }
        }
        command
            .env("FLINK_ALERT_LOG", "warn")
            // In the environment rather than on the command line: a password stays out of `ps`.
            .env("FLINK_ALERT_DATABASE_URL", db_url)
            .env("FLINK_ALERT_REPLICA_ID", &replica)
            .envs(env.iter().copied());
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", bin.display()))?;
        Ok(Self {
            pid: child.id(),
            child,
            replica,
            base: format!("http://127.0.0.1:{port}"),
            log,
        })
    }

    /// Waits for `GET /healthz` to answer 200.
    pub(crate) async fn wait_healthy(&mut self, client: &reqwest::Client) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        let url = format!("{}/healthz", self.base);
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited at start ({status}); see {}",
                    self.replica,
                    self.log.display()
                );
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
                    "{} did not answer /healthz within {} s",
                    self.replica,
                    STARTUP_TIMEOUT.as_secs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`crate::proc::STOP_TIMEOUT`].
    pub(crate) fn stop(&mut self) -> Result<Stopped> {
        crate::proc::terminate(&mut self.child, self.pid, &self.replica)
    }
}

impl Server {
    /// SIGKILL, as a crash: no shutdown, nothing flushed.
    pub(crate) fn kill9(&mut self) {
        crate::proc::kill_if_running(&mut self.child);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        crate::proc::kill_if_running(&mut self.child);
    }
}
