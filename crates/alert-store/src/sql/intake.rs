//! Job events in: an event and its deliveries, a watcher's poll with its state.

use std::collections::HashMap;
use std::sync::Arc;

use alert_core::{JobEvent, JobStatus};
use serde_json::{json, Value};

use super::super::Conn;
use crate::model::{
    ClaimedDelivery, Delivery, DeliveryState, EventItem, InsertedEvent, IntakeLease,
    WatcherCheckpoint,
};
use crate::shared::{bad_reference_or, db, to_json};
use crate::{StoreError, StoreResult};

const WHAT: &str = "storing events";

/// The dedup key of an event: (job id, status, instant of occurrence in ms).
type EventKey = (String, String, i64);

fn key_of(event: &JobEvent) -> EventKey {
    (
        event.job_id.clone(),
        event.status.as_str().to_owned(),
        event.occurred_at.timestamp_millis(),
    )
}

/// An event as the JSON array the event insert binds (serialized straight to text): job id,
/// job name, cluster, status, previous status, occurred at (RFC 3339 and ms), duration, error,
/// URL, labels, received at.
#[derive(serde::Serialize)]
struct EventRow<'a>(
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    String,
    i64,
    Option<i64>,
    Option<&'a str>,
    Option<&'a str>,
    String,
    i64,
);

/// A delivery to create, as the JSON array the delivery insert binds: event id, instance id,
/// group id, now, deadline, repeat window start, job id, status, silence id.
#[derive(serde::Serialize)]
struct TargetRow<'a>(
    i64,
    i64,
    Option<i64>,
    i64,
    i64,
    i64,
    &'a str,
    &'a str,
    Option<i64>,
);

/// A delivery as the insert returns it: id, event id, instance id, group id, whether it was
/// created claimed.
type CreatedDelivery = (i64, i64, i64, Option<i64>, bool);

/// Stores events and their deliveries (see
/// [`OutboxStore::insert_events`](crate::OutboxStore::insert_events)) inside a write
/// transaction the caller commits, after `lock_event_keys`, in three statements whatever the
/// number of events: the events (`ON CONFLICT DO NOTHING`: a duplicate, stored before or
/// earlier in the batch, creates nothing; on PostgreSQL another replica inserting the same
/// event makes this wait for its commit, then insert nothing), the deliveries of the new ones
/// with their repeat check, and what the duplicates refer to.
pub(super) async fn insert_events_in(
    conn: &mut Conn,
    items: &[EventItem<'_>],
    lease: Option<IntakeLease<'_>>,
) -> StoreResult<(Vec<InsertedEvent>, Vec<ClaimedDelivery>)> {
    if items.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let rows = items
        .iter()
        .map(|it| {
            let e = it.event;
            Ok(EventRow(
                &e.job_id,
                &e.job_name,
                &e.cluster,
                e.status.as_str(),
                e.previous_status.map(JobStatus::as_str),
                e.occurred_at.to_rfc3339(),
                e.occurred_at.timestamp_millis(),
                e.duration_ms.map(|d| i64::try_from(d).unwrap_or(i64::MAX)),
                e.error.as_deref(),
                e.url.as_deref(),
                to_json(&e.labels)?,
                it.times.now,
            ))
        })
        .collect::<StoreResult<Vec<EventRow<'_>>>>()?;
    let created: Vec<(i64, String, String, i64)> = sqlx::query_as(concat!(
        "INSERT INTO events (job_id, job_name, cluster, status, previous_status, \
         occurred_at, occurred_at_ms, duration_ms, error, url, labels, received_at) \
         SELECT e.job_id, e.job_name, e.cluster, e.status, e.previous_status, e.occurred_at, \
         e.occurred_at_ms, e.duration_ms, e.error, e.url, e.labels, e.received_at FROM ",
        json_tuples!("$1"; 0 job_id text, 1 job_name text, 2 cluster text, 3 status text,
            4 previous_status text, 5 occurred_at text, 6 occurred_at_ms bigint,
            7 duration_ms bigint, 8 error text, 9 url text, 10 labels text, 11 received_at bigint),
        " AS e WHERE TRUE ORDER BY e.ord \
         ON CONFLICT (job_id, status, occurred_at_ms) DO NOTHING \
         RETURNING id, job_id, status, occurred_at_ms"
    ))
    .bind(to_json(&rows)?)
    .fetch_all(&mut *conn)
    .await
    .map_err(db(WHAT))?;
    let mut new_ids: HashMap<EventKey, i64> = created
        .into_iter()
        .map(|(id, job, status, at)| ((job, status, at), id))
        .collect();
    // Each item: Some(id) when it created its event (its first occurrence in the batch).
    let fresh: Vec<Option<i64>> = items
        .iter()
        .map(|it| new_ids.remove(&key_of(it.event)))
        .collect();

    let mut targets = Vec::new();
    for (it, id) in items.iter().zip(&fresh) {
        let Some(event_id) = id else { continue };
        for t in it.targets {
            targets.push(TargetRow(
                *event_id,
                t.instance_id,
                t.group_id,
                it.times.now,
                it.times.deadline_at,
                it.times.repeat_since,
                &it.event.job_id,
                it.event.status.as_str(),
                it.silence_id,
            ));
        }
    }
    let mut claimed = Vec::new();
    if !targets.is_empty() {
        // A silence holds every delivery of its event back (`silenced`, never sent); else
        // the repeat check (the latest earlier event of the same job and status received in
        // the window, `repeat_of`; a silenced one was never sent, so it is no earlier alert)
        // decides the state of every delivery. Under a lease, the `pending` rows among the
        // first `max_rows` targets are created claimed, as `claim_due` leaves them
        // (next_attempt_at = lease_until).
        let created: Vec<CreatedDelivery> = sqlx::query_as(concat!(
            "INSERT INTO deliveries (event_id, instance_id, instance_name, instance_kind, \
             group_id, state, attempts, next_attempt_at, deadline_at, last_error, created_at, \
             silence_id, claimed_by, lease_until) \
             SELECT t.event_id, i.id, i.name, i.kind, t.group_id, t.state, 0, \
             CASE WHEN t.state = 'pending' AND t.ord < $4 THEN $3 ELSE t.now END, \
             t.deadline_at, CASE WHEN t.state = 'suppressed' \
               THEN '{\"kind\":\"repeat\",\"message\":\"repeat of event ' || t.repeat_of \
               || '\"}' END, t.now, t.silence_id, \
             CASE WHEN t.state = 'pending' AND t.ord < $4 THEN $2 END, \
             CASE WHEN t.state = 'pending' AND t.ord < $4 THEN $3 END \
             FROM (SELECT t.*, CASE WHEN t.silence_id IS NOT NULL THEN 'silenced' \
               WHEN t.repeat_of IS NULL THEN 'pending' ELSE 'suppressed' END AS state \
             FROM (SELECT t.*, (SELECT r.id FROM events AS r WHERE r.job_id = t.job_id \
               AND r.status = t.status AND r.received_at >= t.repeat_since \
               AND r.id < t.event_id AND NOT EXISTS (SELECT 1 FROM deliveries AS q \
                 WHERE q.event_id = r.id AND q.state = 'silenced') \
               ORDER BY r.received_at DESC, r.id DESC LIMIT 1) \
               AS repeat_of FROM ",
            json_tuples!("$1"; 0 event_id bigint, 1 instance_id bigint, 2 group_id bigint,
                3 now bigint, 4 deadline_at bigint, 5 repeat_since bigint, 6 job_id text,
                7 status text, 8 silence_id bigint),
            " AS t",
            no_flatten!(),
            ") AS t) AS t JOIN alert_instances AS i ON i.id = t.instance_id ORDER BY t.ord \
             RETURNING id, event_id, instance_id, group_id, claimed_by IS NOT NULL"
        ))
        .bind(to_json(&targets)?)
        .bind(lease.map(|l| l.worker))
        .bind(lease.map(|l| l.until))
        .bind(lease.map_or(0, |l| i64::try_from(l.max_rows).unwrap_or(i64::MAX)))
        .fetch_all(&mut *conn)
        .await
        .map_err(db(WHAT))?;
        if created.len() != targets.len() {
            let ids: Vec<i64> = items
                .iter()
                .zip(&fresh)
                .filter(|(_, id)| id.is_some())
                .flat_map(|(it, _)| it.targets.iter().map(|t| t.instance_id))
                .collect();
            // Dropping the transaction rolls the events back too.
            return Err(super::members::missing_target(conn, &ids).await);
        }
        if lease.is_some() {
            claimed = leased_rows(items, &fresh, &created);
        }
    }

    // Duplicates report the event they repeat, with its deliveries.
    let mut earlier: HashMap<EventKey, (i64, usize)> = HashMap::new();
    let duplicates: Vec<Value> = items
        .iter()
        .zip(&fresh)
        .filter(|(_, id)| id.is_none())
        .map(|(it, _)| {
            let (job_id, status, at) = key_of(it.event);
            json!({"job_id": job_id, "status": status, "occurred_at_ms": at})
        })
        .collect();
    if !duplicates.is_empty() {
        let found: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(concat!(
            "SELECT e.id, e.job_id, e.status, e.occurred_at_ms, \
             (SELECT COUNT(*) FROM deliveries AS d WHERE d.event_id = e.id) FROM ",
            json_rows!("$1"; job_id text, status text, occurred_at_ms bigint),
            " AS k JOIN events AS e ON e.job_id = k.job_id AND e.status = k.status \
             AND e.occurred_at_ms = k.occurred_at_ms"
        ))
        .bind(to_json(&duplicates)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(db(WHAT))?;
        for (id, job, status, at, deliveries) in found {
            earlier.insert(
                (job, status, at),
                (id, usize::try_from(deliveries).unwrap_or(0)),
            );
        }
    }
    let inserted = items
        .iter()
        .zip(fresh)
        .map(|(it, id)| match id {
            Some(event_id) => Ok(InsertedEvent {
                event_id,
                deliveries: it.targets.len(),
                duplicate: false,
            }),
            None => {
                let (event_id, deliveries) = earlier
                    .get(&key_of(it.event))
                    .copied()
                    .ok_or_else(|| StoreError::Database(format!("{WHAT}: a duplicate vanished")))?;
                Ok(InsertedEvent {
                    event_id,
                    deliveries,
                    duplicate: true,
                })
            }
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok((inserted, claimed))
}

/// The deliveries the insert claimed (`claimed_by` set: `pending` ones under the lease), with
/// their events, oldest first, as `claim_due` returns them (`next_attempt_at` the time they
/// were due, not the lease's end). Built from what was inserted: no read back.
fn leased_rows(
    items: &[EventItem<'_>],
    fresh: &[Option<i64>],
    created: &[CreatedDelivery],
) -> Vec<ClaimedDelivery> {
    // Each event with the copy its claimed deliveries share, made for the first of them.
    let mut item_of: HashMap<i64, (&EventItem<'_>, Option<Arc<JobEvent>>)> = items
        .iter()
        .zip(fresh)
        .filter_map(|(it, id)| id.map(|id| (id, (it, None))))
        .collect();
    let mut claimed: Vec<ClaimedDelivery> = created
        .iter()
        .filter(|(.., claimed)| *claimed)
        .filter_map(|&(id, event_id, instance_id, group_id, _)| {
            let (it, shared) = item_of.get_mut(&event_id)?;
            let event = Arc::clone(shared.get_or_insert_with(|| Arc::new(it.event.clone())));
            Some(ClaimedDelivery {
                delivery: Delivery {
                    id,
                    event_id: Some(event_id),
                    instance_id,
                    group_id,
                    state: DeliveryState::Pending,
                    attempts: 0,
                    next_attempt_at: it.times.now,
                    deadline_at: it.times.deadline_at,
                    last_error: None,
                    digest_id: None,
                    silence_id: None,
                    payload: None,
                    created_at: it.times.now,
                    sent_at: None,
                },
                event: Some(event),
            })
        })
        .collect();
    claimed.sort_unstable_by_key(|c| c.delivery.id);
    claimed
}

/// Saves a watcher's state for its cluster (see
/// [`OutboxStore::save_watch_report`](crate::OutboxStore::save_watch_report)).
pub(super) async fn save_watcher_state(
    conn: &mut Conn,
    checkpoint: &WatcherCheckpoint<'_>,
) -> StoreResult<()> {
    let cluster_id = checkpoint.cluster_id;
    sqlx::query(
        "INSERT INTO watcher_state (cluster_id, url, state, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (cluster_id) DO UPDATE SET url = excluded.url, state = excluded.state, \
         updated_at = excluded.updated_at",
    )
    .bind(cluster_id)
    .bind(checkpoint.url)
    .bind(to_json(checkpoint.state)?)
    .bind(checkpoint.saved_at)
    .execute(&mut *conn)
    .await
    .map_err(bad_reference_or(
        "cluster_id",
        || format!("cluster {cluster_id} does not exist"),
        "storing a watcher poll",
    ))?;
    Ok(())
}
