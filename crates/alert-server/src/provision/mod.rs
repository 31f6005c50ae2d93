//! Configuration as code: instances, groups, bindings and clusters declared in a TOML file
//! (docs/PROVISIONING.md).
//!
//! - `alert-server provision --check FILE` prints what applying it would create, change and
//!   remove; `--apply` writes it to the database, without a server.
//! - `alert-server serve --provision FILE` applies it at start and again on SIGHUP.
//!
//! Objects from the file are marked provisioned: the API answers `409 provisioned` to a write
//! on them, and only a later provisioning run changes or removes them. Objects made through
//! the API are never touched. Applying the same file twice changes nothing. Any error in the
//! file (`FILE:LINE: field: why`) means nothing is applied; the exit code is 2.

pub mod file;
pub mod plan;

use std::path::Path;
use std::sync::Arc;

use crate::cli::ProvisionArgs;
use crate::clock::now_ms;
use crate::config::{display_url, FlagOverrides, ServerConfig};
use crate::exit::INVALID_INPUT;
use crate::report::Report;
use alert_store::{Store, StoreError};
use file::{Desired, ProcessSecrets};
use plan::{Current, Planned};

/// Reads and checks a provisioning file; the problems as printable `FILE:LINE: ...` lines.
pub fn read(path: &Path) -> Result<Desired, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
        .to_path_buf();
    file::parse(&text, &ProcessSecrets { base })
        .map_err(|errors| errors.iter().map(|e| e.display(path)).collect())
}

/// Plans a checked file against the store.
pub async fn plan_against(
    store: &dyn Store,
    path: &Path,
    desired: &Desired,
) -> Result<Planned, Vec<String>> {
    let current = Current::read(store)
        .await
        .map_err(|e| vec![format!("reading the configuration: {e}")])?;
    plan::plan(desired, &current).map_err(|errors| errors.iter().map(|e| e.display(path)).collect())
}

/// Reads, plans and applies a file in one transaction. A concurrent change (another replica
/// applying the same file at the same time) is met by planning again, once.
pub async fn apply(store: &dyn Store, path: &Path) -> Result<(Desired, Planned), Vec<String>> {
    let desired = read(path)?;
    let mut retried = false;
    loop {
        let planned = plan_against(store, path, &desired).await?;
        if planned.plan.is_empty() {
            return Ok((desired, planned));
        }
        match store.apply_provision(&planned.plan, now_ms()).await {
            Ok(()) => return Ok((desired, planned)),
            Err(StoreError::NameTaken { .. } | StoreError::BadReference { .. }) if !retried => {
                retried = true;
            }
            Err(e) => return Err(vec![format!("{}: {e}", path.display())]),
        }
    }
}

/// Runs `alert-server provision`.
pub async fn run(args: &ProvisionArgs) -> Report {
    let flags = FlagOverrides {
        database_url: args.database_url.clone(),
        ..FlagOverrides::default()
    };
    let config = match ServerConfig::load(args.config.as_deref(), &flags) {
        Ok(c) => c,
        Err(e) => return Report::error(INVALID_INPUT, e),
    };
    let desired = match read(&args.file) {
        Ok(d) => d,
        Err(lines) => return errors(lines),
    };
    let store = match alert_store::connect(&config.database_url).await {
        Ok(s) => s,
        Err(e) => {
            return Report::error(
                INVALID_INPUT,
                format!("opening {}: {e}", display_url(&config.database_url)),
            )
        }
    };
    let warnings = desired
        .warnings
        .iter()
        .map(|w| format!("warning: {}: {w}", args.file.display()));
    if !args.apply {
        return match plan_against(store.as_ref(), &args.file, &desired).await {
            Ok(planned) => {
                let mut stdout: Vec<String> =
                    planned.diff.iter().map(ToString::to_string).collect();
                stdout.push(format!("check: {}", planned.summary()));
                Report {
                    stdout,
                    stderr: warnings.collect(),
                    code: 0,
                }
            }
            Err(lines) => errors(lines),
        };
    }
    match apply(store.as_ref(), &args.file).await {
        Ok((_, planned)) => {
            let mut stdout: Vec<String> = planned.diff.iter().map(ToString::to_string).collect();
            stdout.push(format!("applied: {}", planned.summary()));
            Report {
                stdout,
                stderr: warnings.collect(),
                code: 0,
            }
        }
        Err(lines) => errors(lines),
    }
}

fn errors(lines: Vec<String>) -> Report {
    Report {
        stdout: Vec::new(),
        stderr: lines.into_iter().map(|l| format!("error: {l}")).collect(),
        code: INVALID_INPUT,
    }
}

/// [`apply`], logging the warnings and the diff, or the errors (then the configuration stays
/// as it was) before returning them.
pub async fn apply_logged(store: &dyn Store, path: &Path) -> Result<Planned, Vec<String>> {
    match apply(store, path).await {
        Ok((desired, planned)) => {
            for w in &desired.warnings {
                tracing::warn!(file = %path.display(), "{w}");
            }
            for line in &planned.diff {
                tracing::info!(file = %path.display(), "provisioned: {line}");
            }
            tracing::info!(file = %path.display(), "provisioning applied: {}", planned.summary());
            Ok(planned)
        }
        Err(lines) => {
            for line in &lines {
                tracing::error!("provisioning not applied: {line}");
            }
            Err(lines)
        }
    }
}

/// What a running server refreshes after a provisioning run changed its configuration.
#[derive(Clone)]
pub struct Refresh {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The routing snapshot to drop.
    pub routing: Arc<crate::routing::RoutingCache>,
    /// The built channels to drop.
    pub channels: Arc<crate::delivery::channels::ChannelCache>,
    /// The groups' renderers to drop.
    pub templates: Arc<crate::delivery::templates::GroupRenderers>,
    /// The watchers to restart or stop.
    pub watchers: Arc<crate::watch::Watchers>,
}

impl Refresh {
    /// Applies the file and refreshes what changed (see [`apply_logged`]).
    pub async fn apply_file(&self, path: &Path) -> Result<(), Vec<String>> {
        let planned = apply_logged(self.store.as_ref(), path).await?;
        if !planned.diff.is_empty() {
            self.refresh(&planned).await;
        }
        Ok(())
    }

    /// Applies the file again on every SIGHUP until `shutdown` turns true.
    pub async fn on_sighup(
        self,
        path: std::path::PathBuf,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!(
                    "provisioning: cannot listen for SIGHUP; the file is applied at start only"
                );
                return;
            };
            loop {
                tokio::select! {
                    _ = hup.recv() => {
                        tracing::info!(file = %path.display(), "SIGHUP: applying the provisioning file again");
                        let _ = self.apply_file(&path).await;
                    }
                    _ = shutdown.changed() => return,
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (path, shutdown.changed().await);
        }
    }

    async fn refresh(&self, planned: &Planned) {
        self.routing.invalidate();
        self.templates.clear();
        for id in &planned.instances_touched {
            self.channels.invalidate(*id);
        }
        for id in &planned.clusters_removed {
            self.watchers.stop(*id).await;
        }
        if planned.clusters_touched.is_empty() {
            return;
        }
        match self.store.list_clusters().await {
            Ok(clusters) => {
                for c in clusters
                    .iter()
                    .filter(|c| planned.clusters_touched.contains(&c.input.name))
                {
                    self.watchers.apply(c).await;
                }
            }
            Err(e) => tracing::error!("provisioning: reading clusters to watch: {e}"),
        }
    }
}
