//! `/api/v1/bindings`: which jobs alert which group.

use std::collections::BTreeMap;

use alert_core::JobStatus;
use alert_flink::{HealthCondition, HealthThresholds, RouteStatus};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::{rfc3339, AppState};
use crate::clock::now_ms;
use crate::routing::validate_pattern;
use crate::rules::DEFAULT_STATUSES;
use alert_store::{AmMatch, Binding, BindingInput};

/// The body of create: a job binding (`job`, for Flink job events) or an Alertmanager binding
/// (`labels` and/or `receiver`, for `POST /api/v1/ingest/alertmanager`), not both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BindingBody {
    /// Job name or glob (`orders_*`); required for a job binding.
    #[serde(default)]
    pub job: Option<String>,
    /// Alertmanager label matchers: label → value, matched like Alertmanager's `=~` (an
    /// anchored regex, so a plain value is equality); a value starting with `!` must not match.
    #[serde(default)]
    #[schema(example = json!({"severity": "critical", "job": "flink-.*"}))]
    pub labels: Option<BTreeMap<String, String>>,
    /// Alertmanager receiver name this binding takes (absent = any receiver).
    #[serde(default)]
    pub receiver: Option<String>,
    /// Alertmanager bindings: one message per alert instead of one per group notification.
    #[serde(default)]
    pub per_alert: Option<bool>,
    /// Cluster name; absent = any cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    /// The group to alert.
    pub group_id: i64,
    /// Statuses that alert (default: FAILED, CANCELED, FINISHED, UNKNOWN, STOPPED): job states
    /// and job-health conditions (`CHECKPOINT_FAILED`, `CHECKPOINT_SLOW`, `EXCEPTION`,
    /// `TASKMANAGER_LOST`), read by the cluster watchers.
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>, example = json!(["FAILED", "CANCELED", "CHECKPOINT_FAILED"]))]
    pub statuses: Option<Vec<String>>,
    /// Thresholds of the health conditions (each optional: `checkpoint_failures` 3,
    /// `checkpoint_duration_ms` 600000, `checkpoint_age_ms` 1800000, `exception_fold_ms` 600000).
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"checkpoint_failures": 5}))]
    pub thresholds: Option<serde_json::Value>,
}

/// A binding as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BindingView {
    /// Id.
    pub id: i64,
    /// Job name or glob (empty for an Alertmanager binding).
    pub job: String,
    /// Alertmanager label matchers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Alertmanager receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    /// Alertmanager bindings: one message per alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_alert: Option<bool>,
    /// Cluster, if restricted.
    pub cluster: Option<String>,
    /// Group.
    pub group_id: i64,
    /// Alerting statuses: job states, then health conditions.
    pub statuses: Vec<String>,
    /// The health conditions' thresholds (all four, the defaults filled in), when it lists any
    /// condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub thresholds: Option<serde_json::Value>,
    /// From a provisioning file: read-only here (a delete answers `409 provisioned`).
    pub provisioned: bool,
    /// Created (RFC 3339).
    pub created_at: String,
}

impl BindingView {
    fn of(b: &Binding) -> Self {
        Self {
            id: b.id,
            job: b.input.job.clone(),
            labels: b.input.alertmanager.as_ref().map(|m| m.labels.clone()),
            receiver: b
                .input
                .alertmanager
                .as_ref()
                .and_then(|m| m.receiver.clone()),
            per_alert: b.input.alertmanager.as_ref().map(|m| m.per_alert),
            cluster: b.input.cluster.clone(),
            group_id: b.input.group_id,
            statuses: b
                .input
                .statuses
                .iter()
                .map(|s| s.as_str().to_owned())
                .chain(b.input.conditions.iter().cloned())
                .collect(),
            thresholds: (!b.input.conditions.is_empty()).then(|| {
                b.input
                    .thresholds
                    .clone()
                    .unwrap_or_else(|| json!(HealthThresholds::default()))
            }),
            provisioned: b.provisioned,
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
    if body.labels.is_some() || body.receiver.is_some() {
        let input = alertmanager_binding(body)?;
        let created = state.store.create_binding(&input, now_ms()).await?;
        return Ok((StatusCode::CREATED, Json(BindingView::of(&created))).into_response());
    }
    if body.per_alert.is_some() {
        return Err(ApiError::invalid(
            "per_alert",
            "applies to Alertmanager bindings only (give `labels` or `receiver`)",
        ));
    }
    let Some(job) = body.job else {
        return Err(ApiError::invalid(
            "job",
            "give `job` (a job binding) or `labels`/`receiver` (an Alertmanager binding)",
        ));
    };
    let input = BindingInput {
        group_id: body.group_id,
        alertmanager: None,
        ..check_job_binding_with_conditions(&job, body.cluster, body.statuses, body.thresholds)?
    };
    let created = state.store.create_binding(&input, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(BindingView::of(&created))).into_response())
}

/// Checks a job binding's job pattern, cluster and statuses (also used for provisioning
/// files): the trimmed job, the cluster (`None` for any), the statuses without repeats (the
/// default five when absent).
fn check_job_binding(
    job: &str,
    cluster: Option<String>,
    statuses: Option<Vec<JobStatus>>,
) -> Result<(String, Option<String>, Vec<JobStatus>), ApiError> {
    validate_pattern(job).map_err(|m| ApiError::invalid("job", m))?;
    let statuses = statuses.unwrap_or_else(|| DEFAULT_STATUSES.to_vec());
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
    let cluster = cluster
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    Ok((job.trim().to_owned(), cluster, unique))
}

/// Checks a job binding whose `statuses` may list health conditions, with their `thresholds`
/// (the API's and provisioning files'): the input without its group. A binding that lists
/// only conditions alerts on no job state (not the default five).
pub(crate) fn check_job_binding_with_conditions(
    job: &str,
    cluster: Option<String>,
    statuses: Option<Vec<String>>,
    thresholds: Option<serde_json::Value>,
) -> Result<BindingInput, ApiError> {
    let (job_statuses, conditions) = split_statuses(statuses)?;
    let thresholds = check_thresholds(thresholds)?;
    let only_conditions =
        job_statuses.as_ref().is_some_and(Vec::is_empty) && !conditions.is_empty();
    let (job, cluster, statuses) = if only_conditions {
        let (job, cluster, _) = check_job_binding(job, cluster, None)?;
        (job, cluster, Vec::new())
    } else {
        check_job_binding(job, cluster, job_statuses)?
    };
    Ok(BindingInput {
        job,
        cluster,
        group_id: 0,
        statuses,
        conditions: conditions.iter().map(|c| c.as_str().to_owned()).collect(),
        thresholds,
        alertmanager: None,
    })
}

/// Splits `statuses` into job states and health conditions (each once, in order); an unknown
/// name is an error naming `statuses[i]`. The job states are `None` when `statuses` is.
fn split_statuses(
    statuses: Option<Vec<String>>,
) -> Result<(Option<Vec<JobStatus>>, Vec<HealthCondition>), ApiError> {
    let Some(names) = statuses else {
        return Ok((None, Vec::new()));
    };
    let (mut jobs, mut conditions) = (Vec::new(), Vec::new());
    for (i, name) in names.iter().enumerate() {
        match name.parse::<RouteStatus>() {
            Ok(RouteStatus::Job(s)) => jobs.push(s),
            Ok(RouteStatus::Condition(c)) => {
                if !conditions.contains(&c) {
                    conditions.push(c);
                }
            }
            Err(_) => {
                return Err(ApiError::invalid(
                    format!("statuses[{i}]"),
                    format!(
                        "`{name}` is neither a job state (FAILED, CANCELED, FINISHED, STOPPED, \
                         UNKNOWN, RESTARTING, RUNNING) nor a health condition (CHECKPOINT_FAILED, \
                         CHECKPOINT_SLOW, EXCEPTION, TASKMANAGER_LOST)"
                    ),
                ))
            }
        }
    }
    Ok((Some(jobs), conditions))
}

/// Checks a binding's `thresholds`: an object of known fields, each usable (the error names
/// `thresholds.<field>`); stored whole, the defaults filled in.
fn check_thresholds(
    thresholds: Option<serde_json::Value>,
) -> Result<Option<serde_json::Value>, ApiError> {
    let Some(value) = thresholds else {
        return Ok(None);
    };
    let parsed: HealthThresholds = serde_path_to_error::deserialize(&value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            "thresholds".to_owned()
        } else {
            format!("thresholds.{path}")
        };
        ApiError::invalid(field, e.into_inner().to_string())
    })?;
    parsed.validate().map_err(|message| {
        let field = message.split_whitespace().next().unwrap_or("thresholds");
        ApiError::invalid(field.to_owned(), message.clone())
    })?;
    Ok(Some(json!(parsed)))
}

/// Checks and builds an Alertmanager binding.
fn alertmanager_binding(body: BindingBody) -> Result<BindingInput, ApiError> {
    for (field, given) in [
        ("job", body.job.is_some()),
        ("cluster", body.cluster.is_some()),
        ("statuses", body.statuses.is_some()),
        ("thresholds", body.thresholds.is_some()),
    ] {
        if given {
            return Err(ApiError::invalid(
                field,
                "applies to job bindings only; an Alertmanager binding (`labels`/`receiver`) \
                 matches alerts by their labels",
            ));
        }
    }
    let labels = body.labels.unwrap_or_default();
    for (name, value) in &labels {
        if name.trim().is_empty() {
            return Err(ApiError::invalid("labels", "label names must not be empty"));
        }
        crate::routing::Matcher::new(name, value)
            .map_err(|m| ApiError::invalid(format!("labels.{name}"), m))?;
    }
    let receiver = body
        .receiver
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    if labels.is_empty() && receiver.is_none() {
        return Err(ApiError::invalid(
            "labels",
            "an Alertmanager binding needs at least one label matcher or a receiver",
        ));
    }
    Ok(BindingInput {
        job: String::new(),
        cluster: None,
        group_id: body.group_id,
        statuses: Vec::new(),
        conditions: Vec::new(),
        thresholds: None,
        alertmanager: Some(AmMatch {
            labels,
            receiver,
            per_alert: body.per_alert.unwrap_or(false),
        }),
    })
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
#[utoipa::path(delete, path = "/api/v1/bindings/{id}", tag = "bindings", params(("id" = i64, Path)), responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let all = state.store.list_bindings().await?;
    if all.iter().any(|b| b.id == id && b.provisioned) {
        return Err(ApiError::provisioned("binding", id));
    }
    if state.store.delete_binding(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("binding", id))
    }
}
