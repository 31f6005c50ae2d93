//! `/api/v1/clusters`: the Flink clusters the watcher polls, and the jobs it sees.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::instances::check_name;
use super::{rfc3339, AppState};
use crate::clock::now_ms;
use alert_store::{Cluster, ClusterInput};

/// Default poll interval.
pub const DEFAULT_POLL_INTERVAL_MS: u64 = 5_000;

/// The body of create and update.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClusterBody {
    /// Unique name; bindings with a `cluster` match it.
    pub name: String,
    /// The JobManager's REST URL, e.g. `http://127.0.0.1:8081`.
    pub url: String,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Poll interval in ms (500 to 3600000, default 5000).
    #[serde(default)]
    pub poll_interval_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// A cluster as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// REST URL (credentials, if any, masked).
    pub url: String,
    /// Whether it is polled.
    pub enabled: bool,
    /// Poll interval, ms.
    pub poll_interval_ms: u64,
    /// From a provisioning file: read-only here (writes answer `409 provisioned`).
    pub provisioned: bool,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last updated (RFC 3339).
    pub updated_at: String,
}

impl ClusterView {
    fn of(c: &Cluster) -> Self {
        Self {
            id: c.id,
            name: c.input.name.clone(),
            url: alert_core::text::redact_url(&c.input.url),
            enabled: c.input.enabled,
            poll_interval_ms: c.input.poll_interval_ms,
            provisioned: c.provisioned,
            created_at: rfc3339(c.created_at),
            updated_at: rfc3339(c.updated_at),
        }
    }
}

/// Checks a body into what the store keeps (also used for provisioning files).
pub(crate) fn validate(body: ClusterBody) -> Result<ClusterInput, ApiError> {
    let name = check_name(&body.name)?;
    let url = body.url.trim().trim_end_matches('/').to_owned();
    let parsed = url::Url::parse(&url)
        .map_err(|e| ApiError::invalid("url", format!("is not a valid URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "url",
            "must be the JobManager's http(s) REST address, e.g. http://127.0.0.1:8081",
        ));
    }
    let poll_interval_ms = body.poll_interval_ms.unwrap_or(DEFAULT_POLL_INTERVAL_MS);
    if !(500..=3_600_000).contains(&poll_interval_ms) {
        return Err(ApiError::invalid(
            "poll_interval_ms",
            "must be between 500 and 3600000",
        ));
    }
    Ok(ClusterInput {
        name,
        url,
        enabled: body.enabled,
        poll_interval_ms,
    })
}

/// `GET /api/v1/clusters`
#[utoipa::path(get, path = "/api/v1/clusters", tag = "clusters", responses((status = 200, body = [ClusterView])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<ClusterView>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_clusters()
            .await?
            .iter()
            .map(ClusterView::of)
            .collect(),
    ))
}

/// `POST /api/v1/clusters` → 201; the watcher starts at once.
#[utoipa::path(post, path = "/api/v1/clusters", tag = "clusters", request_body = ClusterBody, responses(
    (status = 201, body = ClusterView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ClusterBody>,
) -> Result<Response, ApiError> {
    let created = state
        .store
        .create_cluster(&validate(body)?, now_ms())
        .await?;
    state.watchers.apply(&created).await;
    Ok((StatusCode::CREATED, Json(ClusterView::of(&created))).into_response())
}

async fn load(state: &AppState, id: i64) -> Result<Cluster, ApiError> {
    state
        .store
        .get_cluster(id)
        .await?
        .ok_or_else(|| ApiError::not_found("cluster", id))
}

/// `GET /api/v1/clusters/{id}`
#[utoipa::path(get, path = "/api/v1/clusters/{id}", tag = "clusters", params(("id" = i64, Path)), responses((status = 200, body = ClusterView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ClusterView>, ApiError> {
    Ok(Json(ClusterView::of(&load(&state, id).await?)))
}

/// `PUT /api/v1/clusters/{id}`; the watcher restarts with the new settings.
#[utoipa::path(put, path = "/api/v1/clusters/{id}", tag = "clusters", params(("id" = i64, Path)), request_body = ClusterBody, responses(
    (status = 200, body = ClusterView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<ClusterBody>,
) -> Result<Json<ClusterView>, ApiError> {
    if load(&state, id).await?.provisioned {
        return Err(ApiError::provisioned("cluster", id));
    }
    let input = validate(body)?;
    let updated = state
        .store
        .update_cluster(id, &input, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("cluster", id))?;
    state.watchers.apply(&updated).await;
    Ok(Json(ClusterView::of(&updated)))
}

/// `DELETE /api/v1/clusters/{id}` → 204; its watcher stops.
#[utoipa::path(delete, path = "/api/v1/clusters/{id}", tag = "clusters", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if load(&state, id).await?.provisioned {
        return Err(ApiError::provisioned("cluster", id));
    }
    state.watchers.stop(id).await;
    if state.store.delete_cluster(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("cluster", id))
    }
}

/// `GET /api/v1/clusters/{id}/jobs`: the cluster's health and the jobs the watcher sees,
/// each with its last state.
#[utoipa::path(get, path = "/api/v1/clusters/{id}/jobs", tag = "clusters", params(("id" = i64, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn jobs(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let cluster = load(&state, id).await?;
    let live = state.watchers.view(id).await;
    let watching = live.is_some();
    // Watched by another replica (or by none): the state it last committed.
    let view = match live {
        Some(view) => Some(view),
        None => state.watchers.stored_view(&cluster).await,
    };
    let mut out = serde_json::json!({"cluster_id": cluster.id, "cluster": cluster.input.name, "watching": watching});
    if let Some(view) = view {
        let shown = serde_json::to_value(&view).map_err(|e| ApiError::internal(&e))?;
        if let Value::Object(map) = shown {
            for (k, v) in map {
                out[k] = v;
            }
        }
    } else {
        out["jobs"] = Value::Array(Vec::new());
    }
    Ok(Json(out))
}
