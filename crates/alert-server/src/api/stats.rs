//! `/api/v1/stats`: what the console's overview shows at a glance: deliveries of a window by
//! state and by hour, each cluster's jobs by state, the instances in trouble.
//!
//! The delivery counts are aggregated in the database
//! ([`HistoryStore::stats`](alert_store::HistoryStore::stats)); the clusters' jobs come from
//! the watcher state every replica can read (the live view where the watcher runs here).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::clock::now_ms;
use alert_store::{Cluster, InstanceTrouble, HOUR_MS};

/// The window when `since` is not given: the last 24 hours.
pub const DEFAULT_WINDOW_MS: i64 = 24 * HOUR_MS;
/// The longest window: 31 days (744 hourly buckets).
pub const MAX_WINDOW_MS: i64 = 31 * 24 * HOUR_MS;
/// The delivery states always present in the counts, 0 when none.
pub const STATES: [&str; 5] = ["pending", "sent", "failed", "suppressed", "silenced"];

/// Query parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Start of the window: Unix ms or RFC 3339; default 24 hours ago, at most 31 days ago.
    pub since: Option<String>,
}

/// The overview's figures. Times are Unix milliseconds.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatsView {
    /// Start of the window (ms, inclusive).
    pub since: i64,
    /// End of the window: now (ms, exclusive).
    pub until: i64,
    /// Deliveries created in the window by their current state (`sent`, `failed`,
    /// `suppressed`, `silenced`, `pending` always present).
    pub deliveries: BTreeMap<String, u64>,
    /// The same per hour of creation, every hour of the window, oldest first.
    pub hourly: Vec<HourView>,
    /// Job events received in the window.
    pub events: u64,
    /// Every cluster with its jobs by state.
    pub clusters: Vec<ClusterStats>,
    /// Instances paused by their channel, throttled or failing.
    pub instances_in_trouble: Vec<TroubleView>,
    /// Silences active now.
    pub active_silences: u64,
}

/// The deliveries created in one hour.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HourView {
    /// The hour's start (ms).
    pub hour: i64,
    /// Counts by state, as in `deliveries`.
    #[serde(flatten)]
    pub counts: BTreeMap<String, u64>,
}

/// A cluster's jobs.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClusterStats {
    /// Cluster id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Watched.
    pub enabled: bool,
    /// Its latest poll succeeded; `null` before the first one.
    pub up: Option<bool>,
    /// Consecutive failed polls.
    pub failed_polls: u32,
    /// The latest poll failure, while polls fail.
    pub last_error: Option<String>,
    /// Jobs by state as reported (`RUNNING`, `FAILED`, ...).
    pub jobs: BTreeMap<String, u32>,
    /// Jobs not processing (RUNNING with no running task, or RESTARTING).
    pub not_processing: u32,
}

/// An instance in trouble.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TroubleView {
    /// Instance id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Channel kind.
    pub kind: String,
    /// Enabled.
    pub enabled: bool,
    /// `paused` (its channel said "too fast" and the pause is in force), `failing` (deliveries
    /// given up or failed attempts in the window) or `throttled` (only "too fast" answers).
    pub reason: String,
    /// The pause's end (ms), when paused.
    pub paused_until: Option<i64>,
    /// Deliveries of the window given up.
    pub failed: u64,
    /// Failed attempts of the window, throttles aside.
    pub errors: u64,
    /// "Too fast" answers in the window.
    pub throttles: u64,
    /// The first failed attempt of the window (ms).
    pub since: Option<i64>,
    /// The latest failed attempt (ms).
    pub last_error_at: Option<i64>,
    /// Its error (`kind`, `code`, `message`; redacted when stored).
    #[schema(value_type = Option<Object>)]
    pub last_error: Option<Value>,
}

impl TroubleView {
    fn of(t: InstanceTrouble) -> Self {
        let reason = if t.paused_until.is_some() {
            "paused"
        } else if t.failed > 0 || t.errors > 0 {
            "failing"
        } else {
            "throttled"
        };
        Self {
            id: t.instance_id,
            name: t.name,
            kind: t.kind,
            enabled: t.enabled,
            reason: reason.to_owned(),
            paused_until: t.paused_until,
            failed: t.failed,
            errors: t.errors,
            throttles: t.throttles,
            since: t.first_error_at,
            last_error_at: t.last_error_at,
            last_error: t.last_error,
        }
    }

    /// Paused first, then failing, then throttled; the latest error first within each.
    fn rank(&self) -> (u8, std::cmp::Reverse<i64>) {
        let r = match self.reason.as_str() {
            "paused" => 0,
            "failing" => 1,
            _ => 2,
        };
        (r, std::cmp::Reverse(self.last_error_at.unwrap_or(0)))
    }
}

/// `since` as given: Unix ms, or RFC 3339.
fn parse_since(text: &str) -> Result<i64, ApiError> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            ApiError::invalid(
                "since",
                format!("`{text}` is neither Unix milliseconds nor an RFC 3339 time"),
            )
        })
}

/// Counts with every state of [`STATES`] present.
fn with_states(mut counts: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    for s in STATES {
        counts.entry(s.to_owned()).or_insert(0);
    }
    counts
}

/// `GET /api/v1/stats?since=`
#[utoipa::path(get, path = "/api/v1/stats", tag = "history", params(StatsQuery), responses((status = 200, body = StatsView), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<StatsView>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let until = now_ms();
    let since = match q.since.as_deref() {
        None => until - DEFAULT_WINDOW_MS,
        Some(text) => parse_since(text)?,
    };
    if since >= until {
        return Err(ApiError::invalid("since", "must be in the past"));
    }
    if until - since > MAX_WINDOW_MS {
        return Err(ApiError::invalid(
            "since",
            "must be within the last 31 days",
        ));
    }
    let stats = state.store.stats(since, until, until).await?;
    let mut by_hour: BTreeMap<i64, BTreeMap<String, u64>> = stats
        .hourly
        .into_iter()
        .map(|h| (h.hour, h.by_state))
        .collect();
    let first = since - since.rem_euclid(HOUR_MS);
    let hourly = (first..until)
        .step_by(usize::try_from(HOUR_MS).unwrap_or(usize::MAX))
        .map(|hour| HourView {
            hour,
            counts: with_states(by_hour.remove(&hour).unwrap_or_default()),
        })
        .collect();
    let mut troubled: Vec<TroubleView> = stats.troubled.into_iter().map(TroubleView::of).collect();
    troubled.sort_by_key(TroubleView::rank);
    let active_silences = state
        .store
        .list_silences(Some(alert_store::SilenceState::Active), until)
        .await?
        .len() as u64;
    let mut clusters = Vec::new();
    for cluster in state.store.list_clusters().await? {
        clusters.push(cluster_stats(&state, &cluster).await);
    }
    Ok(Json(StatsView {
        since,
        until,
        deliveries: with_states(stats.by_state),
        hourly,
        events: stats.events,
        clusters,
        instances_in_trouble: troubled,
        active_silences,
    }))
}

/// A cluster's jobs by state: the live view where its watcher runs here, else the state its
/// watcher last committed (any replica reads the same).
async fn cluster_stats(state: &AppState, cluster: &Cluster) -> ClusterStats {
    let view = match state.watchers.view(cluster.id).await {
        Some(view) => Some(view),
        None => state.watchers.stored_view(cluster).await,
    };
    let mut out = ClusterStats {
        id: cluster.id,
        name: cluster.input.name.clone(),
        enabled: cluster.input.enabled,
        up: None,
        failed_polls: 0,
        last_error: None,
        jobs: BTreeMap::new(),
        not_processing: 0,
    };
    if let Some(view) = view {
        if view.health.last_poll_at.is_some() {
            out.up = Some(view.health.reachable);
        }
        out.failed_polls = view.health.failed_polls;
        out.last_error = view.health.last_error;
        for job in &view.jobs {
            *out.jobs.entry(job.status.as_str().to_owned()).or_insert(0) += 1;
            if job.not_processing_since.is_some() {
                out.not_processing += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trouble(paused: Option<i64>, failed: u64, errors: u64, throttles: u64) -> TroubleView {
        let mut t = InstanceTrouble::new(1, "robot".into(), "dingtalk".into(), true);
        (t.paused_until, t.failed, t.errors, t.throttles) = (paused, failed, errors, throttles);
        TroubleView::of(t)
    }

    #[test]
    fn the_reason_is_the_worst_trouble_and_ranks_the_list() {
        assert_eq!(trouble(Some(5), 1, 1, 1).reason, "paused");
        assert_eq!(trouble(None, 1, 0, 3).reason, "failing");
        assert_eq!(trouble(None, 0, 2, 0).reason, "failing");
        assert_eq!(trouble(None, 0, 0, 2).reason, "throttled");
        let mut list = [
            trouble(None, 0, 0, 1),
            trouble(None, 1, 0, 0),
            trouble(Some(1), 0, 0, 1),
        ];
        list.sort_by_key(TroubleView::rank);
        let reasons: Vec<_> = list.iter().map(|t| t.reason.as_str()).collect();
        assert_eq!(reasons, ["paused", "failing", "throttled"]);
    }

    #[test]
    fn since_is_milliseconds_or_rfc3339() {
        assert_eq!(parse_since("1800000000000").unwrap(), 1_800_000_000_000);
        assert_eq!(
            parse_since("2027-01-15T08:00:00+08:00").unwrap(),
            parse_since("2027-01-15T00:00:00Z").unwrap()
        );
        assert!(parse_since("yesterday").is_err());
        let counts = with_states(BTreeMap::from([("retired".to_owned(), 2)]));
        assert_eq!(counts.len(), 6, "unknown states are kept: {counts:?}");
    }
}
