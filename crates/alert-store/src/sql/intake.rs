//! Job events in: an event and its deliveries, a watcher's poll with its state.

use alert_core::{JobEvent, JobStatus};
use serde_json::Value;

use super::super::Conn;
use crate::model::{InsertedEvent, Target};
use crate::shared::{bad_reference_or, db, to_json};
use crate::{StoreError, StoreResult};

const WHAT: &str = "storing an event";

/// Stores an event and its deliveries (see
/// [`OutboxStore::insert_event`](crate::OutboxStore::insert_event)) inside a write transaction
/// the caller commits, after `lock_event_keys`.
pub(super) async fn insert_event_in(
    conn: &mut Conn,
    event: &JobEvent,
    targets: &[Target],
    now: i64,
    deadline_at: i64,
    repeat_since: i64,
) -> StoreResult<InsertedEvent> {
    let status = event.status.as_str();
    let occurred_at_ms = event.occurred_at.timestamp_millis();
    let duration = event
        .duration_ms
        .map(|d| i64::try_from(d).unwrap_or(i64::MAX));

    // On PostgreSQL, another replica inserting the same event makes this one wait for its
    // commit, then insert nothing.
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO events (job_id, job_name, cluster, status, previous_status, \
         occurred_at, occurred_at_ms, duration_ms, error, url, labels, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (job_id, status, occurred_at_ms) DO NOTHING RETURNING id",
    )
    .bind(&event.job_id)
    .bind(&event.job_name)
    .bind(&event.cluster)
    .bind(status)
    .bind(event.previous_status.map(JobStatus::as_str))
    .bind(event.occurred_at.to_rfc3339())
    .bind(occurred_at_ms)
    .bind(duration)
    .bind(&event.error)
    .bind(&event.url)
    .bind(to_json(&event.labels)?)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db(WHAT))?;

    let Some(event_id) = inserted else {
        // A duplicate: report the first one, write nothing.
        let (event_id, deliveries): (i64, i64) = sqlx::query_as(
            "SELECT e.id, (SELECT COUNT(*) FROM deliveries AS d WHERE d.event_id = e.id) \
             FROM events AS e WHERE e.job_id = $1 AND e.status = $2 AND e.occurred_at_ms = $3",
        )
        .bind(&event.job_id)
        .bind(status)
        .bind(occurred_at_ms)
        .fetch_one(&mut *conn)
        .await
        .map_err(db(WHAT))?;
        return Ok(InsertedEvent {
            event_id,
            deliveries: usize::try_from(deliveries).unwrap_or(0),
            duplicate: true,
        });
    };

    if !targets.is_empty() {
        let rows: Vec<Value> = targets
            .iter()
            .map(|t| serde_json::json!({"instance_id": t.instance_id, "group_id": t.group_id}))
            .collect();
        // One statement: the repeat check (the latest earlier event of this job and status
        // received in the window, `r`) decides the state of every delivery.
        let created = sqlx::query(concat!(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, last_error, created_at) \
             SELECT $1, i.id, i.name, i.kind, t.group_id, \
             CASE WHEN r.id IS NULL THEN 'pending' ELSE 'suppressed' END, 0, $2, $3, \
             CASE WHEN r.id IS NULL THEN NULL \
               ELSE '{\"kind\":\"repeat\",\"message\":\"repeat of event ' || r.id || '\"}' END, \
             $2 FROM ",
            json_rows!("$4"; instance_id bigint, group_id bigint),
            " AS t JOIN alert_instances AS i ON i.id = t.instance_id \
             LEFT JOIN (SELECT id FROM events WHERE job_id = $5 AND status = $6 \
               AND received_at >= $7 AND id < $1 \
               ORDER BY received_at DESC, id DESC LIMIT 1) AS r ON TRUE \
             ORDER BY t.ord"
        ))
        .bind(event_id)
        .bind(now)
        .bind(deadline_at)
        .bind(to_json(&rows)?)
        .bind(&event.job_id)
        .bind(status)
        .bind(repeat_since)
        .execute(&mut *conn)
        .await
        .map_err(db(WHAT))?
        .rows_affected();
        if created != targets.len() as u64 {
            let ids: Vec<i64> = targets.iter().map(|t| t.instance_id).collect();
            // Dropping the transaction rolls the event back too.
            return Err(missing_target(conn, &ids).await);
        }
    }
    Ok(InsertedEvent {
        event_id,
        deliveries: targets.len(),
        duplicate: false,
    })
}

/// Saves a watcher's state for its cluster (see
/// [`OutboxStore::save_watch_report`](crate::OutboxStore::save_watch_report)).
pub(super) async fn save_watcher_state(
    conn: &mut Conn,
    cluster_id: i64,
    url: &str,
    state: &Value,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO watcher_state (cluster_id, url, state, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (cluster_id) DO UPDATE SET url = excluded.url, state = excluded.state, \
         updated_at = excluded.updated_at",
    )
    .bind(cluster_id)
    .bind(url)
    .bind(to_json(state)?)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(bad_reference_or(
        "cluster_id",
        || format!("cluster {cluster_id} does not exist"),
        "storing a watcher poll",
    ))?;
    Ok(())
}

/// The error for targets of which an instance does not exist (a delivery insert joined with
/// `alert_instances` created fewer rows than asked): `BadReference` on `targets`, naming the
/// first missing instance of `ids`.
pub(super) async fn missing_target(conn: &mut Conn, ids: &[i64]) -> StoreError {
    match super::config::check_instances_exist(conn, ids).await {
        Err(StoreError::BadReference { message, .. }) => StoreError::BadReference {
            field: "targets",
            message,
        },
        Err(other) => other,
        Ok(()) => StoreError::BadReference {
            field: "targets",
            message: "an instance does not exist".to_owned(),
        },
    }
}
