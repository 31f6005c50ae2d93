//! `/api/v1/ingest/alertmanager`: Prometheus Alertmanager's webhook in; deliveries committed
//! before the answer, so Alertmanager retries whatever we could not store.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::body::JsonBody;
use super::error::{ApiError, ErrorBody};
use super::{rfc3339, AppState};
use crate::alertmanager::{plan, AmRenderer, Notification};
use crate::clock::now_ms;
use crate::group_commit::{store_outage, GroupCommit};
use alert_store::{AmInserted, AmItem, AmNotificationInput, EventTimes, Store, StoreResult};

/// The renderer of Alertmanager messages (built once).
fn renderer() -> &'static AmRenderer {
    static RENDERER: std::sync::OnceLock<AmRenderer> = std::sync::OnceLock::new();
    RENDERER.get_or_init(AmRenderer::default)
}

/// A notification on its way into the store, through [`AmIngest`].
#[derive(Debug)]
pub struct AmJob {
    input: AmNotificationInput,
    notification: Notification,
    /// Each planned message's alerts, with the message rendered for all of them.
    prerendered: Vec<(Vec<usize>, serde_json::Value)>,
    times: EventTimes,
}

impl AmJob {
    /// The message of `which` (the alerts left after dedup): rendered already unless dedup
    /// trimmed the message.
    fn render(&self, which: &[usize]) -> Result<serde_json::Value, String> {
        match self
            .prerendered
            .iter()
            .find(|(all, _)| all.as_slice() == which)
        {
            Some((_, payload)) => Ok(payload.clone()),
            None => renderer().render(&self.notification, which),
        }
    }
}

/// The Alertmanager ingest's group commit: notifications that arrive while one is being
/// stored go together in the next transaction (see [`crate::group_commit`]).
pub type AmIngest = GroupCommit<AmJob, StoreResult<AmInserted>>;

/// Notifications per transaction at most.
const AM_MAX_BATCH: usize = 128;

/// Starts the Alertmanager ingest's committers on `store`: one on a single-writer store, a few
/// on a shared (server) database.
pub fn am_ingest(store: Arc<dyn Store>) -> AmIngest {
    let committers = if store.is_shared() { 4 } else { 1 };
    GroupCommit::start_with_outage(
        committers,
        AM_MAX_BATCH,
        move |jobs: Vec<AmJob>| {
            let store = Arc::clone(&store);
            async move {
                let renders: Vec<_> = jobs
                    .iter()
                    .map(|job| move |which: &[usize]| job.render(which))
                    .collect();
                let items: Vec<AmItem<'_>> = jobs
                    .iter()
                    .zip(&renders)
                    .map(|(job, render)| AmItem {
                        input: &job.input,
                        render,
                        times: job.times,
                    })
                    .collect();
                store.insert_alertmanager_batch(&items).await
            }
        },
        store_outage,
    )
}

/// Query parameters of the webhook.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IngestQuery {
    /// Send every alert of the notification to this group (by name), bypassing bindings.
    pub group: Option<String>,
    /// With `group`: one message per alert instead of one per notification.
    pub per_alert: Option<bool>,
}

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngestAccepted {
    /// The stored notification's id.
    pub notification_id: i64,
    /// Alerts in the notification.
    pub alerts: usize,
    /// Deliveries created.
    pub deliveries: usize,
    /// Alerts that reached no instance (no matching binding).
    pub unrouted: usize,
    /// Alerts held back by an active silence: sent to nobody.
    pub silenced: usize,
    /// (alert, instance) pairs already delivered before: not sent again.
    pub duplicates: usize,
}

/// `POST /api/v1/ingest/alertmanager` → 200 once the notification and its deliveries are
/// committed. A body that is not Alertmanager's webhook payload (version 4) → 400 with the reason.
#[utoipa::path(post, path = "/api/v1/ingest/alertmanager", tag = "alertmanager",
    request_body = Notification, params(IngestQuery), responses(
    (status = 200, body = IngestAccepted, description = "stored with its deliveries"),
    (status = 400, body = ErrorBody), (status = 415, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "`group` names no group"),
    (status = 503, body = ErrorBody, description = "`database_unavailable`: nothing stored; retry after `Retry-After` seconds"),
    (status = 507, body = ErrorBody, description = "`storage_full`: the database has no room left; nothing stored")))]
pub async fn ingest(
    State(state): State<AppState>,
    Query(query): Query<IngestQuery>,
    JsonBody(notification): JsonBody<Notification>,
) -> Result<Response, ApiError> {
    notification.validate().map_err(|(field, message)| {
        ApiError::bad_request("invalid_body", message).with_field(field)
    })?;
    let snapshot = state.routing.get(state.store.as_ref()).await?;
    let forced = match query.group.as_deref().map(str::trim) {
        Some(name) => {
            let group = snapshot
                .groups
                .iter()
                .find(|g| g.input.name == name)
                .ok_or_else(|| ApiError::invalid("group", format!("no group is named `{name}`")))?;
            Some((group.id, query.per_alert.unwrap_or(false)))
        }
        None => None,
    };
    let now = now_ms();
    let routed = plan(&notification, &snapshot, forced, now);
    let (routed_unrouted, silenced) = (routed.unrouted, routed.silenced);
    let deadline =
        now + i64::try_from(state.delivery.retry_deadline().as_millis()).unwrap_or(i64::MAX);
    // Rendered here, in parallel with other requests, rather than while holding the writer;
    // a message that dedup trims is rendered again in the store.
    let prerendered = routed
        .messages
        .iter()
        .filter_map(|m| {
            let payload = renderer().render(&notification, &m.alerts).ok()?;
            Some((m.alerts.clone(), payload))
        })
        .collect();
    let input = AmNotificationInput {
        receiver: notification.receiver.clone(),
        status: notification.status.as_str().to_owned(),
        group_key: notification.group_key.clone(),
        // The body as parsed (unknown fields dropped) is what the listing shows.
        payload: serde_json::to_value(&notification).map_err(|e| ApiError::internal(&e))?,
        alerts: routed.keys,
        unrouted: routed.unrouted,
        silenced,
        messages: routed.messages,
    };
    let alerts = notification.alerts.len();
    let receiver = notification.receiver.clone();
    let job = AmJob {
        input,
        notification,
        prerendered,
        times: EventTimes {
            now,
            deadline_at: deadline,
            repeat_since: now,
        },
    };
    let inserted = state
        .am_ingest
        .submit(job)
        .await
        .map_err(|_| ApiError::internal(&"the notification's commit did not finish"))??;
    let n = alerts as u64;
    let unrouted = routed_unrouted as u64;
    let duplicates = inserted.duplicates as u64;
    state.metrics.alertmanager_alert("unrouted", unrouted);
    state
        .metrics
        .alertmanager_alert("silenced", silenced as u64);
    state.metrics.alertmanager_alert("duplicate", duplicates);
    state
        .metrics
        .alertmanager_alert("routed", n.saturating_sub(unrouted + silenced as u64));
    if inserted.deliveries > 0 {
        state.wake.notify_one();
    }
    tracing::debug!(notification_id = inserted.notification_id, %receiver,
        alerts = n, deliveries = inserted.deliveries, unrouted, duplicates, "Alertmanager notification accepted");
    let answer = IngestAccepted {
        notification_id: inserted.notification_id,
        alerts,
        deliveries: inserted.deliveries,
        unrouted: routed_unrouted,
        silenced,
        duplicates: inserted.duplicates,
    };
    Ok((StatusCode::OK, Json(answer)).into_response())
}

/// Query parameters of the listing.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only notifications with unrouted alerts.
    pub unrouted: Option<bool>,
    /// 1..=1000, default 100.
    pub limit: Option<u32>,
    /// Notifications with id below this (paging).
    pub before: Option<i64>,
}

/// `GET /api/v1/ingest/alertmanager`: received notifications, newest first, with their
/// unrouted and duplicate counts and the deliveries they created.
#[utoipa::path(get, path = "/api/v1/ingest/alertmanager", tag = "alertmanager",
    params(ListQuery), responses((status = 200, body = [Object])))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Vec<serde_json::Value>>, ApiError> {
    let rows = state
        .store
        .list_alertmanager(
            query.unrouted.unwrap_or(false),
            query.before,
            query.limit.unwrap_or(0),
        )
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut v = serde_json::to_value(&row).map_err(|e| ApiError::internal(&e))?;
        v["received_at"] = serde_json::json!(rfc3339(row.received_at));
        out.push(v);
    }
    Ok(Json(out))
}
