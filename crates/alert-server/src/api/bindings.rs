//! `/api/v1/bindings`: which jobs alert which group.

use alert_core::JobStatus;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::{rfc3339, AppState};
use crate::delivery::now_ms;
use crate::routing::validate_pattern;
use crate::store::{Binding, BindingInput};

/// The statuses a binding alerts on when it names none: the seed product's five.
pub const DEFAULT_STATUSES: [JobStatus; 5] = [
    JobStatus::Failed,
    JobStatus::Canceled,
    JobStatus::Finished,
    JobStatus::Unknown,
    JobStatus::Stopped,
];

/// The body of create.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingBody {
    /// Job name or glob (`orders_*`).
    pub job: String,
    /// Cluster name; absent = any cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The group to alert.
    pub group_id: i64,
    /// Statuses that alert (default: FAILED, CANCELED, FINISHED, UNKNOWN, STOPPED).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["FAILED", "CANCELED"]))]
    pub statuses: Option<Vec<JobStatus>>,
}

/// A binding as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BindingView {
    /// Id.
    pub id: i64,
    /// Job name or glob.
    pub job: String,
    /// Cluster, if restricted.
    pub cluster: Option<String>,
    /// Group.
    pub group_id: i64,
    /// Alerting statuses.
    #[schema(value_type = Vec<String>)]
    pub statuses: Vec<JobStatus>,
    /// Created (RFC 3339).
    pub created_at: String,
}

impl BindingView {
    fn of(b: &Binding) -> Self {
        Self {
            id: b.id,
            job: b.input.job.clone(),
            cluster: b.input.cluster.clone(),
            group_id: b.input.group_id,
            statuses: b.input.statuses.clone(),
            created_at: rfc3339(b.created_at),
        }
    }
}

/// `GET /api/v1/bindings`
#[utoipa::path(get, path = "/api/v1/bindings", tag = "bindings", responses((status = 200, body = [BindingView])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<BindingView>>, ApiError> {
    Ok(Json(
        state
            .store
            .list_bindings()
            .await?
            .iter()
            .map(BindingView::of)
            .collect(),
    ))
}

/// `POST /api/v1/bindings` → 201
#[utoipa::path(post, path = "/api/v1/bindings", tag = "bindings", request_body = BindingBody, responses(
    (status = 201, body = BindingView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<BindingBody>,
) -> Result<Response, ApiError> {
    validate_pattern(&body.job).map_err(|m| ApiError::invalid("job", m))?;
    let statuses = body.statuses.unwrap_or_else(|| DEFAULT_STATUSES.to_vec());
    if statuses.is_empty() {
        return Err(ApiError::invalid(
            "statuses",
            "must name at least one status (or be left out for the default five)",
        ));
    }
    let mut unique = Vec::with_capacity(statuses.len());
    for s in statuses {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    let cluster = body
        .cluster
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    let input = BindingInput {
        job: body.job.trim().to_owned(),
        cluster,
        group_id: body.group_id,
        statuses: unique,
    };
    let created = state.store.create_binding(&input, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(BindingView::of(&created))).into_response())
}

/// `GET /api/v1/bindings/{id}`
#[utoipa::path(get, path = "/api/v1/bindings/{id}", tag = "bindings", params(("id" = i64, Path)), responses((status = 200, body = BindingView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<BindingView>, ApiError> {
    let all = state.store.list_bindings().await?;
    let b = all
        .iter()
        .find(|b| b.id == id)
        .ok_or_else(|| ApiError::not_found("binding", id))?;
    Ok(Json(BindingView::of(b)))
}

/// `DELETE /api/v1/bindings/{id}` → 204
#[utoipa::path(delete, path = "/api/v1/bindings/{id}", tag = "bindings", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_binding(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("binding", id))
    }
}
