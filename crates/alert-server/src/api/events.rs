//! `/api/v1/events`: job state changes in; deliveries committed before the answer.

use std::collections::BTreeMap;

use alert_core::{JobEvent, JobStatus};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::history::DeliveryView;
use super::{rfc3339, AppState};
use crate::clock::now_ms;

/// The body of `POST /api/v1/events` (a [`JobEvent`], `occurred_at` optional, plus `group_id`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventBody {
    /// Flink job id.
    pub job_id: String,
    /// Job name (what bindings match).
    pub job_name: String,
    /// Cluster name.
    #[serde(default)]
    pub cluster: String,
    /// New status (Flink's name, any case; STOPPED for stop-with-savepoint).
    #[schema(value_type = String, example = "FAILED")]
    pub status: JobStatus,
    /// Previous status.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "RUNNING")]
    pub previous_status: Option<JobStatus>,
    /// RFC 3339; default now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub occurred_at: Option<DateTime<FixedOffset>>,
    /// How long the job ran, ms.
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Root cause.
    #[serde(default)]
    pub error: Option<String>,
    /// Flink web UI link.
    #[serde(default)]
    pub url: Option<String>,
    /// Free labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Send to this group, bypassing bindings.
    #[serde(default)]
    pub group_id: Option<i64>,
}

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventAccepted {
    /// Event id.
    pub event_id: i64,
    /// Deliveries created.
    pub deliveries: usize,
    /// True when this event was already received (nothing new is sent).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
}

fn to_event(body: EventBody) -> Result<(JobEvent, Option<i64>), ApiError> {
    if body.job_id.trim().is_empty() {
        return Err(ApiError::invalid("job_id", "must not be empty"));
    }
    if body.job_name.trim().is_empty() {
        return Err(ApiError::invalid("job_name", "must not be empty"));
    }
    let occurred_at = body
        .occurred_at
        .unwrap_or_else(|| chrono::Utc::now().fixed_offset());
    let event = JobEvent {
        job_id: body.job_id.trim().to_owned(),
        job_name: body.job_name,
        cluster: body.cluster,
        status: body.status,
        previous_status: body.previous_status,
        occurred_at,
        duration_ms: body.duration_ms,
        error: body.error,
        url: body.url,
        labels: body.labels,
    };
    Ok((event, body.group_id))
}

/// `POST /api/v1/events` → 202 `{"event_id","deliveries"}` once committed; 200 with
/// `"duplicate": true` for an event already received.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body = EventBody, responses(
    (status = 202, body = EventAccepted, description = "stored with its deliveries"),
    (status = 200, body = EventAccepted, description = "duplicate: already received"),
    (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<EventBody>,
) -> Result<Response, ApiError> {
    let (event, group_id) = to_event(body)?;
    let snapshot = state.routing.get(state.store.as_ref()).await?;
    let targets = snapshot
        .targets(&event, group_id)
        .map_err(|m| ApiError::invalid("group_id", m))?;
    let now = now_ms();
    let deadline =
        now + i64::try_from(state.delivery.retry_deadline().as_millis()).unwrap_or(i64::MAX);
    let repeat_since =
        now - i64::try_from(state.delivery.repeat_window_secs * 1000).unwrap_or(i64::MAX);
    let inserted = state
        .store
        .insert_event(&event, &targets, now, deadline, repeat_since)
        .await?;
    let answer = EventAccepted {
        event_id: inserted.event_id,
        deliveries: inserted.deliveries,
        duplicate: inserted.duplicate,
    };
    if inserted.duplicate {
        return Ok((StatusCode::OK, Json(answer)).into_response());
    }
    state.metrics.events.inc();
    if inserted.deliveries > 0 {
        state.wake.notify_one();
    }
    tracing::debug!(event = inserted.event_id, job = %event.job_name, cluster = %event.cluster, status = %event.status, deliveries = inserted.deliveries, "event accepted");
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `GET /api/v1/events/{id}`: the event with its deliveries and their attempts.
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events", params(("id" = i64, Path)), responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let (stored, deliveries) = state
        .store
        .get_event(id)
        .await?
        .ok_or_else(|| ApiError::not_found("event", id))?;
    let instances = state.store.list_instances().await?;
    let mut shown = Vec::with_capacity(deliveries.len());
    for d in &deliveries {
        let instance = instances.iter().find(|i| i.id == d.instance_id);
        let mut view =
            serde_json::to_value(DeliveryView::of(d)).map_err(|e| ApiError::internal(&e))?;
        view["instance_name"] = json!(instance.map(|i| i.input.name.clone()));
        view["kind"] = json!(instance.map(|i| i.input.kind.clone()));
        view["attempt_log"] = serde_json::to_value(state.store.attempts(d.id).await?)
            .map_err(|e| ApiError::internal(&e))?;
        shown.push(view);
    }
    let mut event = serde_json::to_value(&stored.event).map_err(|e| ApiError::internal(&e))?;
    event["id"] = json!(stored.id);
    event["received_at"] = json!(rfc3339(stored.received_at));
    event["deliveries"] = Value::Array(shown);
    Ok(Json(event))
}
