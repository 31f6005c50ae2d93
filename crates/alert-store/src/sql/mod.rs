//! The SQL implementation of the storage traits, written once and compiled once per engine.
//!
//! [`crate::sqlite`] and [`crate::postgres`] each declare this module (`#[path = "sql/mod.rs"]
//! mod sql;`) after defining what differs between the engines; this code then reaches them as
//! its ancestor module (`super::` here, `super::super::` in the submodules):
//!
//! - `Db`, `DbRow`, `Conn`: the sqlx database, row and connection types;
//! - `EngineStore`: the store type, with `reader()`, `writer()`, `read_tx()`, `write_tx()`
//!   and `claim()` (claims are one statement with `FOR UPDATE SKIP LOCKED` on PostgreSQL, a
//!   select and an update under the single writer on SQLite);
//! - `lock_event_keys`, `reserve_ids`, `sequence`, `set_sequence`: the few
//!   operations whose SQL has no common form (advisory locks, row locks, id sequences);
//! - the SQL fragments as macros, expanded at compile time: `id_list!` and `json_rows!` (the
//!   rows of a JSON array bound as one parameter: `json_each` on SQLite,
//!   `json_array_elements` on PostgreSQL), `json_id_array!`, `for_update!`, `lock_rows!`, `greatest!` and `indexed_by!` (SQLite's
//!   `INDEXED BY`, nothing on PostgreSQL).
//!
//! Every statement here means the same on both engines: `$N` placeholders (sqlx's SQLite
//! driver reads them too), `RETURNING`, `ON CONFLICT`, `UPDATE ... FROM`, booleans bound as
//! `bool`, times and counts as `i64`, JSON documents as text.

use std::collections::HashMap;
use std::sync::Arc;

use alert_core::JobEvent;
use serde_json::Value;
use sqlx::Row;

use super::DbRow;
use crate::model::{
    AmMatch, Binding, BindingInput, Cluster, ClusterInput, Delivery, Group, GroupInput, Instance,
    InstanceInput, StoredEvent,
};
use crate::shared::{corrupt, from_json, parse_state};
use crate::{StoreError, StoreResult};

/// The columns of a delivery `d`, named as [`delivery_from_row`] reads them.
macro_rules! delivery_cols {
    () => {
        "d.id AS id, d.event_id AS event_id, d.instance_id AS instance_id, \
         d.group_id AS group_id, d.state AS state, d.attempts AS attempts, \
         d.next_attempt_at AS next_attempt_at, d.deadline_at AS deadline_at, \
         d.last_error AS last_error, d.digest_id AS digest_id, d.payload AS payload, \
         d.created_at AS created_at, d.sent_at AS sent_at, d.silence_id AS silence_id"
    };
}

/// The columns of an event `e`, named as [`event_from_row`] reads them.
macro_rules! event_cols {
    () => {
        "e.id AS e_id, e.job_id AS e_job_id, e.job_name AS e_job_name, e.cluster AS e_cluster, \
         e.status AS e_status, e.previous_status AS e_previous_status, \
         e.occurred_at AS e_occurred_at, e.duration_ms AS e_duration_ms, e.error AS e_error, \
         e.url AS e_url, e.labels AS e_labels, e.received_at AS e_received_at"
    };
}
pub(super) use delivery_cols;

// After the macros: their textual scope covers the submodules.
mod alertmanager;
mod config;
mod coordination;
mod copy;
mod create;
mod history;
mod import;
mod intake;
mod members;
mod outbox;
mod provision;
mod silences;
mod stats;

/// The columns of an instance.
const INSTANCE_COLS: &str =
    "id, name, kind, enabled, params, rate_per_minute, created_at, updated_at, provisioned";

/// One column of a row.
fn col<'r, T>(row: &'r DbRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, super::Db> + sqlx::Type<super::Db>,
{
    row.try_get(name)
        .map_err(|e| StoreError::Database(format!("reading column {name}: {e}")))
}

/// A JSON text column holding `T`.
fn json_col<T: serde::de::DeserializeOwned>(row: &DbRow, name: &str) -> StoreResult<T> {
    from_json(name, &col::<String>(row, name)?)
}

/// A nullable JSON text column.
fn opt_json_col(row: &DbRow, name: &str) -> StoreResult<Option<Value>> {
    col::<Option<String>>(row, name)?
        .map(|t| from_json(name, &t))
        .transpose()
}

/// A nullable status column.
fn opt_status_col(row: &DbRow, name: &str) -> StoreResult<Option<alert_core::JobStatus>> {
    col::<Option<String>>(row, name)?
        .map(|t| t.parse().map_err(|e| corrupt(name, e)))
        .transpose()
}

/// An unsigned count column.
fn u32_col(row: &DbRow, name: &str) -> StoreResult<u32> {
    u32::try_from(col::<i64>(row, name)?).map_err(|e| corrupt(name, e))
}

fn instance_from_row(row: &DbRow) -> StoreResult<Instance> {
    let rate: Option<i64> = col(row, "rate_per_minute")?;
    Ok(Instance {
        id: col(row, "id")?,
        input: InstanceInput {
            name: col(row, "name")?,
            kind: col(row, "kind")?,
            enabled: col(row, "enabled")?,
            params: json_col(row, "params")?,
            rate_per_minute: rate
                .map(|r| u32::try_from(r).map_err(|e| corrupt("rate_per_minute", e)))
                .transpose()?,
        },
        created_at: col(row, "created_at")?,
        provisioned: col(row, "provisioned")?,
        updated_at: col(row, "updated_at")?,
    })
}

fn group_from_row(row: &DbRow, instance_ids: Vec<i64>) -> StoreResult<Group> {
    Ok(Group {
        id: col(row, "id")?,
        input: GroupInput {
            name: col(row, "name")?,
            enabled: col(row, "enabled")?,
            instance_ids,
            template: col::<Option<String>>(row, "template")?
                .map(|t| from_json("group template", &t))
                .transpose()?,
        },
        created_at: col(row, "created_at")?,
        provisioned: col(row, "provisioned")?,
        updated_at: col(row, "updated_at")?,
    })
}

fn binding_from_row(row: &DbRow) -> StoreResult<Binding> {
    // `labels` is NULL for a job binding, a JSON object for an Alertmanager one.
    let alertmanager = match col::<Option<String>>(row, "labels")? {
        None => None,
        Some(labels) => Some(AmMatch {
            labels: from_json("labels", &labels)?,
            receiver: col(row, "receiver")?,
            per_alert: col(row, "per_alert")?,
        }),
    };
    Ok(Binding {
        id: col(row, "id")?,
        input: BindingInput {
            job: col(row, "job")?,
            cluster: col(row, "cluster")?,
            group_id: col(row, "group_id")?,
            statuses: json_col(row, "statuses")?,
            conditions: json_col(row, "conditions")?,
            thresholds: opt_json_col(row, "thresholds")?,
            alertmanager,
        },
        created_at: col(row, "created_at")?,
        provisioned: col(row, "provisioned")?,
    })
}

fn cluster_from_row(row: &DbRow) -> StoreResult<Cluster> {
    let interval: i64 = col(row, "poll_interval_ms")?;
    Ok(Cluster {
        id: col(row, "id")?,
        input: ClusterInput {
            name: col(row, "name")?,
            url: col(row, "url")?,
            enabled: col(row, "enabled")?,
            poll_interval_ms: u64::try_from(interval).unwrap_or(0),
        },
        created_at: col(row, "created_at")?,
        provisioned: col(row, "provisioned")?,
        updated_at: col(row, "updated_at")?,
    })
}

/// A delivery selected with [`delivery_cols`].
fn delivery_from_row(row: &DbRow) -> StoreResult<Delivery> {
    Ok(Delivery {
        id: col(row, "id")?,
        event_id: col(row, "event_id")?,
        instance_id: col(row, "instance_id")?,
        group_id: col(row, "group_id")?,
        state: parse_state(&col::<String>(row, "state")?)?,
        attempts: u32_col(row, "attempts")?,
        next_attempt_at: col(row, "next_attempt_at")?,
        deadline_at: col(row, "deadline_at")?,
        last_error: opt_json_col(row, "last_error")?,
        digest_id: col(row, "digest_id")?,
        silence_id: col(row, "silence_id")?,
        payload: opt_json_col(row, "payload")?,
        created_at: col(row, "created_at")?,
        sent_at: col(row, "sent_at")?,
    })
}

/// An event selected with [`event_cols`] (`None` when the LEFT JOIN found none).
fn event_from_row(row: &DbRow) -> StoreResult<Option<StoredEvent>> {
    let Some(id) = col::<Option<i64>>(row, "e_id")? else {
        return Ok(None);
    };
    let occurred_at: String = col(row, "e_occurred_at")?;
    let duration: Option<i64> = col(row, "e_duration_ms")?;
    let mut event = JobEvent::new(
        col::<String>(row, "e_job_id")?,
        col::<String>(row, "e_job_name")?,
        col::<String>(row, "e_status")?
            .parse()
            .map_err(|e| corrupt("e_status", e))?,
        // RFC 3339 with its offset, parsed the way the event's own serde does.
        serde_json::from_value(Value::String(occurred_at))
            .map_err(|e| corrupt("occurred_at", e))?,
    )
    .with_cluster(col::<String>(row, "e_cluster")?);
    event.previous_status = opt_status_col(row, "e_previous_status")?;
    event.duration_ms = duration
        .map(|d| u64::try_from(d).map_err(|e| corrupt("duration_ms", e)))
        .transpose()?;
    event.error = col(row, "e_error")?;
    event.url = col(row, "e_url")?;
    event.labels = json_col(row, "e_labels")?;
    Ok(Some(StoredEvent {
        id,
        event,
        received_at: col(row, "e_received_at")?,
    }))
}

/// Claimed rows (each a delivery with [`delivery_cols`]) with their events, read in one more
/// query, once each however many of their deliveries came, and shared by them.
///
/// A join would copy every column of the event into each of its rows, and a claim of a
/// fan-out is hundreds of rows of one event.
pub(super) async fn claimed_with_events(
    conn: &mut super::Conn,
    rows: &[DbRow],
) -> StoreResult<Vec<crate::model::ClaimedDelivery>> {
    let deliveries = rows
        .iter()
        .map(delivery_from_row)
        .collect::<StoreResult<Vec<Delivery>>>()?;
    let mut ids: Vec<i64> = deliveries.iter().filter_map(|d| d.event_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut events: HashMap<i64, Arc<JobEvent>> = HashMap::with_capacity(ids.len());
    if !ids.is_empty() {
        let rows = sqlx::query(concat!(
            "SELECT ",
            event_cols!(),
            " FROM events AS e WHERE e.id IN (SELECT t.id FROM ",
            id_list!("$1"),
            " AS t)"
        ))
        .bind(crate::shared::to_json(&ids)?)
        .fetch_all(&mut *conn)
        .await
        .map_err(crate::shared::db("claiming deliveries"))?;
        for row in &rows {
            if let Some(stored) = event_from_row(row)? {
                events.insert(stored.id, Arc::new(stored.event));
            }
        }
    }
    Ok(deliveries
        .into_iter()
        .map(|delivery| crate::model::ClaimedDelivery {
            event: delivery.event_id.and_then(|id| events.get(&id).cloned()),
            delivery,
        })
        .collect())
}
