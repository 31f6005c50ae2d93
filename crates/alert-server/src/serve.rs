//! `alert-server serve`: the REST service, the web console and the delivery engine over one store.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::api::{self, AppShared, AppState};
use crate::config::{HttpConfig, ServerConfig};
use crate::delivery::channels::ChannelCache;
use crate::delivery::templates::GroupRenderers;
use crate::delivery::Engine;
use crate::metrics::Metrics;
use crate::routing::RoutingCache;
use crate::watch::Watchers;
use alert_store::{Store, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration is not usable (e.g. a public address without a token).
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The database could not be opened or migrated.
    #[error("database: {0}")]
    Database(#[from] StoreError),
    /// The provisioning file could not be applied (each line: `FILE:LINE: field: why`).
    #[error("provisioning: {}", .0.join("; "))]
    Provision(Vec<String>),
    /// The address could not be bound.
    #[error("listen: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A started server: its address, and the handle to stop it.
#[derive(Debug)]
pub struct RunningServer {
    /// Where it listens (the real port when 0 was asked).
    pub local_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    watchers: Arc<Watchers>,
    http: JoinHandle<()>,
    engine: JoinHandle<()>,
}

impl RunningServer {
    /// Stops accepting, lets in-flight requests and deliveries finish (or releases them), and
    /// returns once both are done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        self.watchers.stop_all().await;
        let _ = self.http.await;
        let _ = self.engine.await;
        tracing::info!("stopped");
    }

    /// Runs until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing in-flight deliveries");
        self.shutdown().await;
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Opens the store named by the configuration's `database_url` ([`alert_store::connect`]:
/// `sqlite:` URLs the embedded SQLite store, `postgres://` and `postgresql://` URLs the
/// PostgreSQL one); an unsupported scheme is an error naming the setting.
pub async fn open_store(config: &ServerConfig) -> Result<Arc<dyn Store>, StoreError> {
    alert_store::connect(&config.database_url)
        .await
        .map_err(|e| match e {
            StoreError::Database(m) if m.starts_with("unsupported database") => {
                StoreError::Database(format!("database_url: {m}"))
            }
            other => other,
        })
}

/// Opens the database, starts the delivery engine and the HTTP server.
pub async fn start(config: ServerConfig) -> Result<RunningServer, ServeError> {
    config.validate()?;
    let store = open_store(&config).await?;
    let metrics = Arc::new(Metrics::default());
    let channels = Arc::new(ChannelCache::default());
    let templates = Arc::new(GroupRenderers::default());
    let wake = Arc::new(Notify::new());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let replica = config.replica_id();

    let engine = Engine::new(
        Arc::clone(&store),
        Arc::clone(&channels),
        Arc::clone(&templates),
        Arc::clone(&metrics),
        config.delivery.clone(),
        Arc::clone(&wake),
        // Unique per start: rows a previous run of this replica claimed are not "ours".
        format!("{replica}@{}", crate::clock::now_ms()),
    );
    let handoff = engine.handoff();
    let engine = tokio::spawn(engine.run(shutdown_rx.clone()));

    let routing = Arc::new(RoutingCache::default());
    let event_ingest = Arc::new(crate::intake::event_ingest(crate::intake::IntakeSink {
        store: Arc::clone(&store),
        handoff: Some(handoff),
        wake: Arc::clone(&wake),
    }));
    let watchers = Arc::new(
        Watchers::new(
            Arc::clone(&store),
            Arc::clone(&routing),
            Arc::clone(&event_ingest),
            Arc::clone(&metrics),
            config.delivery.clone(),
            replica.clone(),
            config.watch.lease_ms,
        )
        .with_health_reads_per_poll(config.watch.health_reads_per_poll),
    );
    if let Some(path) = &config.provision {
        let refresh = crate::provision::Refresh {
            store: Arc::clone(&store),
            routing: Arc::clone(&routing),
            channels: Arc::clone(&channels),
            templates: Arc::clone(&templates),
            watchers: Arc::clone(&watchers),
        };
        // Nothing runs yet: no cache or watcher to refresh.
        crate::provision::apply_logged(store.as_ref(), path)
            .await
            .map_err(ServeError::Provision)?;
        tokio::spawn(refresh.on_sighup(path.clone(), shutdown_rx.clone()));
    }
    watchers.start_all().await?;
    let state = AppState::new(AppShared {
        am_ingest: Arc::new(crate::api::alertmanager::am_ingest(Arc::clone(&store))),
        event_ingest,
        store,
        channels,
        templates,
        metrics,
        wake,
        token: config.token.clone(),
        delivery: config.delivery.clone(),
        routing,
        watchers: Arc::clone(&watchers),
        replica: replica.clone(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let app = router(state, &config.http);
    let limits = config.http.clone();
    let http = tokio::spawn(async move {
        crate::http_server::serve(listener, app, &limits, shutdown_rx).await;
    });
    tracing::info!(%local_addr, database = %redact_db_url(&config.database_url), auth = config.token.is_some(), %replica, "alert-server listening");
    Ok(RunningServer {
        local_addr,
        shutdown,
        watchers,
        http,
        engine,
    })
}

/// The whole HTTP surface: the API ([`api::routes`]) and the web console
/// ([`crate::console::routes`]), under one request-body limit (`http.max_body_bytes`,
/// [`crate::http_server::limit_body`]), request timing by route
/// ([`crate::metrics::track_http`]) and request tracing.
pub fn router(state: AppState, limits: &HttpConfig) -> axum::Router {
    api::routes(state.clone())
        .merge(crate::console::routes(state.clone()))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            crate::metrics::track_http,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(limits.clone()),
            crate::http_server::limit_body,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http().on_failure(log_failure))
        .with_state(state)
}

/// Logs a failed response like tower-http does, except the `503`/`507` answers of a database
/// outage: every request fails alike then, and the API logs the outage itself at a bounded rate
/// (`api::error`).
fn log_failure(
    class: tower_http::classify::ServerErrorsFailureClass,
    latency: std::time::Duration,
    _span: &tracing::Span,
) {
    use tower_http::classify::ServerErrorsFailureClass;
    if let ServerErrorsFailureClass::StatusCode(status) = &class {
        if matches!(status.as_u16(), 503 | 507) {
            return;
        }
    }
    tracing::error!(classification = %class, latency_ms = latency.as_millis(), "response failed");
}

/// A database URL without its password, for logs.
pub fn redact_db_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unsupported_database_names_the_setting() {
        let config = ServerConfig {
            database_url: "mysql://root@localhost/alerts".to_owned(),
            ..ServerConfig::default()
        };
        let text = open_store(&config)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            text.contains("database_url") && text.contains("`mysql`"),
            "{text}"
        );
        let config = ServerConfig {
            database_url: "sqlite::memory:".to_owned(),
            ..ServerConfig::default()
        };
        assert!(!open_store(&config).await.unwrap().is_shared());
    }
}
