//! `/healthz`, `/metrics`, `/api/v1/plugins`.

use std::time::Duration;

use alert_store::StoreError;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

/// The longest `/healthz` waits for the database's answer.
const HEALTH_PING_TIMEOUT: Duration = Duration::from_millis(1_800);

/// `GET /healthz`: 200 when the database answers (503 otherwise, within 2 s), with this
/// replica's id and the clusters it watches (on PostgreSQL: the watcher leases it holds).
#[utoipa::path(get, path = "/healthz", tag = "system", security(()), responses((status = 200, body = Object, example = json!({"status": "ok", "database": "ok", "backend": "postgres", "replica": "host-a-4242", "watching": [1, 3]})), (status = 503, body = Object)))]
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let backend = if state.store.is_shared() {
        "postgres"
    } else {
        "sqlite"
    };
    let watching = state.watchers.watching().await;
    // Bounded: the store's own timeouts (PostgreSQL's connection acquire) answer first; this
    // one covers a connection that hangs without an error.
    let ping = match tokio::time::timeout(HEALTH_PING_TIMEOUT, state.store.ping()).await {
        Ok(result) => result,
        Err(_) => Err(StoreError::Unavailable(format!(
            "pinging the database: no answer within {} ms",
            HEALTH_PING_TIMEOUT.as_millis()
        ))),
    };
    match ping {
        Ok(()) => (
            StatusCode::OK,
            Json(json!({"status": "ok", "database": "ok", "backend": backend,
                "replica": state.replica, "watching": watching})),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unavailable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    json!({"status": "unavailable", "database": "error", "backend": backend,
                    "replica": state.replica, "watching": watching}),
                ),
            )
        }
    }
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "system", security(()), responses((status = 200, body = String, content_type = "application/openmetrics-text")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// `GET /api/v1/plugins`: every registered kind with its parameter schema.
#[utoipa::path(get, path = "/api/v1/plugins", tag = "system", responses((status = 200, body = [Object], description = "kinds sorted, with `params` schemas")))]
pub async fn plugins() -> Json<Value> {
    Json(serde_json::to_value(crate::registry()).expect("descriptors serialize"))
}

/// Unknown `/api/v1` paths.
pub async fn api_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such API endpoint; see /api/v1/openapi.json",
    )
}
