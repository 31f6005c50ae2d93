//! `/api/v1/history`: deliveries, newest first, with their event and instance.

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::{rfc3339, AppState};
use alert_store::{Delivery, DeliveryState, HistoryFilter, HistoryRow};

/// Query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Job id.
    pub job_id: Option<String>,
    /// Instance id.
    pub instance_id: Option<i64>,
    /// Group id.
    pub group_id: Option<i64>,
    /// Delivery state: pending, sent, failed, suppressed, silenced.
    #[param(value_type = Option<String>)]
    pub status: Option<DeliveryState>,
    /// Only the deliveries this silence held back.
    pub silence_id: Option<i64>,
    /// 1..=1000, default 100.
    pub limit: Option<u32>,
    /// Rows with id below this (the last id of the previous page).
    pub before: Option<i64>,
}

/// A delivery as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// Delivery id.
    pub id: i64,
    /// Event id (`null` for a digest).
    pub event_id: Option<i64>,
    /// Instance id.
    pub instance_id: i64,
    /// Routing group.
    pub group_id: Option<i64>,
    /// pending | sent | failed | suppressed | silenced.
    #[schema(value_type = String)]
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    /// The last error (`kind`, `code`, `message`).
    #[schema(value_type = Option<Object>)]
    pub last_error: Option<Value>,
    /// For suppressed rows: the digest that carried them.
    pub digest_id: Option<i64>,
    /// For silenced rows: the silence that held them back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub silence_id: Option<i64>,
    /// For pending rows: next attempt (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Accepted by the channel (RFC 3339).
    pub sent_at: Option<String>,
    /// For digests: the message sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub message: Option<Value>,
}

impl DeliveryView {
    /// The view of a stored delivery.
    pub fn of(d: &Delivery) -> Self {
        Self {
            id: d.id,
            event_id: d.event_id,
            instance_id: d.instance_id,
            group_id: d.group_id,
            state: d.state,
            attempts: d.attempts,
            last_error: d.last_error.clone(),
            digest_id: d.digest_id,
            silence_id: d.silence_id,
            next_attempt_at: (d.state == DeliveryState::Pending)
                .then(|| rfc3339(d.next_attempt_at)),
            created_at: rfc3339(d.created_at),
            sent_at: d.sent_at.map(rfc3339),
            message: d
                .payload
                .as_ref()
                .map(|p| serde_json::json!({"title": p.get("title"), "text": p.get("text")})),
        }
    }
}

/// A history entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HistoryEntry {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// Job id.
    pub job_id: Option<String>,
    /// Job name.
    pub job_name: Option<String>,
    /// The job's cluster.
    pub cluster: Option<String>,
    /// `RUNNING → FAILED`
    pub status_change: Option<String>,
    /// Instance name.
    pub instance_name: String,
    /// Channel kind.
    pub kind: String,
}

impl HistoryEntry {
    fn of(row: &HistoryRow) -> Self {
        let status_change = row.status.map(|s| match row.previous_status {
            Some(p) => format!("{p} → {s}"),
            None => s.to_string(),
        });
        Self {
            delivery: DeliveryView::of(&row.delivery),
            job_id: row.job_id.clone(),
            job_name: row.job_name.clone(),
            cluster: row.cluster.clone(),
            status_change,
            instance_name: row.instance_name.clone(),
            kind: row.kind.clone(),
        }
    }
}

/// `GET /api/v1/history?job_id=&instance_id=&group_id=&status=&silence_id=&limit=&before=`
#[utoipa::path(get, path = "/api/v1/history", tag = "history", params(HistoryQuery), responses((status = 200, body = [HistoryEntry]), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<HistoryEntry>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let filter = HistoryFilter {
        job_id: q.job_id,
        instance_id: q.instance_id,
        group_id: q.group_id,
        state: q.status,
        silence_id: q.silence_id,
        before: q.before,
        limit,
    };
    Ok(Json(
        state
            .store
            .history(&filter)
            .await?
            .iter()
            .map(HistoryEntry::of)
            .collect(),
    ))
}
