//! `/api/v1/silences`: silences for planned work. A job event (or an Alertmanager alert) that
//! an active silence matches is stored, its deliveries are recorded `silenced`, and nothing is
//! sent.

use std::collections::BTreeMap;

use alert_core::JobStatus;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::{rfc3339, AppState};
use crate::clock::now_ms;
use crate::routing::validate_pattern;
use alert_store::{Silence, SilenceInput, SilenceMatchers, SilenceState};

/// The longest a silence may last (from its start to its end).
pub const MAX_SILENCE_MS: i64 = 90 * 24 * 3600 * 1000;
/// The longest comment, in bytes.
const MAX_COMMENT_BYTES: usize = 2000;
/// The longest `created_by`, in bytes.
const MAX_AUTHOR_BYTES: usize = 200;

/// What a silence matches: every given matcher must match.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchersBody {
    /// Job name or glob (`orders_*`, `*` for every job); for an Alertmanager alert, its `job`
    /// label.
    #[serde(default)]
    pub job: Option<String>,
    /// Cluster name or glob; for an Alertmanager alert, its `cluster` label. Absent: any.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Only these job statuses (absent: any). A silence with statuses takes no Alertmanager
    /// alert.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["CANCELED"]))]
    pub statuses: Option<Vec<JobStatus>>,
    /// Labels the event (or alert) must carry, each value a name or glob.
    #[serde(default)]
    #[schema(example = json!({"team": "data"}))]
    pub labels: Option<BTreeMap<String, String>>,
}

/// The body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceBody {
    /// What it matches (`job` required).
    #[serde(default)]
    pub matchers: Option<MatchersBody>,
    /// RFC 3339; default now.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub starts_at: Option<DateTime<FixedOffset>>,
    /// RFC 3339, required: in the future, after `starts_at`, at most 90 days after it.
    #[serde(default)]
    #[schema(value_type = String, format = DateTime)]
    pub ends_at: Option<DateTime<FixedOffset>>,
    /// Why (required): the planned work.
    #[serde(default)]
    pub comment: Option<String>,
    /// Who.
    #[serde(default)]
    pub created_by: Option<String>,
}

/// What a silence matches, as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MatchersView {
    /// Job name or glob.
    pub job: String,
    /// Cluster name or glob.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// Job statuses (absent: any).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub statuses: Vec<JobStatus>,
    /// Labels, each value a name or glob.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A silence as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SilenceView {
    /// Id.
    pub id: i64,
    /// `pending` (starts later), `active` or `expired`, now.
    #[schema(value_type = String, example = "active")]
    pub state: SilenceState,
    /// What it matches.
    pub matchers: MatchersView,
    /// Start (RFC 3339).
    pub starts_at: String,
    /// End (RFC 3339; moved to the time of expiry when expired by hand).
    pub ends_at: String,
    /// Why.
    pub comment: String,
    /// Who.
    pub created_by: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Last changed (RFC 3339).
    pub updated_at: String,
}

impl SilenceView {
    /// The view of `s` at `now`.
    pub fn of(s: &Silence, now: i64) -> Self {
        let m = &s.input.matchers;
        Self {
            id: s.id,
            state: s.state(now),
            matchers: MatchersView {
                job: m.job.clone(),
                cluster: m.cluster.clone(),
                statuses: m.statuses.clone(),
                labels: m.labels.clone(),
            },
            starts_at: rfc3339(s.input.starts_at),
            ends_at: rfc3339(s.input.ends_at),
            comment: s.input.comment.clone(),
            created_by: s.input.created_by.clone(),
            created_at: rfc3339(s.created_at),
            updated_at: rfc3339(s.updated_at),
        }
    }
}

/// Query parameters of the listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SilenceQuery {
    /// `pending`, `active` or `expired`; absent: all.
    pub state: Option<String>,
}

/// Checks a silence body at `now`; every error names its field.
pub fn check(body: SilenceBody, now: i64) -> Result<SilenceInput, ApiError> {
    let m = body
        .matchers
        .ok_or_else(|| ApiError::invalid("matchers", "is required (at least `job`)"))?;
    let job = m.job.ok_or_else(|| {
        ApiError::invalid(
            "matchers.job",
            "is required: a job name or glob (`*` for every job)",
        )
    })?;
    validate_pattern(&job).map_err(|e| ApiError::invalid("matchers.job", e))?;
    let cluster = m
        .cluster
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if let Some(c) = &cluster {
        validate_pattern(c).map_err(|e| ApiError::invalid("matchers.cluster", e))?;
    }
    let mut statuses: Vec<JobStatus> = Vec::new();
    for s in m.statuses.unwrap_or_default() {
        if !statuses.contains(&s) {
            statuses.push(s);
        }
    }
    let labels = m.labels.unwrap_or_default();
    for (name, value) in &labels {
        if name.trim().is_empty() {
            return Err(ApiError::invalid(
                "matchers.labels",
                "label names must not be empty",
            ));
        }
        validate_pattern(value)
            .map_err(|e| ApiError::invalid(format!("matchers.labels.{name}"), e))?;
    }
    let starts_at = body.starts_at.map_or(now, |t| t.timestamp_millis());
    let ends_at = body
        .ends_at
        .ok_or_else(|| ApiError::invalid("ends_at", "is required (RFC 3339)"))?
        .timestamp_millis();
    if ends_at <= starts_at {
        return Err(ApiError::invalid("ends_at", "must be after starts_at"));
    }
    if ends_at <= now {
        return Err(ApiError::invalid("ends_at", "is in the past"));
    }
    if ends_at - starts_at > MAX_SILENCE_MS {
        return Err(ApiError::invalid(
            "ends_at",
            "a silence lasts at most 90 days (from starts_at)",
        ));
    }
    let comment = body.comment.unwrap_or_default().trim().to_owned();
    if comment.is_empty() {
        return Err(ApiError::invalid(
            "comment",
            "is required: say why (the planned work)",
        ));
    }
    if comment.len() > MAX_COMMENT_BYTES {
        return Err(ApiError::invalid(
            "comment",
            format!("is longer than {MAX_COMMENT_BYTES} bytes"),
        ));
    }
    let created_by = body
        .created_by
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if created_by
        .as_ref()
        .is_some_and(|c| c.len() > MAX_AUTHOR_BYTES)
    {
        return Err(ApiError::invalid(
            "created_by",
            format!("is longer than {MAX_AUTHOR_BYTES} bytes"),
        ));
    }
    Ok(SilenceInput {
        matchers: SilenceMatchers {
            job: job.trim().to_owned(),
            cluster,
            statuses,
            labels,
        },
        starts_at,
        ends_at,
        comment,
        created_by,
    })
}

/// `POST /api/v1/silences` → 201
#[utoipa::path(post, path = "/api/v1/silences", tag = "silences", request_body = SilenceBody, responses(
    (status = 201, body = SilenceView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SilenceBody>,
) -> Result<Response, ApiError> {
    let now = now_ms();
    let input = check(body, now)?;
    let created = state.store.create_silence(&input, now).await?;
    tracing::info!(silence = created.id, job = %input.matchers.job, comment = %input.comment, "silence created");
    Ok((StatusCode::CREATED, Json(SilenceView::of(&created, now))).into_response())
}

/// `GET /api/v1/silences?state=`
#[utoipa::path(get, path = "/api/v1/silences", tag = "silences", params(SilenceQuery), responses(
    (status = 200, body = [SilenceView]), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    query: Result<Query<SilenceQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<SilenceView>>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let wanted = match q.state.as_deref() {
        None | Some("") => None,
        Some(s) => Some(SilenceState::parse(s).ok_or_else(|| {
            ApiError::invalid("state", "must be `pending`, `active` or `expired`")
        })?),
    };
    let now = now_ms();
    Ok(Json(
        state
            .store
            .list_silences(wanted, now)
            .await?
            .iter()
            .map(|s| SilenceView::of(s, now))
            .collect(),
    ))
}

/// `GET /api/v1/silences/{id}`
#[utoipa::path(get, path = "/api/v1/silences/{id}", tag = "silences", params(("id" = i64, Path)), responses(
    (status = 200, body = SilenceView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<SilenceView>, ApiError> {
    let s = state
        .store
        .get_silence(id)
        .await?
        .ok_or_else(|| ApiError::not_found("silence", id))?;
    Ok(Json(SilenceView::of(&s, now_ms())))
}

/// `DELETE /api/v1/silences/{id}` → 200: expires it now (it stays listed, `expired`); an
/// expired one is answered as it is.
#[utoipa::path(delete, path = "/api/v1/silences/{id}", tag = "silences", params(("id" = i64, Path)), responses(
    (status = 200, body = SilenceView, description = "expired now"), (status = 404, body = ErrorBody)))]
pub async fn expire(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<SilenceView>, ApiError> {
    let now = now_ms();
    let s = state
        .store
        .expire_silence(id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("silence", id))?;
    tracing::info!(silence = id, "silence expired");
    Ok(Json(SilenceView::of(&s, now)))
}
