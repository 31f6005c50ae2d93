//! The REST API under `/api/v1`, plus `/healthz` and `/metrics`.
//!
//! Handlers validate, call the [`Store`](alert_store::Store), and answer JSON; errors are
//! `{"error":{"code","message","field"}}` ([`error::ApiError`]).

pub mod alertmanager;
pub mod auth;
pub mod bindings;
pub mod body;
pub mod clusters;
pub mod error;
pub mod events;
pub mod groups;
pub mod history;
pub mod instances;
pub mod openapi;
pub mod silences;
pub mod stats;
pub mod system;
pub mod templates;

use std::sync::Arc;

use alert_core::Secret;
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::Notify;

use crate::config::DeliveryConfig;
use crate::delivery::channels::ChannelCache;
use crate::delivery::templates::GroupRenderers;
use crate::metrics::Metrics;
use crate::routing::RoutingCache;
use alert_store::Store;

/// What every handler shares: one pointer, cloned per request and per layer by axum.
#[derive(Clone)]
pub struct AppState(Arc<AppShared>);

impl AppState {
    /// The state of a server made of `shared`.
    pub fn new(shared: AppShared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppShared;

    fn deref(&self) -> &AppShared {
        &self.0
    }
}

/// The services and settings behind an [`AppState`].
pub struct AppShared {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Built channels (invalidated on instance changes).
    pub channels: Arc<ChannelCache>,
    /// The groups' renderers (invalidated on group changes).
    pub templates: Arc<GroupRenderers>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Wakes the delivery engine when deliveries are committed.
    pub wake: Arc<Notify>,
    /// The API token, if one is configured.
    pub token: Option<Secret>,
    /// Delivery settings (retry deadline, repeat window).
    pub delivery: DeliveryConfig,
    /// Routing configuration, cached between changes.
    pub routing: Arc<RoutingCache>,
    /// Flink cluster watchers.
    pub watchers: Arc<crate::watch::Watchers>,
    /// This replica's id (`replica_id`).
    pub replica: String,
    /// The Alertmanager ingest's group commit.
    pub am_ingest: Arc<alertmanager::AmIngest>,
    /// The job events' group commit.
    pub event_ingest: Arc<crate::intake::EventIngest>,
}

impl std::fmt::Debug for AppShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// The API's routes: `/healthz`, `/metrics` and `/api/v1` (token-protected, except
/// `/api/v1/openapi.json`). The server serves them beside the console, see
/// [`crate::serve::router`].
pub fn routes(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/plugins", get(system::plugins))
        .route("/instances", get(instances::list).post(instances::create))
        .route(
            "/instances/{id}",
            get(instances::get)
                .put(instances::update)
                .delete(instances::delete),
        )
        .route("/instances/{id}/test", post(instances::test))
        .route("/groups", get(groups::list).post(groups::create))
        .route(
            "/groups/{id}",
            get(groups::get).put(groups::update).delete(groups::delete),
        )
        .route("/bindings", get(bindings::list).post(bindings::create))
        .route(
            "/bindings/{id}",
            get(bindings::get).delete(bindings::delete),
        )
        .route("/clusters", get(clusters::list).post(clusters::create))
        .route(
            "/clusters/{id}",
            get(clusters::get)
                .put(clusters::update)
                .delete(clusters::delete),
        )
        .route("/clusters/{id}/jobs", get(clusters::jobs))
        .route("/events", post(events::create))
        .route("/events/{id}", get(events::get))
        .route("/history", get(history::list))
        .route("/silences", get(silences::list).post(silences::create))
        .route(
            "/silences/{id}",
            get(silences::get).delete(silences::expire),
        )
        .route("/stats", get(stats::get))
        .route("/templates/preview", post(templates::preview))
        .route(
            "/ingest/alertmanager",
            get(alertmanager::list).post(alertmanager::ingest),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            invalidate_routing,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ))
        // Added after the auth layer: the API description is public.
        .route("/openapi.json", get(openapi::serve))
        .fallback(system::api_not_found);
    Router::new()
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .nest("/api/v1", api)
}

/// Drops the routing snapshot after any change to instances, groups, bindings or silences.
async fn invalidate_routing(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let changes_config = request.method() != axum::http::Method::GET
        && ["/instances", "/groups", "/bindings", "/silences"]
            .iter()
            .any(|p| request.uri().path().contains(p));
    let response = next.run(request).await;
    if changes_config {
        state.routing.invalidate();
    }
    response
}

/// Unix milliseconds as RFC 3339 (UTC, milliseconds).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
