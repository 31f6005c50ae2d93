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

use super::body::{parse, JsonBytes};
use super::error::{ApiError, ErrorBody};
use super::history::DeliveryView;
use super::{rfc3339, AppState};
use crate::clock::now_ms;
use crate::intake::EventJob;
use alert_store::EventTimes;

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

/// The answer for one event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventAccepted {
    /// Event id.
    pub event_id: i64,
    /// Deliveries created.
    pub deliveries: usize,
    /// True when this event was already received (nothing new is sent).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// The active silence that held its deliveries back (recorded `silenced`, nothing sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silence_id: Option<i64>,
}

/// The answer for an array of events: one entry per event, in input order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventsAccepted {
    /// What became of each event.
    pub events: Vec<EventAccepted>,
}

/// The body of `POST /api/v1/events`, for the OpenAPI document: one event, or an array of
/// them.
#[derive(Debug, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema: the handler reads the body itself
pub enum EventsBody {
    /// One event.
    One(EventBody),
    /// Up to [`MAX_EVENTS_PER_REQUEST`] events, stored together.
    Many(Vec<EventBody>),
}

/// The answer of `POST /api/v1/events`, for the OpenAPI document.
#[derive(Debug, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema: the handler answers with one of the two
pub enum EventsAnswer {
    /// For one event.
    One(EventAccepted),
    /// For an array.
    Many(EventsAccepted),
}

/// The most events one request may carry.
pub const MAX_EVENTS_PER_REQUEST: usize = 1000;

/// The event an [`EventBody`] describes (`occurred_at` defaults to now) and its `group_id`.
pub(crate) fn to_event(body: EventBody) -> Result<(JobEvent, Option<i64>), ApiError> {
    if body.job_id.trim().is_empty() {
        return Err(ApiError::invalid("job_id", "must not be empty"));
    }
    if body.job_name.trim().is_empty() {
        return Err(ApiError::invalid("job_name", "must not be empty"));
    }
    let occurred_at = body
        .occurred_at
        .unwrap_or_else(|| chrono::Utc::now().fixed_offset());
    let mut event = JobEvent::new(body.job_id.trim(), body.job_name, body.status, occurred_at)
        .with_cluster(body.cluster);
    event.previous_status = body.previous_status;
    event.duration_ms = body.duration_ms;
    event.error = body.error;
    event.url = body.url;
    event.labels = body.labels;
    Ok((event, body.group_id))
}

/// The times stamped on events received now.
fn times_now(state: &AppState) -> EventTimes {
    let now = now_ms();
    EventTimes {
        now,
        deadline_at: now.saturating_add(
            i64::try_from(state.delivery.retry_deadline().as_millis()).unwrap_or(i64::MAX),
        ),
        repeat_since: now.saturating_sub(
            i64::try_from(state.delivery.repeat_window_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        ),
    }
}

/// `POST /api/v1/events`: one event (an object) → 202 `{"event_id","deliveries"}` once
/// committed, 200 with `"duplicate": true` for an event already received; or an array of up
/// to [`MAX_EVENTS_PER_REQUEST`] events → 202 `{"events": [...]}` in input order once all of
/// them and their deliveries are committed, or an error naming the first bad item (`[3].status`)
/// and nothing stored.
#[utoipa::path(post, path = "/api/v1/events", tag = "events", request_body(content = EventsBody,
    description = "one event, or a JSON array of up to 1000 of them"), responses(
    (status = 202, body = EventsAnswer, description = "stored with its deliveries: `EventAccepted` for one event, `EventsAccepted` for an array"),
    (status = 200, body = EventAccepted, description = "duplicate: already received"),
    (status = 400, body = ErrorBody), (status = 422, body = ErrorBody),
    (status = 503, body = ErrorBody, description = "`database_unavailable`: nothing stored; retry after `Retry-After` seconds"),
    (status = 507, body = ErrorBody, description = "`storage_full`: the database has no room left; nothing stored")))]
pub async fn create(
    State(state): State<AppState>,
    JsonBytes(bytes): JsonBytes,
) -> Result<Response, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return create_many(&state, &bytes).await;
    }
    let (event, group_id) = to_event(parse::<EventBody>(&bytes)?)?;
    let snapshot = state.routing.get(state.store.as_ref()).await?;
    let targets = snapshot
        .targets(&event, group_id)
        .map_err(|m| ApiError::invalid("group_id", m))?;
    let (job_name, cluster, status) = (event.job_name.clone(), event.cluster.clone(), event.status);
    let times = times_now(&state);
    let silence_id = snapshot.silence_for(&event, times.now);
    let inserted = state
        .event_ingest
        .submit(
            vec![EventJob {
                event,
                targets,
                times,
                silence_id,
            }]
            .into(),
        )
        .await
        .map_err(|_| ApiError::internal(&"the event's commit did not finish"))??
        .pop()
        .ok_or_else(|| ApiError::internal(&"the event's commit gave no result"))?;
    let answer = EventAccepted {
        event_id: inserted.event_id,
        deliveries: inserted.deliveries,
        duplicate: inserted.duplicate,
        silence_id: silence_id.filter(|_| !inserted.duplicate),
    };
    if inserted.duplicate {
        return Ok((StatusCode::OK, Json(answer)).into_response());
    }
    state.metrics.events.inc();
    if answer.silence_id.is_some() {
        state.metrics.events_silenced.inc();
    }
    tracing::debug!(event = inserted.event_id, job = %job_name, cluster = %cluster, status = %status, deliveries = inserted.deliveries, "event accepted");
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// `POST /api/v1/events` with an array: every event checked and routed first, then all of
/// them stored in one transaction.
async fn create_many(state: &AppState, bytes: &[u8]) -> Result<Response, ApiError> {
    let bodies = parse::<Vec<EventBody>>(bytes)?;
    if bodies.len() > MAX_EVENTS_PER_REQUEST {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!(
                "at most {MAX_EVENTS_PER_REQUEST} events in one request (got {}): split the array",
                bodies.len()
            ),
        ));
    }
    let snapshot = state.routing.get(state.store.as_ref()).await?;
    let mut routed = Vec::with_capacity(bodies.len());
    for (i, body) in bodies.into_iter().enumerate() {
        let (event, group_id) = to_event(body).map_err(|e| e.within(i))?;
        let targets = snapshot
            .targets(&event, group_id)
            .map_err(|m| ApiError::invalid("group_id", m).within(i))?;
        routed.push((event, targets));
    }
    let times = times_now(state);
    let jobs: Vec<EventJob> = routed
        .into_iter()
        .map(|(event, targets)| EventJob {
            silence_id: snapshot.silence_for(&event, times.now),
            event,
            targets,
            times,
        })
        .collect();
    let silences: Vec<Option<i64>> = jobs.iter().map(|j| j.silence_id).collect();
    let inserted = state
        .event_ingest
        .submit(jobs.into())
        .await
        .map_err(|_| ApiError::internal(&"the events' commit did not finish"))??;
    let fresh = inserted.iter().filter(|i| !i.duplicate).count() as u64;
    state.metrics.events.inc_by(fresh);
    let silenced = inserted
        .iter()
        .zip(&silences)
        .filter(|(i, silence)| !i.duplicate && silence.is_some())
        .count() as u64;
    state.metrics.events_silenced.inc_by(silenced);
    tracing::debug!(events = inserted.len(), new = fresh, "events accepted");
    let events = inserted
        .into_iter()
        .zip(silences)
        .map(|(i, silence)| EventAccepted {
            event_id: i.event_id,
            deliveries: i.deliveries,
            duplicate: i.duplicate,
            silence_id: silence.filter(|_| !i.duplicate),
        })
        .collect();
    Ok((StatusCode::ACCEPTED, Json(EventsAccepted { events })).into_response())
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
