//! The child processes (alert-server, Alertmanager), killed when dropped, and their CPU time.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};

use super::mock::Mocks;
use super::STARTUP_TIMEOUT;
use crate::proc::Stopped;
use crate::proc::USER_HZ;

/// A child process (alert-server or Alertmanager), killed when dropped.
pub(super) struct Proc {
    name: &'static str,
    child: Child,
    pub(super) pid: u32,
}

/// How a child stopped.
impl Proc {
    pub(super) fn spawn(name: &'static str, mut command: Command, log: &Path) -> Result<Self> {
        let out = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        Ok(Self {
            name,
            pid: child.id(),
            child,
        })
    }

    /// Waits until `url` answers 2xx.
    pub(super) async fn wait_ready(&mut self, client: &reqwest::Client, url: &str) -> Result<()> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!("{} exited at start ({status})", self.name);
            }
            let answer = client.get(url).timeout(Duration::from_secs(2)).send().await;
            if answer.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "{} not ready at {url} within {} s",
                self.name,
                STARTUP_TIMEOUT.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(super) fn cpu(&self) -> f64 {
        cpu_secs(Path::new(&format!("/proc/{}/stat", self.pid)))
    }

    /// SIGTERM, then SIGKILL after [`crate::proc::STOP_TIMEOUT`].
    pub(super) fn stop(&mut self) -> Result<Stopped> {
        crate::proc::terminate(&mut self.child, self.pid, self.name)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        crate::proc::kill_if_running(&mut self.child);
    }
}

/// User + system CPU seconds of a `/proc/.../stat` file.
fn cpu_secs(stat: &Path) -> f64 {
    crate::proc::cpu_secs(stat, USER_HZ)
}

/// CPU seconds so far of each party.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Cpu {
    pub(super) alertmanager: f64,
    pub(super) server: f64,
    pub(super) mocks: f64,
    pub(super) generator: f64,
}

impl Cpu {
    pub(super) fn now(am: &Proc, server: &Proc, mocks: &Mocks) -> Self {
        let mocks_cpu = cpu_secs(&mocks.stat);
        Self {
            alertmanager: am.cpu(),
            server: server.cpu(),
            mocks: mocks_cpu,
            generator: cpu_secs(Path::new("/proc/self/stat")) - mocks_cpu,
        }
    }

    pub(super) fn since(self, earlier: Self) -> Self {
        Self {
            alertmanager: self.alertmanager - earlier.alertmanager,
            server: self.server - earlier.server,
            mocks: self.mocks - earlier.mocks,
            generator: self.generator - earlier.generator,
        }
    }
}
